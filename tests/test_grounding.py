"""Grounding with the real embedding model: follow-up queries, abstention, sentence checks, quotes.

Passages are short handbook-like texts; the embedder is the real all-MiniLM-L6-v2 GGUF.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.fake_chat_model import FAKE_ENTRY, FakeChatModel

from desktop.engine.access import CitationRef, Passage
from desktop.engine.answer.calibration import thresholds_for
from desktop.engine.answer.events import Abstained, AnswerToken, Done, Evidence, SentenceChecked
from desktop.engine.answer.evidence import (
    EvidenceScorer,
    content_words,
    facts,
    split_sentences,
    strip_citations,
)
from desktop.engine.answer.grounding import (
    ABSTAIN_MESSAGE,
    DECLINED,
    DECLINED_INTRO,
    QUOTED_INTRO,
    RESTATED,
    AbstainOnWeakEvidence,
    FollowUpQuery,
    SupportedSentences,
    is_decline,
    restates_question,
)
from desktop.engine.answer.records import AnswerForm, DecisionKind, Question
from desktop.engine.answer.stages import Retrieval
from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.embedder import Embedder

LEAVE = Passage(
    CitationRef(1, "handbook", 1, "staff", 1),
    "Leave",
    "Full-time employees earn 13 days of annual leave each year during their first three years "
    "of service. After three years they earn 20 days a year. Leave requests go to your supervisor.",
    heading="Annual leave",
)
SICK = Passage(
    CitationRef(2, "handbook", 1, "everyone", 2),
    "Sick leave",
    "Sick leave accrues at four hours per pay period, or 13 days a year. "
    "Contact hr@example.gov with questions.",
    heading="Sick leave",
)


class LeaveKnowledge:
    """Retrieval that always finds the leave and sick-leave passages."""

    def search(self, query: str, k: int = 5) -> list[Passage]:
        return [LEAVE, SICK][:k]


TRAVEL = Passage(
    CitationRef(3, "handbook", 1, "everyone", 3),
    "Travel",
    "Book all official travel through the travel system at least 14 days before departure.",
    heading="Booking travel",
)


@pytest.fixture(scope="module")
def embedder(embedding_entry: ModelEntry) -> Iterator[Embedder]:
    instance = Embedder(embedding_entry)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def scorer(embedder: Embedder) -> EvidenceScorer:
    return EvidenceScorer(embedder, thresholds_for("all-minilm-l6-v2"))


def test_sentences_split_keeping_their_citations() -> None:
    text = "Staff earn 13 days [1]. E.g. part-time staff earn less [2].\n\n- Ask HR first."
    assert split_sentences(text) == [
        "Staff earn 13 days [1].",
        "E.g. part-time staff earn less [2].",
        "- Ask HR first.",
    ]
    assert strip_citations("Staff earn 13 days [1][2].") == "Staff earn 13 days."


def test_facts_are_numbers_codes_emails_and_names() -> None:
    found = facts("Write to hr@example.gov with form SF-182 by 1,500 dollars; Alice Brown agrees.")
    assert {"hr@example.gov", "sf-182", "1500", "alice brown"} <= found
    assert facts("Leave is approved by supervisors.") == set()


def test_an_invented_number_is_unsupported_and_named(scorer: EvidenceScorer) -> None:
    support = scorer.support("New employees earn 365 days of annual leave [1].", [LEAVE, SICK])
    assert not support.supported and support.missing_facts == ("365",)
    assert "365" in support.reason


def test_a_faithful_sentence_is_supported_by_its_passage(scorer: EvidenceScorer) -> None:
    support = scorer.support("New employees get 13 days of annual leave a year.", [TRAVEL, LEAVE])
    assert support.supported and support.n == 1
    assert "13 days of annual leave" in support.quote


# The handbook's own paragraphs (travel-and-leave/leave.md, advanced-sick-leave.md, as parsed):
# the worked example is the only place either passage gives its figures.
ADVANCED = Passage(
    CitationRef(4, "handbook", 1, "staff", 4),
    "Leave",
    "For example: It is June 19th, 2022, and the 2022 Leave Year ends on December 31st. You earn "
    "4 annual leave hours per pay period and there are 14 pay periods left until December 31st. "
    "You will earn 56 more annual leave hours (14 pay periods x 4 hours per pay period). "
    "Therefore, you can request up to 56 advanced annual leave hours.",
    heading="Advanced annual leave",
)
ADVANCED_SICK = Passage(
    CitationRef(5, "handbook", 1, "staff", 5),
    "Advanced sick leave",
    "For example: You have one year left on your term, which equals to 26 pay periods. You earn 4 "
    "sick leave hours per pay period. You will earn 104 more sick leave hours (26 pay periods x 4 "
    "hours per pay period). Therefore, you can request up to 104 advanced sick leave hours.",
    heading="Advanced sick leave",
)


def test_a_figure_only_a_worked_example_derives_does_not_back_a_rule(
    scorer: EvidenceScorer,
) -> None:
    # What the default model answered to the demo question (docs/trust.md).
    rule = "New employees earn 56 more annual leave hours by the end of the leave year [4]."
    support = scorer.support(rule, [ADVANCED, LEAVE])
    assert not support.supported and support.example_facts == ("56",)
    assert support.reason == "only a worked example in [4] gives 56"
    conditional = "If you are a new employee, you earn 56 more annual leave hours [4]."
    assert not scorer.support(conditional, [ADVANCED]).supported
    # A figure no passage states as a rule is named as the example's, not as invented.
    named = scorer.support("Full-time employees earn 56 hours of annual leave.", [LEAVE, ADVANCED])
    assert named.example_facts == ("56",) and "worked example in [4]" in named.reason


def test_a_worked_example_still_backs_its_premise_and_its_retelling(
    scorer: EvidenceScorer,
) -> None:
    # The premise is the rule itself here, said nowhere else on the page.
    assert scorer.support(
        "You earn 4 sick leave hours per pay period [5].", [ADVANCED_SICK]
    ).supported
    assert scorer.support("You earn 4 annual leave hours per pay period [4].", [ADVANCED]).supported
    retold = "With 26 pay periods left on your term, you can request up to 104 advanced sick leave hours."
    assert scorer.support(retold, [ADVANCED_SICK]).supported
    framed = "For example, you can request up to 56 advanced annual leave hours [4]."
    assert scorer.support(framed, [ADVANCED]).supported


def test_a_quote_from_a_worked_example_says_so(scorer: EvidenceScorer) -> None:
    quotes = scorer.quotes(
        "How many advanced annual leave hours can I request?", [ADVANCED, LEAVE], 4
    )
    labels = {q.n: q.markdown().endswith(f"[{q.n}] (from a worked example)") for q in quotes}
    assert labels[4] and 1 in labels and not labels[1]
    assert all(q.example == (q.n == 4) for q in quotes)


def test_weak_evidence_abstains_before_generation(scorer: EvidenceScorer) -> None:
    decide = AbstainOnWeakEvidence(scorer)
    off_topic = decide.decide(
        Question("What is the salary of the chief executive?"),
        Retrieval("What is the salary of the chief executive?", (TRAVEL, SICK)),
    )
    on_topic = decide.decide(
        Question("How many days of annual leave do employees earn?"),
        Retrieval("How many days of annual leave do employees earn?", (LEAVE, SICK)),
    )
    assert off_topic.kind is DecisionKind.ABSTAIN and off_topic.message == ABSTAIN_MESSAGE
    assert on_topic.kind is DecisionKind.ANSWER
    assert on_topic.signal is not None and off_topic.signal is not None
    assert on_topic.signal > off_topic.signal


def test_follow_ups_are_searched_with_the_question_they_follow() -> None:
    query = FollowUpQuery(None)
    history = ({"role": "user", "content": "How much annual leave do I earn?"},)
    assert query.query_for(Question("And for supervisors?", history=history)) == (
        "How much annual leave do I earn? And for supervisors?"
    )
    stand_alone = "How do I book official travel for a conference?"
    assert query.query_for(Question(stand_alone, history=history)) == stand_alone
    assert query.query_for(Question("And for supervisors?")) == "And for supervisors?"


def check(scorer: EvidenceScorer, answer: str, passages: list[Passage]) -> tuple:
    run = SupportedSentences(scorer).start(Question("How much annual leave?"), passages)
    streamed = run.feed(answer)
    return run, streamed, run.finish(answer)


def test_citations_are_fixed_and_repeats_dropped(scorer: EvidenceScorer) -> None:
    answer = (
        "Employees earn 13 days of annual leave a year [7]. "
        "Employees earn 13 days of annual leave a year [7]. "
        "After three years they earn 20 days a year."
    )
    _run, _streamed, checked = check(scorer, answer, [LEAVE, SICK])
    assert checked.form is AnswerForm.GENERATED
    texts = [v.text for v in checked.verdicts]
    assert texts == [
        "Employees earn 13 days of annual leave a year [1].",
        "After three years they earn 20 days a year [1].",
    ]
    assert all(v.supported for v in checked.verdicts)
    assert "[7]" not in checked.text


def test_an_unsupported_answer_becomes_a_quoted_one(scorer: EvidenceScorer) -> None:
    answer = "The number of days of annual leave is 1. You will earn 365 days of sick leave."
    run, _streamed, checked = check(scorer, answer, [LEAVE, SICK])
    assert checked.form is AnswerForm.QUOTED
    assert checked.text.startswith(QUOTED_INTRO)
    assert "13 days of annual leave" in checked.text and "[1]" in checked.text
    assert "365" not in checked.text
    assert run.evidence and run.evidence[0].n == 1
    assert [v.supported for v in checked.rejected] == [False, False]
    assert checked.verdicts and all(v.supported for v in checked.verdicts)  # what is shown


def test_a_mostly_unsupported_answer_keeps_its_supported_sentence_above_quotes(
    scorer: EvidenceScorer,
) -> None:
    answer = (
        "Employees earn 13 days of annual leave a year. "
        "Supervisors earn 99 days of annual leave. Interns earn 45 days of annual leave."
    )
    _run, _streamed, checked = check(scorer, answer, [LEAVE, SICK])
    assert checked.form is AnswerForm.QUOTED
    assert checked.text.startswith("Employees earn 13 days of annual leave a year [1].")
    assert "99" not in checked.text and "45" not in checked.text
    assert [v.text[:9] for v in checked.rejected] == ["Superviso", "Interns e"]


def test_the_pipeline_shows_evidence_first_and_checks_every_sentence(
    embedder: Embedder,
) -> None:
    model = FakeChatModel("Employees earn 13 days a year [1]. Supervisors earn 99 days [1].")
    model.load(FAKE_ENTRY)
    assistant = Assistant(model, knowledge=LeaveKnowledge(), embedder=embedder)  # type: ignore[arg-type]
    events = list(assistant.ask(None, "How many days of annual leave do employees earn?"))
    kinds = [e.as_dict()["event"] for e in events]
    assert kinds[:2] == ["retrieved", "evidence"] and kinds[-1] == "done"
    assert kinds.index("evidence") < kinds.index("token")
    evidence = events[1]
    assert isinstance(evidence, Evidence) and "13 days" in evidence.quotes[0].text
    checked = [e.verdict for e in events if isinstance(e, SentenceChecked)]
    assert [v.supported for v in checked] == [True, False]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.as_dict()["verdicts"][1]["reason"] == "not in your documents: 99"


def test_an_off_topic_question_is_abstained_without_calling_the_model(
    embedder: Embedder,
) -> None:
    class Knowledge:
        def search(self, query: str, k: int = 5) -> list[Passage]:
            return [TRAVEL, SICK][:k]

    model = FakeChatModel()
    model.load(FAKE_ENTRY)
    assistant = Assistant(
        model,
        knowledge=Knowledge(),  # type: ignore[arg-type]
        embedder=embedder,
        options=AssistantOptions(),
    )
    events = list(assistant.ask(None, "Who won the football world cup in 1998?"))
    assert [e.as_dict()["event"] for e in events] == ["retrieved", "abstained", "done"]
    assert isinstance(events[1], Abstained) and events[1].closest == (TRAVEL, SICK)
    assert model.calls == []
    payload = events[-1].as_dict()
    assert payload["abstained"] is True and payload["form"] == "none"


def test_declines_are_told_from_claims() -> None:
    for decline in (
        "The documents do not say how many days supervisors earn.",
        "The provided sources don't mention a pet allowance.",
        "There is no information about comp time for GS-12 in the sources.",
        "I'm sorry, I cannot find that in the documents.",
        "Les documents ne le disent pas.",
    ):
        assert is_decline(decline), decline
    for claim in (
        "Employees earn 13 days of annual leave a year [1].",
        "Do not book travel less than 14 days before departure [3].",
        "The document says supervisors approve leave requests [1].",
    ):
        assert not is_decline(claim), claim


def test_an_answer_that_only_declines_is_quoted(embedder: Embedder) -> None:
    model = FakeChatModel("The documents do not say how much leave supervisors earn.")
    model.load(FAKE_ENTRY)
    assistant = Assistant(model, knowledge=LeaveKnowledge(), embedder=embedder)  # type: ignore[arg-type]
    events = list(assistant.ask(None, "How many days of annual leave do employees earn?"))
    shown = "".join(e.text for e in events if isinstance(e, AnswerToken))
    assert "do not say" not in shown  # the decline is not shown as an answer sentence
    done = events[-1]
    assert isinstance(done, Done) and done.answer.form is AnswerForm.QUOTED
    assert done.answer.text.startswith(DECLINED_INTRO)
    assert "13 days of annual leave" in done.answer.text  # the passage's own words
    assert [v.reason for v in done.answer.rejected] == [DECLINED]


def test_a_decline_with_nothing_to_quote_is_an_abstention(scorer: EvidenceScorer) -> None:
    run = SupportedSentences(scorer).start(Question("How much annual leave?"), [])
    assert run.feed("The documents do not say. ") == []
    checked = run.finish("The documents do not say.")
    assert checked.form is AnswerForm.NONE and checked.text == ABSTAIN_MESSAGE


def test_a_decline_before_a_supported_claim_is_shown_with_it(embedder: Embedder) -> None:
    model = FakeChatModel(
        "The documents do not say what supervisors earn. Employees earn 13 days a year [1]."
    )
    model.load(FAKE_ENTRY)
    assistant = Assistant(model, knowledge=LeaveKnowledge(), embedder=embedder)  # type: ignore[arg-type]
    done = list(assistant.ask(None, "How many days of annual leave do employees earn?"))[-1]
    assert isinstance(done, Done) and done.answer.decision.generates
    assert [v.supported for v in done.answer.verdicts] == [None, True]
    assert done.answer.text.startswith("The documents do not say")


def test_a_sentence_that_only_restates_the_question_is_not_a_claim() -> None:
    question = "Which email address should I contact when I plan to move permanently?"
    assert restates_question("The email address you should contact when you move is [1].", question)
    assert restates_question(
        "To report a phishing email, follow the steps outlined in the sources [1].",
        "How do I report a phishing email?",
    )
    for answer in (
        "Contact TTS-PeopleOps@gsa.gov when you plan to move [1].",  # the e-mail is the answer
        "Yes, you should contact the email address when you move [1].",  # yes/no answers repeat
        "The email address you should contact when you move is listed below:",  # a list follows
        "Report the phishing email with Cofense [1].",  # one new word is an answer
    ):
        assert not restates_question(
            answer, question if "move" in answer else "How do I report a phishing email?"
        ), answer


def test_a_figure_the_question_also_holds_is_still_an_answer() -> None:
    question = "How many weeks of unpaid leave does FMLA give me in a 12 month period?"
    assert not restates_question(
        "FMLA gives you 12 weeks of unpaid leave per 12 month period.", question
    )
    assert restates_question("FMLA gives unpaid leave in a 12 month period [3].", question)
    courses = "How many personal development courses does GSA's Online University offer?"
    assert not restates_question("2,000 personal development courses [1]", courses)


def test_closed_questions_are_answered_by_repeating_them() -> None:
    # A yes/no or either/or question: the repetition is the answer.
    assert not restates_question(
        "You can carry over unused vacation days [1].", "Can I carry over unused vacation days?"
    )
    assert not restates_question(
        "The deadline is in April [1].", "Is the deadline in March or April?"
    )
    assert not restates_question(
        "**Yes**, parking is free for employees.", "Where is parking free for employees?"
    )


def test_the_check_counts_the_question_once_when_it_was_searched_as_typed(
    scorer: EvidenceScorer,
) -> None:
    text = "How many weeks of FMLA leave can I take in a 12 month period?"
    question = Question(text, searched=text)  # an English question: searched as it is
    run = SupportedSentences(scorer).start(question, [LEAVE])
    answer = "You can take 12 weeks of FMLA leave in a 12 month period [1]."
    run.feed(answer)
    checked = run.finish(answer)
    assert [v.reason for v in checked.rejected if v.reason == RESTATED] == []


def test_a_restated_last_sentence_is_never_released(scorer: EvidenceScorer) -> None:
    question = Question("How many days of annual leave do employees earn?")
    run = SupportedSentences(scorer).start(question, [LEAVE, SICK])
    answer = (
        "They earn 13 days a year [1]. The number of days of annual leave employees earn is [1]."
    )
    run.feed(answer)
    checked = run.finish(answer)
    assert checked.late == () and checked.text == "They earn 13 days a year [1]."


def test_an_answer_that_only_restates_the_question_is_quoted(embedder: Embedder) -> None:
    model = FakeChatModel("The number of days of annual leave employees earn is [1].")
    model.load(FAKE_ENTRY)
    assistant = Assistant(model, knowledge=LeaveKnowledge(), embedder=embedder)  # type: ignore[arg-type]
    events = list(assistant.ask(None, "How many days of annual leave do employees earn?"))
    assert not [e for e in events if isinstance(e, AnswerToken) and "is [1]" in e.text]
    done = events[-1]
    assert isinstance(done, Done) and done.answer.form is AnswerForm.QUOTED
    assert done.answer.text.startswith(DECLINED_INTRO)
    assert "13 days of annual leave" in done.answer.text
    assert [v.reason for v in done.answer.rejected] == [RESTATED]


def test_a_restatement_beside_a_claim_is_dropped(scorer: EvidenceScorer) -> None:
    question = Question("How many days of annual leave do employees earn?")
    run = SupportedSentences(scorer).start(question, [LEAVE, SICK])
    answer = (
        "The number of days of annual leave employees earn is [1]. They earn 13 days a year [1]."
    )
    assert run.feed(answer) == []  # the restatement is judged and never released
    checked = run.finish(answer)
    assert [v.text for v in checked.verdicts] == ["They earn 13 days a year [1]."]
    assert checked.form is AnswerForm.GENERATED
    assert checked.text == "They earn 13 days a year [1]."


def test_evidence_quotes_are_chosen_by_what_retrieval_searched(scorer: EvidenceScorer) -> None:
    # A French question is searched in English; the English embedder picks quotes by that text.
    question = Question(
        "Combien de jours de congé annuel gagne-t-on ?",
        searched="How many days of annual leave do employees earn?",
    )
    assert question.search_text == question.searched
    run = SupportedSentences(scorer).start(question, [SICK, LEAVE])
    assert "13 days of annual leave" in run.evidence[0].text


def follow_up(asked: str, answered: str, text: str) -> Question:
    """`text` asked after one question and its answer."""
    turns = ({"role": "user", "content": asked}, {"role": "assistant", "content": answered})
    return Question(text, history=turns)


def test_a_follow_up_answered_with_the_previous_answer_is_not_a_claim(
    scorer: EvidenceScorer,
) -> None:
    question = follow_up(
        "How many days of annual leave do employees earn?",
        "Full-time employees earn 13 days of annual leave each year [1].",
        "And after three years?",
    )
    run = SupportedSentences(scorer).start(question, [LEAVE, SICK])
    repeated = "Employees earn 13 days of annual leave each year after three years [1]."
    run.feed(repeated)
    checked = run.finish(repeated)
    assert checked.form is AnswerForm.QUOTED  # the passages' own sentences instead
    assert [v.reason for v in checked.rejected] == [RESTATED]
    # Asked back about what the last answer said, repeating its figure is an answer.
    back = follow_up(
        "What leave do employees earn?",
        "Employees earn 20 days of annual leave and 13 days of sick leave a year [1].",
        "And how much sick leave?",
    )
    run = SupportedSentences(scorer).start(back, [LEAVE, SICK])
    run.feed("Sick leave accrues at 13 days a year [2].")
    checked = run.finish("")
    assert checked.form is AnswerForm.GENERATED and checked.verdicts[0].supported
    # The new figure is an answer, checked as usual.
    run = SupportedSentences(scorer).start(question, [LEAVE, SICK])
    run.feed("After three years they earn 20 days a year [1].")
    checked = run.finish("After three years they earn 20 days a year [1].")
    assert checked.form is AnswerForm.GENERATED and checked.verdicts[0].supported


def test_rare_words_weigh_more_in_term_coverage(scorer: EvidenceScorer) -> None:
    question = "How many days of annual leave do contractors earn?"
    wanted = content_words(question)
    rare = {w: (5.0 if w.startswith("contract") else 0.5) for w in wanted}
    coverage = scorer.coverage(question, [LEAVE], lambda words: {w: rare[w] for w in words})
    uniform = scorer.coverage(question, [LEAVE])
    # LEAVE has every word but "contractors": by count that is a small miss, by rarity a big one.
    assert uniform.rare_terms == uniform.passage_terms
    assert coverage.rare_terms < uniform.passage_terms
