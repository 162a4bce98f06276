"""The real llama.cpp with the real default models: load, a short greedy answer, an embedding."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import pytest

from desktop.engine.core.errors import ContextTooLong, InvalidInput
from desktop.engine.runtime.embedder import Embedder
from desktop.engine.runtime.model_manager import ModelManager

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_greedy_answer_is_real_and_deterministic(chat_manager: ModelManager) -> None:
    first = chat_manager.stream_chat(QUESTION, max_tokens=16)
    text = first.text()
    again = chat_manager.stream_chat(QUESTION, max_tokens=16).text()
    assert "Paris" in text
    assert text == again
    stats = first.stats
    assert stats.prompt_tokens > 10 and 0 < stats.completion_tokens <= 16
    assert stats.time_to_first_token_s is not None and stats.time_to_first_token_s > 0


def test_follow_up_reuses_the_cached_prefix(chat_manager: ModelManager) -> None:
    chat_manager.stream_chat(QUESTION, max_tokens=8).text()
    follow = [
        *QUESTION,
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And Spain?"},
    ]
    generation = chat_manager.stream_chat(follow, max_tokens=8)
    generation.text()
    assert (
        generation.stats.reused_prefix_tokens
        >= len(chat_manager.tokenize(chat_manager.render(QUESTION))) - 2
    )


def test_cancel_between_tokens(chat_manager: ModelManager) -> None:
    generation = chat_manager.stream_chat(
        [{"role": "user", "content": "Write a long story about a dragon."}], max_tokens=200
    )
    received = []
    for token in generation:
        received.append(token)
        if len(received) == 3:
            generation.cancel()
    assert len(received) == 3
    assert generation.stats.finish_reason == "cancelled"
    assert "Paris" in chat_manager.stream_chat(QUESTION, max_tokens=8).text()


def test_new_request_cancels_the_running_stream(chat_manager: ModelManager) -> None:
    first = chat_manager.stream_chat(
        [{"role": "user", "content": "Count to fifty."}], max_tokens=100
    )
    iterator = iter(first)
    assert isinstance(iterator, Generator)
    next(iterator)
    iterator.close()  # the consumer walks away; the lock must be released
    second = chat_manager.stream_chat(QUESTION, max_tokens=8)
    assert first.cancelled or first.stats.total_s > 0
    assert "Paris" in second.text()


def test_too_long_message_is_a_clear_error(chat_manager: ModelManager) -> None:
    huge = "word " * 20000
    with pytest.raises(ContextTooLong, match="tokens"):
        chat_manager.stream_chat([{"role": "user", "content": huge}]).text()


def test_lone_surrogate_is_refused(chat_manager: ModelManager) -> None:
    with pytest.raises(InvalidInput, match="not valid text"):
        chat_manager.stream_chat([{"role": "user", "content": "bad \udc80 text"}])


def test_embedding_is_normalised_and_semantic(embedding_entry) -> None:
    embedder = Embedder(embedding_entry)
    try:
        vectors = embedder.embed(
            ["How many vacation days do I get?", "Annual leave allowance", "Rocket engines"]
        )
    finally:
        embedder.close()
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_question_embedded_by_several_stages_runs_the_model_once(embedding_entry) -> None:
    embedder = Embedder(embedding_entry)
    texts: list[list[str]] = []
    real = embedder._embed_locked

    def counting(batch):
        texts.append(list(batch))
        return real(batch)

    embedder._embed_locked = counting  # type: ignore[method-assign]
    try:
        question = "How many vacation days do I get?"
        first = embedder.embed([question])
        again = embedder.embed([question, "Annual leave allowance"])
        build = embedder.embed([f"chunk {i}" for i in range(80)] + [question])
    finally:
        embedder.close()
    # The second call embeds only the new text; a build-sized call bypasses the cache.
    assert texts[:2] == [[question], ["Annual leave allowance"]]
    assert len(texts[2]) == 81
    assert np.array_equal(again[0], first[0])
    assert np.allclose(build[-1], first[0], atol=1e-3)


def test_loop_guard_stops_a_repeating_answer() -> None:
    from desktop.engine.runtime.model_manager import LoopGuard

    guard = LoopGuard()
    line = "You can also request a leave request using HR Links.\n"
    assert not guard.looping("Intro line that is long enough to count.\n")
    assert not guard.looping(line) and not guard.looping(line)
    assert guard.looping(line[:20]) is False
    assert guard.looping(line[20:]) is True  # third time, even when split across tokens
    assert not LoopGuard().looping("short\nshort\nshort\nshort\n")


def test_an_amx_build_loads_without_extra_buffer_types() -> None:
    """llama.cpp's AMX kernels segfault on some AMX CPUs (this project's CI machines among them):
    `open_llama` loads such a build with `use_extra_bufts` off, for that one load only."""
    import llama_cpp

    from desktop.engine.runtime import model_manager

    module = llama_cpp.llama_cpp
    assert module.llama_model_default_params().use_extra_bufts is True
    with model_manager._without_extra_buffer_types():
        assert module.llama_model_default_params().use_extra_bufts is False
    assert module.llama_model_default_params().use_extra_bufts is True
