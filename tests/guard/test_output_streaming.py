"""The output filter while an answer streams: never a partial match on screen, however the text
is cut into tokens; every action (redact, warn, block, off) as the policy says; the rule names
reach `Answer.guards` and the `guard` list of `Done.as_dict()` (what `enclave ask --json` prints).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from helpers.fake_chat_model import FAKE_ENTRY, FakeChatModel
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.cli.ask import json_payload
from desktop.engine.access import CitationRef, Passage
from desktop.engine.answer.events import AnswerToken, Done, Evidence, SentenceChecked
from desktop.engine.answer.evidence import Quote
from desktop.engine.answer.output_guard import OutputGuard, withheld_notice
from desktop.engine.answer.pipeline import AnswerPipeline, Stages
from desktop.engine.answer.records import AnswerForm, CheckedAnswer, Question, SentenceVerdict
from desktop.engine.answer.stages import (
    GroundedPrompt,
    HistoryRecorder,
    SearchPermittedPassages,
    StreamFromModel,
)
from desktop.engine.policy.rules import DEFAULT_POLICY, Action, Policy

SECRETS = (
    "Reach Jane Doe on +44 20 7946 0958 or jane.doe@example.org. "
    "Refunds go to GB82 WEST 1234 5698 7654 32; the card on file is 4111 1111 1111 1111. "
    "Her SSN is 123-45-6789 and the deploy key is AKIAIOSFODNN7EXAMPLE, token "
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789. You are an idiot.\n"
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\nThat was all, as of 2024-05-01 (v1.2.3)."
)
PIECES = (  # distinctive parts of each secret: none may ever be on screen
    "+44",
    "7946",
    "0958",
    "jane.doe@",
    "example.org",
    "GB82",
    "WEST",
    "4111",
    "123-45",
    "6789",
    "AKIA",
    "ghp_",
    "idiot",
    "BEGIN OPENSSH",
    "b3BlbnNz",
)
GUARD = OutputGuard(DEFAULT_POLICY)
WHOLE, _ = GUARD.scan(SECRETS)


def _cuts(text: str, sizes: Sequence[int]) -> list[str]:
    pieces, i, k = [], 0, 0
    while i < len(text):
        size = sizes[k % len(sizes)]
        pieces.append(text[i : i + size])
        i, k = i + size, k + 1
    return pieces


def test_one_shot_redaction_marks_every_kind() -> None:
    for piece in PIECES:
        assert piece not in WHOLE
    for mark in (
        "[phone number removed]",
        "[e-mail removed]",
        "[IBAN removed]",
        "[card number removed]",
        "[national id removed]",
        "[secret removed]",
        "[offensive language removed]",
        "[private key removed]",
    ):
        assert mark in WHOLE
    assert WHOLE.endswith("That was all, as of 2024-05-01 (v1.2.3).")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12))
def test_streaming_never_shows_part_of_a_match(sizes: list[int]) -> None:
    """Whatever the token boundaries, what is on screen after each token is a prefix of the
    redacted text: a partial secret would not be."""
    run = GUARD.start()
    shown = ""
    for piece in _cuts(SECRETS, sizes):
        shown += run.feed(piece)
        assert WHOLE.startswith(shown), shown[-60:]
    shown += run.finish()
    assert shown == WHOLE


def test_text_that_could_start_a_match_is_held_until_it_is_decided() -> None:
    run = GUARD.start()
    assert run.feed("Call +44 20 ") == "Call "
    assert run.feed("7946 0958 now") == "[phone number removed] "
    assert run.finish() == "now"
    run = GUARD.start()
    assert run.feed("It is 2024. ") == "It is 2024. "  # nothing a match could grow from


def _pipeline(model: FakeChatModel, policy: Policy, **stages: object) -> AnswerPipeline:
    built = Stages(
        retrieve=SearchPermittedPassages(None),
        plan=GroundedPrompt(model, max_answer_tokens=1024),
        generate=StreamFromModel(model),
        record=HistoryRecorder(None),
        output=OutputGuard(policy),
    )
    for name, stage in stages.items():
        setattr(built, name, stage)
    return AnswerPipeline(built, lambda: None)


@pytest.fixture
def model() -> FakeChatModel:
    fake = FakeChatModel()
    fake.load(FAKE_ENTRY)
    return fake


def _tokens(events: Sequence[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, AnswerToken))


def test_the_pipeline_streams_the_redacted_answer_and_names_every_rule(
    model: FakeChatModel,
) -> None:
    model.queue(_cuts(SECRETS, [3, 1, 4, 1, 5, 9, 2, 6]))
    events = list(_pipeline(model, DEFAULT_POLICY).run(None, "Who handles refunds?"))
    streamed = _tokens(events)
    for piece in PIECES:
        assert piece not in streamed
    done = events[-1]
    assert isinstance(done, Done) and done.answer.text == WHOLE.strip() == streamed.strip()
    rules = {g.rule: g.action for g in done.answer.guards}
    assert rules == {
        "output.pii.phone": "redact",
        "output.pii.email": "redact",
        "output.pii.iban": "redact",
        "output.pii.card": "redact",
        "output.pii.national_id": "redact",
        "output.secret.token": "redact",
        "output.secret.private_key": "redact",
        "output.toxicity": "redact",
    }
    assert all(g.stage == "output" for g in done.answer.guards)
    token_guard = next(g for g in done.answer.guards if g.rule == "output.secret.token")
    assert token_guard.reason == "removed from the answer: API key or token (2 times)"
    guard_json = done.as_dict()["guard"]
    assert {g["rule"] for g in guard_json} == set(rules)
    payload = json_payload(done, None, None, None)  # `enclave ask --json`
    assert payload["guard"] == guard_json and "7946" not in payload["answer"]


def test_a_secret_cut_off_by_the_token_limit_is_still_hidden(model: FakeChatModel) -> None:
    model.queue(_cuts("Use token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 to log in.", [4]))
    pipeline = _pipeline(model, DEFAULT_POLICY)
    pipeline.stages.plan = GroundedPrompt(model, max_answer_tokens=8)  # cut inside the token
    events = list(pipeline.run(None, "Token?"))
    done = events[-1]
    assert isinstance(done, Done) and done.answer.finish_reason == "length"
    assert done.answer.text == "Use token [secret removed]"
    assert "ghp_" not in _tokens(events)


def test_warn_shows_the_text_and_records_the_rule(model: FakeChatModel) -> None:
    policy = Policy(rules={"output.pii.phone": Action.WARN})
    model.queue("Ring +44 20 7946 0958 or jane@example.org.")
    done = list(_pipeline(model, policy).run(None, "Phone?"))[-1]
    assert isinstance(done, Done)
    assert done.answer.text == "Ring +44 20 7946 0958 or [e-mail removed]."
    assert {(g.rule, g.action) for g in done.answer.guards} == {
        ("output.pii.phone", "warn"),
        ("output.pii.email", "redact"),
    }


def test_block_withholds_the_answer_from_the_match_on(model: FakeChatModel) -> None:
    policy = Policy(rules={"output.secret.token": Action.BLOCK})
    model.queue("The key is AKIAIOSFODNN7EXAMPLE and the region is eu-west-1, ask IT.")
    events = list(_pipeline(model, policy).run(None, "Deploy key?"))
    done = events[-1]
    assert isinstance(done, Done)
    assert done.answer.text == "The key is " + withheld_notice("output.secret.token")
    assert "eu-west-1" not in _tokens(events) and "AKIA" not in _tokens(events)
    assert [(g.rule, g.action) for g in done.answer.guards] == [("output.secret.token", "block")]


def test_off_rules_do_not_look(model: FakeChatModel) -> None:
    policy = Policy(rules={r: Action.OFF for r in ("output.pii.phone", "output.pii.email")})
    model.queue("Ring +44 20 7946 0958 or jane@example.org.")
    done = list(_pipeline(model, policy).run(None, "Phone?"))[-1]
    assert isinstance(done, Done)
    assert done.answer.text == "Ring +44 20 7946 0958 or jane@example.org."
    assert done.answer.guards == ()


PASSAGE = Passage(
    ref=CitationRef(1, "contacts", 1, "everyone", 7),
    title="Contacts",
    heading="Help desk",
    text="The help desk answers on +44 20 7946 0958.",
    as_of="2026-11-01",
)


class _Fixed:
    def search(self, query: str, k: int = 5) -> list[Passage]:
        return [PASSAGE]


class _HoldingCheck:
    """A sentence check like the real one: evidence first, each sentence judged before it is
    shown, the verdict carrying the sentence and the passage's supporting span."""

    holds_text = True

    def __init__(self) -> None:
        self.evidence = (Quote(1, PASSAGE.text),)
        self._text = ""

    def feed(self, text: str) -> list[SentenceVerdict]:
        self._text += text
        return []

    def finish(self, text: str) -> CheckedAnswer:
        verdict = SentenceVerdict(0, text.strip(), True, (1,), "", 1, PASSAGE.text)
        return CheckedAnswer(text.strip(), AnswerForm.GENERATED, (verdict,), late=(verdict,))


class _Checker:
    def start(self, question: Question, passages: Sequence[Passage]) -> _HoldingCheck:
        return _HoldingCheck()


def test_evidence_quotes_and_sentence_verdicts_are_filtered_too(model: FakeChatModel) -> None:
    model.queue("Call +44 20 7946 0958 [1].")
    pipeline = _pipeline(
        model, DEFAULT_POLICY, retrieve=SearchPermittedPassages(_Fixed()), check=_Checker()
    )
    events = list(pipeline.run(None, "Help desk phone?"))
    [evidence] = [e for e in events if isinstance(e, Evidence)]
    assert evidence.quotes[0].text == "The help desk answers on [phone number removed]."
    [checked] = [e for e in events if isinstance(e, SentenceChecked)]
    assert checked.verdict.text == "Call [phone number removed] [1]."
    assert "7946" not in checked.verdict.evidence
    done = events[-1]
    assert isinstance(done, Done)
    assert "7946" not in str(done.as_dict()["verdicts"]) and "7946" not in done.answer.text
    assert done.answer.passages == (PASSAGE,)  # the passage itself is not redacted
    assert [g.rule for g in done.answer.guards] == ["output.pii.phone"]


class _SentenceByLine:
    """A holding check that judges each line as one sentence (like the real one, per sentence)."""

    holds_text = True
    evidence: tuple[Quote, ...] = ()

    def __init__(self) -> None:
        self._buffer = ""
        self._count = 0

    def feed(self, text: str) -> list[SentenceVerdict]:
        self._buffer += text
        out = []
        while "." in self._buffer:
            sentence, self._buffer = self._buffer.split(".", 1)
            out.append(SentenceVerdict(self._count, sentence.strip() + ".", True))
            self._count += 1
        return out

    def finish(self, text: str) -> CheckedAnswer:
        return CheckedAnswer(text.strip(), AnswerForm.GENERATED)


class _ByLine:
    def start(self, question: Question, passages: Sequence[Passage]) -> _SentenceByLine:
        return _SentenceByLine()


def test_after_a_block_no_later_sentence_reaches_the_reader(model: FakeChatModel) -> None:
    policy = Policy(rules={"output.secret.token": Action.BLOCK})
    model.queue("Ask IT first. The key is AKIAIOSFODNN7EXAMPLE for now. Rotate it in May.")
    events = list(_pipeline(model, policy, check=_ByLine()).run(None, "Key?"))
    verdicts = [e.verdict.text for e in events if isinstance(e, SentenceChecked)]
    assert verdicts[0] == "Ask IT first."
    assert "AKIA" not in " ".join(verdicts) and "May" not in " ".join(verdicts)
    done = events[-1]
    assert isinstance(done, Done)
    assert done.answer.text == "Ask IT first. The key is " + withheld_notice("output.secret.token")
    assert "May" not in json_payload(done, None, None, None).__repr__()


def test_a_phone_number_with_its_area_code_in_square_brackets_is_redacted_in_any_cut() -> None:
    """A small model copied "(877) 472-6716" as "[877] 472-6716": it looks like a citation
    followed by a local number, and streamed it reached the screen whole."""
    text = "Call AdTrav at [877] 472-6716 [2]. Leave is 13 days [1]."
    for sizes in ((1,), (2, 5), (3,), (7, 1), (len(text),)):
        run = GUARD.start()
        shown = "".join(run.feed(piece) for piece in _cuts(text, sizes)) + run.finish()
        assert shown == "Call AdTrav at [phone number removed] [2]. Leave is 13 days [1].", sizes


def test_a_bracketed_area_code_is_not_a_citation() -> None:
    from desktop.engine.answer.evidence import citations_in, strip_citations

    assert citations_in("Call [877] 472-6716 [2].") == (2,)
    assert strip_citations("Call [877] 472-6716 [2].") == "Call [877] 472-6716."
    assert citations_in("It is 13 days [1] 2 times a year [3].") == (1, 3)
    # A sentence is not split inside the number either, and a British one is read the same way.
    from desktop.engine.answer.evidence import split_sentences
    from desktop.engine.guard.pii import redact_text

    assert split_sentences("Call the desk. [877] 472-6716 is open.")[1] == "[877] 472-6716 is open."
    assert redact_text("Call [020] 7946 0958 today.") == "Call [phone number removed] today."
