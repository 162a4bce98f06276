"""Questions not written in English are searched with their English translation."""

from __future__ import annotations

from helpers.fake_chat_model import FakeChatModel

from desktop.engine.answer.grounding import FollowUpQuery
from desktop.engine.answer.language import (
    TRANSLATE_PROMPT,
    detect_language,
    english_query,
    lost_terms,
    model_translator,
)
from desktop.engine.answer.records import Question


def test_languages_are_told_apart_by_their_function_words() -> None:
    assert detect_language("How do I kill a Python process on my laptop?") == "en"
    assert detect_language("What does TTS stand for?") == "en"
    assert detect_language("Combien de jours de télétravail sont autorisés par semaine ?") == "fr"
    assert detect_language("Wie viele Tage Urlaub habe ich im ersten Jahr?") == "de"
    assert detect_language("¿Dónde reservo una sala de reuniones?") == "es"
    # A proper name from another language does not make an English question foreign.
    assert detect_language("Where is the Café de la Paix meeting room?") == "en"


def test_an_english_question_is_searched_as_it_is_and_calls_no_model() -> None:
    calls: list[str] = []

    def translate(text: str) -> str:
        calls.append(text)
        return "x"

    query = english_query("How much annual leave do I earn?", translate)
    assert query == "How much annual leave do I earn?" and calls == []


def test_a_foreign_question_is_searched_in_english() -> None:
    model = FakeChatModel("How many hours of annual leave can I carry over?")
    retrieve = FollowUpQuery(None, translate=model_translator(model))
    question = "Combien d'heures de congé annuel puis-je reporter ?"
    assert retrieve.query_for(Question(question)) == (
        "How many hours of annual leave can I carry over?"
    )
    [call] = model.calls
    assert call.messages[0]["content"] == TRANSLATE_PROMPT
    assert call.messages[1]["content"] == question


def test_an_empty_or_runaway_translation_is_not_trusted() -> None:
    question = "Wie viele Tage Urlaub habe ich?"
    assert english_query(question, lambda _t: "  ") == question
    assert english_query(question, lambda _t: "word " * 200) == question


def test_names_and_codes_the_translation_lost_are_searched_too() -> None:
    documents = {"AdTrav", "Tock", "GSA", "87", "travel", "report"}

    def found(words: object) -> set[str]:
        return {w for w in words if w in documents}  # type: ignore[attr-defined]

    assert lost_terms("Quel est le numéro d'AdTrav ?", "What is the number?", found) == ["AdTrav"]
    question = "¿Cuál es el teléfono de AdTrav para hacer reservas de viaje?"
    lost = "What is the phone number for making travel reservations?"
    assert english_query(question, lambda _t: lost, found) == f"{lost} AdTrav"
    # A hyphenated compound is split ("Tock-Zeile"); a name the translation kept is not repeated.
    assert lost_terms("Welche Tock-Zeile nutze ich?", "Which Tock line do I use?", found) == []
    assert lost_terms("Welche Tock-Zeile nutze ich?", "Which ticket zone do I use?", found) == [
        "Tock"
    ]
    # Codes with digits count; lower-case words are left to the translation, even where the
    # documents use them ("reporter" is French for "carry over"); words the documents lack are
    # never added.
    assert lost_terms(
        "Où envoyer le formulaire GSA 87 pour reporter un Voyage ?",
        "Where do I send the form?",
        found,
    ) == ["GSA", "87"]
