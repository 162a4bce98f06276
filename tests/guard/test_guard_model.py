"""The guard-model slot: a Llama Guard style verdict mapped to hazard rules, run as a chat model.

No guard model ships (docs/guardrails.md says how an administrator adds one), so the model here is
the fake chat model answering what Llama Guard 3 answers; the mapping and the wiring into the
input screen and the Assistant are what is tested.
"""

from __future__ import annotations

import pytest
from helpers.fake_chat_model import FAKE_ENTRY, FakeChatModel

from desktop.engine.answer.events import Done
from desktop.engine.answer.input_guard import PolicyInputScreen
from desktop.engine.answer.records import Question
from desktop.engine.assistant import Assistant
from desktop.engine.guard.guard_model import GuardModelScreen, parse_verdict
from desktop.engine.policy.rules import DEFAULT_POLICY, Action, Policy


@pytest.mark.parametrize(
    ("reply", "safe", "codes"),
    [
        ("safe", True, []),
        ("\n\nsafe", True, []),
        ("unsafe\nS1", False, ["S1"]),
        ("unsafe\nS1,S10", False, ["S1", "S10"]),
        ("unsafe\nS14", False, []),  # code interpreter abuse: no MLCommons S1..S13 category
        ("", False, []),
        ("I cannot help with that", False, []),
    ],
)
def test_llama_guard_output_maps_to_hazards(reply, safe, codes) -> None:
    verdict = parse_verdict(reply)
    assert verdict.safe is safe
    assert [h.code for h in verdict.hazards] == codes


def _guard(*replies: str) -> FakeChatModel:
    model = FakeChatModel(*replies)
    model.load(FAKE_ENTRY)
    return model


def test_guard_model_blocks_with_the_mapped_rule() -> None:
    guard = _guard("unsafe\nS10")
    screen = PolicyInputScreen(DEFAULT_POLICY, None, guard_model=GuardModelScreen(guard))
    verdict = screen.screen(Question("a question the default screen lets through"))
    assert not verdict.allowed and verdict.rule == "input.hazard.s10"
    assert "fake-chat" in verdict.guards[0].reason  # which guard model said so
    [call] = guard.calls
    assert call.messages == [
        {"role": "user", "content": "a question the default screen lets through"}
    ]
    assert call.temperature == 0.0


def test_guard_model_safe_lets_the_question_through() -> None:
    screen = PolicyInputScreen(DEFAULT_POLICY, None, guard_model=GuardModelScreen(_guard("safe")))
    assert screen.screen(Question("when is the office open?")).allowed


def test_garbled_guard_verdict_is_visible_not_a_silent_pass() -> None:
    screen = PolicyInputScreen(DEFAULT_POLICY, None, guard_model=GuardModelScreen(_guard("?!")))
    verdict = screen.screen(Question("when is the office open?"))
    assert not verdict.allowed and verdict.rule == "input.guard_model"


def test_policy_decides_what_the_guard_model_verdict_does() -> None:
    policy = Policy(rules={"input.hazard.s10": Action.WARN})
    screen = PolicyInputScreen(policy, None, guard_model=GuardModelScreen(_guard("unsafe\nS10")))
    verdict = screen.screen(Question("anything"))
    assert verdict.allowed and verdict.guards[0].action == "warn"


def test_assistant_runs_the_provisioned_guard_model_before_retrieval() -> None:
    chat = _guard("The office opens at nine.")
    assistant = Assistant(chat)
    assistant.guard_model = _guard("unsafe\nS2")
    done = list(assistant.ask(None, "when is the office open?"))[-1]
    assert isinstance(done, Done) and done.answer.decision.kind.value == "refuse"
    assert done.as_dict()["guard"][0]["rule"] == "input.hazard.s2"
    assert chat.calls == []
