"""One question, stage by stage, as a stream of typed events.

    clean input -> input screen -> retrieve -> decide -> plan prompt -> generate -> check
    -> output filter -> record

The order is fixed here and nowhere else; each stage is an object from `answer.stages` that can be
replaced. The question is recorded (acknowledged) before anything is generated; the answer is
recorded when the stream ends, also when the caller stops early, so a stopped answer is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace

from desktop.engine.answer.events import (
    Abstained,
    AnswerEvent,
    AnswerToken,
    Done,
    Evidence,
    Retrieved,
    SentenceChecked,
)
from desktop.engine.answer.evidence import Quote
from desktop.engine.answer.records import (
    Answer,
    AnswerForm,
    CheckedAnswer,
    Decision,
    GuardVerdict,
    ModelRef,
    Question,
    SentenceVerdict,
)
from desktop.engine.answer.stages import (
    AllowAllInput,
    AlwaysAnswer,
    AnswerChecker,
    AnswerGenerator,
    CleanInput,
    Decider,
    FilterRun,
    InputCleaner,
    InputScreen,
    OutputFilter,
    PassThroughOutput,
    PromptPlanner,
    Recorder,
    Retriever,
    UncheckedAnswers,
)
from desktop.engine.runtime.chat_model import GenerationStats

REFUSED = "This request is not allowed by your organisation's policy."


@dataclass
class Stages:
    """The nine stages, in the order they run. Retrieve, plan, generate and record have no
    sensible default (they need the model, the knowledge and the store), the rest do."""

    retrieve: Retriever
    plan: PromptPlanner
    generate: AnswerGenerator
    record: Recorder
    clean: InputCleaner = field(default_factory=CleanInput)
    screen: InputScreen = field(default_factory=AllowAllInput)
    decide: Decider = field(default_factory=AlwaysAnswer)
    check: AnswerChecker = field(default_factory=UncheckedAnswers)
    output: OutputFilter = field(default_factory=PassThroughOutput)


class AnswerPipeline:
    def __init__(self, stages: Stages, model_ref: Callable[[], ModelRef | None]) -> None:
        self.stages = stages
        self._model_ref = model_ref

    def cancel(self) -> None:
        """Stop the generation in progress (the stream then ends with a cancelled `Done`)."""
        self.stages.generate.cancel()

    def run(
        self, conversation_id: int | None, text: str, *, vary: bool = False
    ) -> Generator[AnswerEvent, None, None]:
        """Answer `text` in `conversation_id` (None: not kept). `InvalidInput` before any event
        when the question cannot be sent; the question is durable once the first event arrives.
        `vary`: a regenerate, whose answer should not repeat the last one word for word."""
        s = self.stages
        cleaned = s.clean.clean(text)
        question = Question(cleaned, conversation_id, s.record.history(conversation_id))
        screened = s.screen.screen(question)
        question_id = s.record.record_question(question)
        if not screened.allowed:
            # The screen's own message leads: which rule, and what to do (never the question).
            decision = Decision.refuse(f"blocked by {screened.rule}", screened.reason or REFUSED)
            yield Abstained(decision)
            answer = Answer(
                question,
                decision.message,
                decision,
                form=AnswerForm.NONE,
                guards=screened.guards,
            )
            yield Done(self._record(answer, question_id))
            return

        retrieval = s.retrieve.retrieve(question)
        guards = screened.guards + retrieval.guards  # the input screen's, then withheld passages
        yield Retrieved(retrieval.query, retrieval.passages)
        decision = s.decide.decide(question, retrieval)
        if not decision.generates:
            yield Abstained(decision, retrieval.passages)
            answer = Answer(
                question,
                decision.message,
                decision,
                form=AnswerForm.NONE,
                query=retrieval.query,
                retrieved=retrieval.passages,
                guards=guards,
            )
            yield Done(self._record(answer, question_id))
            return

        question = replace(question, searched=retrieval.query)
        plan = s.plan.plan(question, retrieval.passages)
        passages = plan.kept(retrieval.passages)
        generation = s.generate.generate(plan, vary=vary)
        check = s.check.start(question, passages)
        seen = _OutputSeen(s.output)
        quotes = seen.quotes(check.evidence) if check.evidence else ()
        evidence = tuple(q.markdown() for q in quotes)
        shown = seen.stream()
        raw: list[str] = []
        pieces: list[str] = []
        checked: CheckedAnswer | None = None
        index = 0
        try:
            if quotes:  # inside: a reader that stops here still has the quotes recorded
                yield Evidence(quotes)
            for token in generation:
                raw.append(token.text)
                judged = check.feed(token.text)
                if check.holds_text:
                    # Each sentence is released once judged, so nothing reaches the user as a
                    # claim before its verdict (which marks it when unsupported).
                    for verdict in judged:
                        yield SentenceChecked(seen.verdict(verdict))
                        visible = shown.feed(f"{verdict.text} ")
                        if visible:
                            pieces.append(visible)
                            yield AnswerToken(visible, index)
                            index += 1
                    continue
                visible = shown.feed(token.text)
                if visible:
                    pieces.append(visible)
                    yield AnswerToken(visible, index)
                    index += 1
                for verdict in judged:
                    yield SentenceChecked(seen.verdict(verdict))
            checked = check.finish("".join(raw))
            if checked.form is AnswerForm.NONE:
                # The model itself found no answer in the passages: an abstention after all.
                decision = Decision.abstain(
                    f"{decision.reason}; the model found no answer in the passages",
                    checked.text,
                    decision.signal,
                )
                yield Abstained(decision, passages)
            for verdict in checked.late:
                yield SentenceChecked(seen.verdict(verdict))
                if check.holds_text:
                    visible = shown.feed(verdict.text)
                    if visible:
                        pieces.append(visible)
                        yield AnswerToken(visible, index)
                        index += 1
            rest = shown.finish()
            if rest:
                pieces.append(rest)
                yield AnswerToken(rest, index)
        finally:
            generation.close()
            text = "".join(pieces).strip()
            form, verdicts = AnswerForm.GENERATED, tuple[SentenceVerdict, ...]()
            rejected = tuple[SentenceVerdict, ...]()
            if checked is not None:
                form, verdicts, rejected = checked.form, checked.verdicts, checked.rejected
                if checked.text != "".join(raw).strip():
                    text = seen.text(checked.text).strip()  # quotes go through the filter too
            verdicts = tuple(seen.verdict(v) for v in verdicts)
            rejected = tuple(seen.verdict(v) for v in rejected)
            answer = self._record(
                Answer(
                    question,
                    text,
                    decision,
                    passages=passages,
                    verdicts=verdicts,
                    rejected=rejected,
                    stats=_final(generation.stats),
                    form=form,
                    query=retrieval.query,
                    retrieved=retrieval.passages,
                    dropped_history=plan.dropped_history,
                    guards=seen.guards(guards),
                    # Shown above a generated answer; a quoted one or an abstention replaces them.
                    evidence=evidence if form is AnswerForm.GENERATED else (),
                ),
                question_id,
            )
        yield Done(answer)

    def _record(self, answer: Answer, question_id: int | None) -> Answer:
        answer = replace(answer, model=self._model_ref(), question_id=question_id)
        return replace(answer, message_id=self.stages.record.record_answer(answer))


class _OutputSeen:
    """Everything of one turn that the user reads goes through the output filter: the streamed
    answer, and whole texts shown beside it (evidence quotes, the sentences in verdicts, a quoted
    answer). Collects the rules that fired, each (rule, action) once."""

    def __init__(self, output: OutputFilter) -> None:
        self.output = output
        self.runs: list[FilterRun] = []
        self.answer: FilterRun | None = None  # the streamed answer's run

    def stream(self) -> FilterRun:
        self.answer = self._start()
        return self.answer

    def _start(self) -> FilterRun:
        run = self.output.start()
        self.runs.append(run)
        return run

    def text(self, text: str) -> str:
        if not text:
            return text
        run = self._start()
        return run.feed(text) + run.finish()

    def verdict(self, verdict: SentenceVerdict) -> SentenceVerdict:
        if self.blocked:  # the answer is withheld from the match on: so are its sentences
            return replace(verdict, text="", evidence="")
        return replace(verdict, text=self.text(verdict.text), evidence=self.text(verdict.evidence))

    @property
    def blocked(self) -> bool:
        return bool(getattr(self.answer, "blocked", False))

    def quotes(self, quotes: tuple[Quote, ...]) -> tuple[Quote, ...]:
        return tuple(replace(q, text=self.text(q.text)) for q in quotes)

    def guards(self, before: tuple[GuardVerdict, ...]) -> tuple[GuardVerdict, ...]:
        merged: dict[tuple[str, str, str], GuardVerdict] = {}
        fired = [g for run in self.runs for g in getattr(run, "guards", ())]  # older filters: none
        for guard in (*before, *fired):
            merged.setdefault((guard.rule, guard.action, guard.stage), guard)
        return tuple(merged.values())


def _final(stats: GenerationStats) -> GenerationStats:
    """A stream closed before the model said why it ended was stopped by its reader."""
    if not stats.finish_reason:
        stats.finish_reason = "cancelled"
    return stats
