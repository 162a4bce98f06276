"""Which language a question is written in, and asking it in English for retrieval.

The embedder (all-MiniLM-L6-v2) and the lexical checks are English-only, while organisations write
in more than one language. A question asked in French, German or Spanish over English documents is
therefore searched with its English translation, and the JSON's `query` says which text was
searched. The translation is made by the catalog's translator when it is installed (Qwen2.5-Coder
1.5B: on the multilingual development set it found the right page in the top 4 for 31 of 32
questions where the default 0.5B chat model's translations found 27, docs/trust.md), else by the
chat model. An English question costs nothing: the detection is a count of common function words,
no model call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from desktop.engine.core.errors import Cancelled, ContextTooLong, EngineError
from desktop.engine.runtime.chat_format import Message
from desktop.engine.runtime.chat_model import Generation


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


# The most frequent function words of each language (short, unambiguous ones; shared words such
# as "a", "de" or "la" count for every language that has them).
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": _vocabulary(
        "the a an of to in is are do does did how what which who when where why can i my for "
        "with on at be it this that there from many much"
    ),
    "fr": _vocabulary(
        "le la les un une des du de et est sont que qui quel quelle quels quelles combien "
        "comment pour dans sur avec je mon ma mes faut-il dois-je puis-je au aux ne pas peut "
        "où quand"
    ),
    "de": _vocabulary(
        "der die das ein eine einen dem den und ist sind wie viele welche welchen welcher was "
        "wer wann wo ich mein meine für mit auf bei darf kann muss nutze verwende brauche "
        "unter ab höchstens"
    ),
    "es": _vocabulary(
        "el la los las un una unos unas de del y es son que qué cuál cuáles cuántos cuántas "
        "cuánto cómo para en con mi mis me puedo debo tengo hay uso dónde cada"
    ),
}
_WORDS = re.compile(r"[\wÀ-ÿ'-]+", re.UNICODE)
_ACCENTED = re.compile(r"[àâçéèêëîïôûùüÿœäöß¿¡ñáíóú]", re.IGNORECASE)
MIN_EVIDENCE = 2  # function words a non-English language must lead by


def detect_language(text: str) -> str:
    """ "en", "fr", "de" or "es": the language whose function words the text uses most (English
    unless another one leads clearly). Good enough to route a question; not a general detector."""
    words = [w.lower().strip("'-") for w in _WORDS.findall(text)]
    # Split elisions ("d'heures", "l'année") so the article counts.
    words += [w.split("'", 1)[0] for w in words if "'" in w]
    counts = {lang: sum(w in vocab for w in words) for lang, vocab in FUNCTION_WORDS.items()}
    if text.lstrip().startswith("¿"):
        counts["es"] += MIN_EVIDENCE
    best = max(counts, key=lambda lang: counts[lang])
    if best == "en":
        return "en"
    lead = counts[best] - counts["en"]
    if lead >= MIN_EVIDENCE or (lead >= 1 and _ACCENTED.search(text)):
        return best
    return "en"


# Said (window and `enclave ask`) when the translator failed and the chat model stood in.
TRANSLATOR_FALLBACK = (
    "Questions not in English are translated by the chat model meanwhile, which finds the right "
    "passages less often."
)
TRANSLATE_PROMPT = (
    "Translate the user's question into English. Keep names, codes, numbers and product names as "
    "they are. Reply with the English question only."
)

Translate = Callable[[str], str]
# Which of these words occur in the documents the user may read (`KnowledgeAccess.terms_found`).
TermsFound = Callable[[Collection[str]], Collection[str]]
_FUNCTION = frozenset().union(*FUNCTION_WORDS.values())
_PARTS = re.compile(r"[\wÀ-ÿ]+", re.UNICODE)  # words; hyphens and elisions ("l'AdTrav") split


def english_query(
    text: str, translate: Translate | None, terms_found: TermsFound | None = None
) -> str:
    """`text` itself when English (or when no translator is available), else its translation; a
    translation that comes back empty or absurdly long is not trusted and the original is used.
    With `terms_found`, the question's names and codes ("AdTrav", "Tock", "SSO", "GSA 87": a
    capital letter or a digit) that the documents use and the translation lost are added to it:
    the prompt asks the model to keep them, and a small model does not always."""
    if translate is None or detect_language(text) == "en":
        return text
    translated = " ".join(translate(text).split())
    if not translated or len(translated) > 3 * len(text) + 40:
        return text
    if terms_found is None:
        return translated
    return " ".join([translated, *lost_terms(text, translated, terms_found)])


def lost_terms(original: str, translated: str, terms_found: TermsFound) -> list[str]:
    """Names and codes of `original` (in its order, once each) that the documents use and
    `translated` lacks; function words of any language and one-letter words are never added."""
    present = {_fold(w) for w in _PARTS.findall(translated)}
    words = _PARTS.findall(original)  # "Tock-Zeile": "Tock", "Zeile"
    candidates = [
        w
        for i, w in enumerate(words)
        if len(w) > 1 and w.lower() not in _FUNCTION and _is_name_or_code(w, first=i == 0)
    ]
    missing = [w for w in dict.fromkeys(candidates) if _fold(w) not in present]
    found = set(terms_found(missing)) if missing else set()
    return [w for w in missing if w in found]


def _is_name_or_code(word: str, *, first: bool) -> bool:
    """A name, acronym or code as the prompt asks to keep them: a capital letter past the start
    of the question, or a digit. Lower-case words are left to the translation: "reporter" (French
    for "carry over") and "plus" are English words too, and adding them misled the search on the
    calibration split."""
    if any(c.isdigit() for c in word):
        return True
    return any(c.isupper() for c in (word[1:] if first else word))


def _fold(word: str) -> str:
    """Lower case without accents: "Détail" and "detail" are one word."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class StreamsChat(Protocol):
    """What translating needs of a model: `ChatModel.stream_chat`."""

    def stream_chat(
        self, messages: Sequence[Message], *, max_tokens: int = ..., temperature: float = ...
    ) -> Generation: ...


def model_translator(model: StreamsChat, max_tokens: int = 64) -> Translate:
    """A `Translate` that asks the chat model (greedy, short: about a second with the default
    model on two cores, and only for questions not written in English)."""

    def translate(text: str) -> str:
        messages = [
            {"role": "system", "content": TRANSLATE_PROMPT},
            {"role": "user", "content": text},
        ]
        generation = model.stream_chat(messages, max_tokens=max_tokens, temperature=0.0)
        try:
            return "".join(token.text for token in generation).strip()
        finally:
            generation.close()

    return translate


def with_fallback(
    first: Translate, fallback: Translate, failed: Callable[[EngineError], None]
) -> Translate:
    """`first`, or `fallback` when `first` fails in any way (the translator's file missing or
    corrupt, llama.cpp failing, its context too short): the translator is optional, so the question
    is still translated; `failed` hears why (a question too long for the translator's context is
    not a fault of the translator and is not reported)."""

    def translate(text: str) -> str:
        try:
            return first(text)
        except Cancelled:
            raise  # the user stopped the answer: nothing more runs
        except ContextTooLong:
            return fallback(text)
        except Exception as exc:
            problem = (
                exc
                if isinstance(exc, EngineError)
                else EngineError(f"The translator failed: {exc}")
            )
            failed(problem.with_traceback(None))
            return fallback(text)

    return translate
