"""The answer pipeline's decisions, stage by stage, with the fake chat model (milliseconds each).

The same pipeline on the real model and real packs: tests/packs/test_window_and_ask_events.py and
tests/packs/test_scoped_answers.py.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import pytest
from helpers.fake_chat_model import FAKE_ENTRY, FakeChatModel

from desktop.engine.access import CitationRef, Passage
from desktop.engine.answer.events import (
    Abstained,
    AnswerEvent,
    AnswerToken,
    Done,
    Retrieved,
    SentenceChecked,
)
from desktop.engine.answer.evidence import Quote
from desktop.engine.answer.pipeline import AnswerPipeline, Stages
from desktop.engine.answer.prompt import PromptPlan
from desktop.engine.answer.records import (
    Answer,
    AnswerForm,
    CheckedAnswer,
    Decision,
    ModelRef,
    Question,
    ScreenVerdict,
    SentenceVerdict,
)
from desktop.engine.answer.stages import (
    CleanInput,
    GroundedPrompt,
    HistoryRecorder,
    Retrieval,
    SearchPermittedPassages,
    SentenceCheck,
    StreamFromModel,
)
from desktop.engine.core.errors import InvalidInput
from desktop.engine.runtime.chat_format import Message
from desktop.engine.storage.conversations import ConversationStore

LEAVE = Passage(
    ref=CitationRef(1, "handbook", 3, "staff", 41),
    title="Leave",
    heading="Annual leave",
    text="New employees earn 13 days of annual leave a year.",
    as_of="2026-11-01",
)
SICK = Passage(
    ref=CitationRef(2, "handbook", 3, "everyone", 42),
    title="Sick leave",
    heading="Sick leave",
    text="Sick leave accrues at four hours per pay period.",
    as_of="2026-11-01",
)


class FixedPassages:
    def __init__(self, *passages: Passage) -> None:
        self.passages = list(passages)
        self.queries: list[str] = []

    def search(self, query: str, k: int = 5) -> list[Passage]:
        self.queries.append(query)
        return self.passages[:k]


class RecordingAudit:
    def __init__(self) -> None:
        self.answers: list[Answer] = []

    def record(self, answer: Answer) -> None:
        self.answers.append(answer)


@pytest.fixture
def model() -> FakeChatModel:
    fake = FakeChatModel()
    fake.load(FAKE_ENTRY)
    return fake


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    history = ConversationStore(tmp_path / "history.db", os.urandom(32))
    yield history
    history.close()


def pipeline_for(
    model: FakeChatModel,
    store: ConversationStore | None = None,
    knowledge: FixedPassages | None = None,
    audit: RecordingAudit | None = None,
    **stages: object,
) -> AnswerPipeline:
    built = Stages(
        retrieve=SearchPermittedPassages(knowledge or FixedPassages(LEAVE, SICK), k=4),
        plan=GroundedPrompt(model, max_answer_tokens=64),
        generate=StreamFromModel(model),
        record=HistoryRecorder(store, audit),
    )
    for name, stage in stages.items():
        setattr(built, name, stage)
    return AnswerPipeline(built, lambda: ModelRef(FAKE_ENTRY.id, FAKE_ENTRY.sha256))


def kinds(events: Sequence[AnswerEvent]) -> list[str]:
    return [str(e.as_dict()["event"]) for e in events]


def test_events_come_in_order_and_the_answer_is_recorded(
    model: FakeChatModel, store: ConversationStore
) -> None:
    model.queue("New employees earn 13 days [1].")
    audit = RecordingAudit()
    conversation = store.create_conversation("leave").id
    events = list(
        pipeline_for(model, store, audit=audit).run(conversation, "  How much annual leave?  ")
    )
    assert kinds(events) == ["retrieved"] + ["token"] * 6 + ["done"]
    retrieved, done = events[0], events[-1]
    assert isinstance(retrieved, Retrieved) and retrieved.passages == (LEAVE, SICK)
    assert isinstance(done, Done)
    answer = done.answer
    assert answer.text == "New employees earn 13 days [1]."
    assert answer.question.text == "How much annual leave?"  # cleaned before anything else
    assert answer.passages == (LEAVE, SICK) and answer.finish_reason == "stop"
    system = model.calls[0].messages[0]["content"]
    assert "[1] Leave — Annual leave\nNew employees earn 13 days" in system
    assert "[2] Sick leave" in system and model.calls[0].messages[-1]["role"] == "user"
    stored = store.messages(conversation)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].id == answer.message_id and stored[0].id == answer.question_id
    assert stored[1].citations == [LEAVE.ref.as_dict(), SICK.ref.as_dict()]
    assert stored[1].pack_versions == {"handbook": 3} and stored[1].model_id == "fake-chat"
    assert audit.answers == [answer]


def test_the_question_is_durable_before_the_first_token(
    model: FakeChatModel, store: ConversationStore
) -> None:
    model.queue("Thirteen days.")
    conversation = store.create_conversation("leave").id
    stream = pipeline_for(model, store).run(conversation, "How much leave?")
    assert isinstance(next(stream), Retrieved)
    assert [m.role for m in store.messages(conversation)] == ["user"]
    list(stream)


def test_follow_up_sends_history_in_order(model: FakeChatModel, store: ConversationStore) -> None:
    model.queue("Thirteen days [1].", "Supervisors approve it [1].")
    conversation = store.create_conversation("leave").id
    pipeline = pipeline_for(model, store)
    list(pipeline.run(conversation, "How much leave?"))
    list(pipeline.run(conversation, "Who approves it?"))
    roles = [(m["role"], m["content"]) for m in model.calls[1].messages[1:]]
    assert roles == [
        ("user", "How much leave?"),
        ("assistant", "Thirteen days [1]."),
        ("user", "Who approves it?"),
    ]


def test_a_stopped_answer_is_kept_as_cancelled(
    model: FakeChatModel, store: ConversationStore
) -> None:
    model.queue("one two three four five six")
    conversation = store.create_conversation("stop").id
    stream = pipeline_for(model, store).run(conversation, "Count")
    seen = [next(stream), next(stream), next(stream)]
    assert kinds(seen) == ["retrieved", "token", "token"]
    assert isinstance(stream, Generator)
    stream.close()  # the reader stops: the window's Stop, or Ctrl+C in the terminal
    [_, answer] = store.messages(conversation)
    assert answer.text == "one two" and answer.metrics["finish_reason"] == "cancelled"


def test_cancel_ends_the_stream_with_a_cancelled_done(model: FakeChatModel) -> None:
    model.queue("one two three four")
    pipeline = pipeline_for(model)
    events: list[AnswerEvent] = []
    for event in pipeline.run(None, "Count"):
        events.append(event)
        if isinstance(event, AnswerToken):
            pipeline.cancel()
    done = events[-1]
    assert isinstance(done, Done) and done.answer.finish_reason == "cancelled"
    assert done.answer.text == "one"


class Abstain:
    def decide(self, question: Question, retrieval: Retrieval) -> Decision:
        return Decision.abstain("nothing relevant", "Your documents don't say.")


def test_abstention_skips_generation_and_offers_the_closest_passages(
    model: FakeChatModel, store: ConversationStore
) -> None:
    conversation = store.create_conversation("x").id
    events = list(pipeline_for(model, store, decide=Abstain()).run(conversation, "Moon?"))
    assert kinds(events) == ["retrieved", "abstained", "done"]
    abstained, done = events[1], events[2]
    assert isinstance(abstained, Abstained) and abstained.closest == (LEAVE, SICK)
    assert isinstance(done, Done) and done.answer.text == "Your documents don't say."
    assert model.calls == []  # nothing was generated
    assert store.messages(conversation)[1].metrics["decision"] == "abstain"


class Refuse:
    def screen(self, question: Question) -> ScreenVerdict:
        return ScreenVerdict(False, "hazard:weapons", "asks for weapon instructions")


def test_a_refused_question_is_not_retrieved_or_generated(model: FakeChatModel) -> None:
    knowledge = FixedPassages(LEAVE)
    events = list(pipeline_for(model, knowledge=knowledge, screen=Refuse()).run(None, "Bomb?"))
    assert kinds(events) == ["abstained", "done"]
    done = events[-1]
    assert isinstance(done, Done) and done.answer.decision.kind.value == "refuse"
    assert "hazard:weapons" in done.answer.decision.reason
    assert knowledge.queries == [] and model.calls == []


class HideDigits:
    """An output filter run that redacts digits (the shape a PII filter will have)."""

    def feed(self, text: str) -> str:
        return "".join("#" if c.isdigit() else c for c in text)

    def finish(self) -> str:
        return " (redacted)"


class DigitFilter:
    def start(self) -> HideDigits:
        return HideDigits()


def test_the_output_filter_decides_what_is_shown_and_stored(
    model: FakeChatModel, store: ConversationStore
) -> None:
    model.queue("Call 555 0100.")
    conversation = store.create_conversation("x").id
    events = list(pipeline_for(model, store, output=DigitFilter()).run(conversation, "Phone?"))
    shown = "".join(e.text for e in events if isinstance(e, AnswerToken))
    assert shown == "Call ### ####. (redacted)"
    assert store.messages(conversation)[1].text == shown


class PeriodCheck:
    """Marks each sentence as it completes: supported when it cites [n]."""

    evidence: tuple[Quote, ...] = ()
    holds_text = False

    def __init__(self) -> None:
        self.buffer = ""
        self.count = 0

    def feed(self, text: str) -> list[SentenceVerdict]:
        self.buffer += text
        out = []
        while "." in self.buffer:
            sentence, self.buffer = self.buffer.split(".", 1)
            out.append(SentenceVerdict(self.count, sentence.strip() + ".", "[1]" in sentence))
            self.count += 1
        return out

    def finish(self, text: str) -> CheckedAnswer:
        return CheckedAnswer(text, AnswerForm.GENERATED)


class PeriodChecker:
    def start(self, question: Question, passages: Sequence[Passage]) -> SentenceCheck:
        return PeriodCheck()


def test_sentence_verdicts_stream_as_sentences_complete(model: FakeChatModel) -> None:
    model.queue(["Leave is 13 days [1].", " The moon is cheese."])
    events = list(pipeline_for(model, check=PeriodChecker()).run(None, "Leave?"))
    expected = ["retrieved", "token", "sentence_checked", "token", "sentence_checked", "done"]
    assert kinds(events) == expected
    streamed = [e.verdict.supported for e in events if isinstance(e, SentenceChecked)]
    assert streamed == [True, False]


def test_sources_that_do_not_fit_are_dropped_and_not_cited(model: FakeChatModel) -> None:
    long = Passage(CitationRef(3, "handbook", 3, "staff", 43), "Long", "word " * 3000)
    model.queue("Short.")
    small = FakeChatModel("Short.", n_ctx=1200)
    small.load(FAKE_ENTRY)
    events = list(pipeline_for(small, knowledge=FixedPassages(LEAVE, long)).run(None, "Q?"))
    done = events[-1]
    assert isinstance(done, Done) and done.answer.passages == (LEAVE,)
    assert "word word" not in small.calls[0].messages[0]["content"]


def test_bad_input_raises_before_any_event_and_stores_nothing(
    model: FakeChatModel, store: ConversationStore
) -> None:
    conversation = store.create_conversation("x").id
    with pytest.raises(InvalidInput):
        next(pipeline_for(model, store).run(conversation, " \x00 \n "))
    assert store.messages(conversation) == []


def test_stages_run_in_the_documented_order(model: FakeChatModel) -> None:
    calls: list[str] = []

    class Spy:
        def __init__(self, name: str, inner: object) -> None:
            self.name, self.inner = name, inner

        def __getattr__(self, attribute: str) -> object:
            target = getattr(self.inner, attribute)
            if not callable(target) or attribute == "cancel":
                return target

            def call(*args: object, **kwargs: object) -> object:
                if attribute not in ("history", "feed", "finish"):
                    calls.append(self.name)
                return target(*args, **kwargs)

            return call

    model.queue("Fine.")
    pipeline = pipeline_for(model)
    s = pipeline.stages
    for name in ("clean", "screen", "retrieve", "decide", "plan", "generate", "check", "output"):
        setattr(s, name, Spy(name, getattr(s, name)))
    s.record = Spy("record", s.record)  # type: ignore[assignment]
    list(pipeline.run(None, "Q?"))
    assert calls == [
        "clean",
        "screen",
        "record",  # the question, before anything is generated
        "retrieve",
        "decide",
        "plan",
        "generate",
        "check",
        "output",
        "record",  # the answer
    ]


def test_each_default_stage_works_alone(model: FakeChatModel) -> None:
    assert CleanInput().clean("  hi\r\n ") == "hi"
    plan = GroundedPrompt(model, 64).plan(Question("Q?"), [LEAVE])
    assert isinstance(plan, PromptPlan) and plan.kept([LEAVE]) == (LEAVE,)
    history: tuple[Message, ...] = HistoryRecorder(None).history(1)
    assert history == ()


def test_a_message_too_long_for_the_window_is_refused_before_any_stage() -> None:
    """Counted against the model's window before the screen or retrieval spend time on it."""
    from desktop.engine.assistant import Assistant, AssistantOptions
    from desktop.engine.core.errors import ContextTooLong

    model = FakeChatModel("never", n_ctx=512)
    model.load(FAKE_ENTRY)
    assistant = Assistant(model, options=AssistantOptions())
    searched: list[str] = []

    class Watching:
        packs: tuple[object, ...] = ()

        def search(self, query: str, k: int) -> list[Passage]:
            searched.append(query)
            return []

    assistant.knowledge = Watching()  # type: ignore[assignment]
    with pytest.raises(ContextTooLong, match="tokens"):
        assistant.ask(None, "word " * 600)
    assert searched == [] and model.calls == []
    assert list(assistant.ask(None, "How many days of leave?"))  # a short one still runs


class QuotingCheck(PeriodCheck):
    evidence = (Quote(1, "New employees earn 13 days of annual leave."),)


class QuotingChecker:
    def start(self, question: Question, passages: Sequence[Passage]) -> SentenceCheck:
        return QuotingCheck()


def test_the_quotes_shown_above_an_answer_are_kept_with_it(
    model: FakeChatModel, store: ConversationStore
) -> None:
    """What the user read is what history keeps: the quotes shown before the first token, also
    for an answer stopped before it began."""
    quote = "> “New employees earn 13 days of annual leave.” [1]"
    model.queue("Leave is 13 days [1].")
    conversation = store.create_conversation("quotes").id
    events = list(pipeline_for(model, store, check=QuotingChecker()).run(conversation, "Leave?"))
    done = events[-1]
    assert isinstance(done, Done) and done.answer.evidence == (quote,)
    assert store.messages(conversation)[1].metrics["evidence"] == [quote]

    model.queue("one two three")
    stream = pipeline_for(model, store, check=QuotingChecker()).run(conversation, "Again?")
    assert kinds([next(stream), next(stream)]) == ["retrieved", "evidence"]
    stream.close()  # stopped after the quotes, before any token
    stopped = store.messages(conversation)[-1]
    assert stopped.role == "assistant" and stopped.text == ""
    assert stopped.metrics["evidence"] == [quote]
    assert stopped.metrics["finish_reason"] == "cancelled"
    exported = store.export_markdown(conversation)
    assert exported.count("*From your documents:*") == 2 and quote in exported


def test_a_regenerate_samples_instead_of_repeating_the_greedy_answer(model: FakeChatModel) -> None:
    from desktop.engine.answer.stages import VARY_TEMPERATURE

    model.queue("Leave is 13 days [1].", "Leave is thirteen days [1].")
    pipeline = pipeline_for(model)
    list(pipeline.run(None, "Leave?"))
    list(pipeline.run(None, "Leave?", vary=True))
    assert [c.temperature for c in model.calls] == [0.0, VARY_TEMPERATURE]
