"""Prompt-lookup speculative decoding on the real llama.cpp model: the same greedy text as plain
decoding, drafts really accepted, and the cancel / cache behaviour of a plain generation kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop.engine.runtime import speculative
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.chat_model import ModelSettings
from desktop.engine.runtime.model_manager import ModelManager

PASSAGE = (
    "Employees earn four hours of annual leave per pay period during their first three years "
    "of federal service, six hours per pay period between three and fifteen years, and eight "
    "hours per pay period after fifteen years. Sick leave accrues at four hours per pay period."
)
COPYING = [
    {"role": "system", "content": "Answer from the source. Quote it where you can."},
    {
        "role": "user",
        "content": f"Source:\n{PASSAGE}\n\nRepeat the source word for word, then summarise it.",
    },
]
FOLLOW_UP = [
    *COPYING,
    {"role": "assistant", "content": PASSAGE},
    {"role": "user", "content": "How much sick leave accrues per pay period?"},
]


@pytest.fixture(scope="module")
def drafting(chat_entry: ModelEntry) -> Iterator[ModelManager]:
    manager = ModelManager()
    manager.load(chat_entry, ModelSettings(speculative_tokens=8))
    yield manager
    manager.close()


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_drafted_answer_is_the_plain_greedy_answer(
    chat_manager: ModelManager, drafting: ModelManager
) -> None:
    """Same text as plain greedy decoding, up to where llama.cpp's batched kernels round a logit
    differently from single-token decoding: on this prompt, after "...per pay period." plain
    decoding's best candidates are a newline at 22.09 (20.08 after the 1.1 repeat penalty) and
    end-of-text at 20.49; the verification batch computes 22.30 and 20.24, and the newline wins
    by 0.04. The copied passage, where drafts are accepted, must match exactly."""
    plain = chat_manager.stream_chat(COPYING, max_tokens=96).text()
    drafted = drafting.stream_chat(COPYING, max_tokens=96)
    text = drafted.text()
    assert len(plain) > 200
    assert _common_prefix(text, plain) >= 0.9 * len(plain)
    assert drafted.stats.completion_tokens > 20


def test_a_follow_up_after_a_drafted_answer_reuses_its_cache(
    chat_manager: ModelManager, drafting: ModelManager
) -> None:
    drafting.stream_chat(COPYING, max_tokens=96).text()
    follow = drafting.stream_chat(FOLLOW_UP, max_tokens=24)
    assert follow.text() == chat_manager.stream_chat(FOLLOW_UP, max_tokens=24).text()
    assert follow.stats.reused_prefix_tokens > 50


def test_drafts_are_accepted_when_the_answer_copies(
    chat_entry: ModelEntry, drafting: ModelManager
) -> None:
    """Counts the verification batches: a copying answer needs fewer than one per token."""
    batches = 0
    original = speculative._decode_with_all_logits

    def counting(llama: object, batch: list[int], n_past: int) -> None:
        nonlocal batches
        batches += 1
        original(llama, batch, n_past)

    speculative._decode_with_all_logits = counting  # type: ignore[assignment]
    try:
        generation = drafting.stream_chat(COPYING, max_tokens=96)
        generation.text()
    finally:
        speculative._decode_with_all_logits = original  # type: ignore[assignment]
    assert batches < generation.stats.completion_tokens * 0.8


def test_cancel_leaves_a_usable_cache(chat_manager: ModelManager, drafting: ModelManager) -> None:
    generation = drafting.stream_chat(COPYING, max_tokens=96)
    received = []
    for token in generation:
        received.append(token)
        if len(received) == 5:
            generation.cancel()
    assert len(received) == 5
    assert generation.stats.finish_reason == "cancelled"
    # a new prompt after the cancelled one gives the plain greedy answer
    assert (
        drafting.stream_chat(FOLLOW_UP, max_tokens=32).text()
        == chat_manager.stream_chat(FOLLOW_UP, max_tokens=32).text()
    )
