"""Chat formatting equals the model's own template; the context budget never cuts silently."""

from __future__ import annotations

import ctypes

import jinja2
import llama_cpp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.engine.answer.prompt import plan_prompt
from desktop.engine.core.errors import ContextTooLong
from desktop.engine.runtime.chat_format import CHATML, REGISTRY, ChatFormat, from_metadata
from desktop.engine.runtime.model_manager import ModelManager

CONVERSATION = [
    {"role": "system", "content": "You answer from the handbook."},
    {"role": "user", "content": "How do I request leave?"},
    {"role": "assistant", "content": "Use the leave form [1]."},
    {"role": "user", "content": "And sick leave? Émoji 🙂 and <tags>."},
]


def _llama_cpp_render(template: str, messages: list[dict[str, str]]) -> str:
    """llama.cpp's own C++ chat-template engine (`llama_chat_apply_template`)."""
    array = (llama_cpp.llama_chat_message * len(messages))(
        *[llama_cpp.llama_chat_message(m["role"].encode(), m["content"].encode()) for m in messages]
    )
    buffer = ctypes.create_string_buffer(16384)
    n = llama_cpp.llama_chat_apply_template(
        template.encode(), array, len(messages), True, buffer, 16384
    )
    assert n > 0
    return buffer.raw[:n].decode("utf-8")


def test_smollm2_format_matches_llama_cpp_and_the_gguf_template(chat_manager: ModelManager) -> None:
    ours = chat_manager.render(CONVERSATION)
    template = chat_manager._llama.metadata["tokenizer.chat_template"]
    assert ours == _llama_cpp_render(template, CONVERSATION)
    plain = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(template)
    assert ours == plain.render(
        messages=CONVERSATION, add_generation_prompt=True, bos_token="", eos_token="<|im_end|>"
    )
    assert chat_manager.chat_format.name == "gguf"


def test_default_system_prompt_of_the_template_applies_without_one(chat_manager) -> None:
    rendered = chat_manager.render([{"role": "user", "content": "hi"}])
    assert rendered.startswith("<|im_start|>system\n")
    assert rendered.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("name", ["chatml"])
def test_registry_templates_match_llama_cpp(name: str) -> None:
    ours = ChatFormat(REGISTRY[name]).render(CONVERSATION)
    assert ours == _llama_cpp_render(REGISTRY[name], CONVERSATION)


def test_model_without_template_falls_back_to_chatml_and_says_so() -> None:
    fmt = from_metadata({}, {"bos_token": "", "eos_token": ""})
    assert fmt.template == CHATML and "fallback" in fmt.name
    with pytest.raises(ValueError, match="unknown chat format"):
        from_metadata({}, {}, override="nope")


def _words(messages) -> int:
    return sum(len(m["content"].split()) + 4 for m in messages)


def test_budget_drops_oldest_history_first_and_keeps_order() -> None:
    history = [
        {"role": r, "content": f"turn{i} " + "w " * 50}
        for i, r in enumerate(["user", "assistant"] * 5)
    ]
    plan = plan_prompt(
        _words,
        400,
        "sys",
        "question?",
        sources=["a " * 40, "b " * 40],
        history=history,
        answer_tokens=100,
    )
    assert plan.dropped_history > 0 and plan.dropped_history % 2 == 0 and plan.dropped_sources == 0
    kept = [m["content"].split()[0] for m in plan.messages[1:-1]]
    assert kept == [f"turn{i}" for i in range(plan.dropped_history, 10)]
    assert plan.messages[0]["content"].startswith("sys\n\nSources")
    assert plan.prompt_tokens + plan.answer_tokens <= 400


def test_budget_refuses_a_question_that_cannot_fit() -> None:
    with pytest.raises(ContextTooLong):
        plan_prompt(_words, 100, "sys", "word " * 200, sources=["s"], history=[])


@settings(max_examples=60, deadline=None)
@given(
    n_ctx=st.integers(64, 2000),
    n_history=st.integers(0, 12),
    n_sources=st.integers(0, 6),
    size=st.integers(1, 120),
)
def test_budget_property(n_ctx: int, n_history: int, n_sources: int, size: int) -> None:
    history = [
        {"role": ["user", "assistant"][i % 2], "content": "h " * size} for i in range(n_history)
    ]
    sources = ["s " * size for _ in range(n_sources)]
    try:
        plan = plan_prompt(
            _words, n_ctx, "sys", "q " * 5, sources=sources, history=history, answer_tokens=128
        )
    except ContextTooLong:
        bare = _words([{"content": "sys"}, {"content": "q " * 5}])
        assert n_ctx - bare < 64  # only refused when even the bare question leaves no answer room
        return
    assert plan.prompt_tokens + plan.answer_tokens <= n_ctx
    assert plan.answer_tokens >= 1
    assert plan.messages[-1]["content"] == "q " * 5
    assert len(plan.messages) - 2 == n_history - plan.dropped_history


def test_real_tokenizer_budget(chat_manager: ModelManager) -> None:
    history = [
        {"role": "user", "content": "Tell me about leave. " * 100},
        {"role": "assistant", "content": "Leave is ... " * 100},
    ] * 5
    n_ctx = chat_manager.n_ctx()
    plan = plan_prompt(
        chat_manager.count_prompt_tokens,
        n_ctx,
        "You are helpful.",
        "Summarise.",
        history=history,
        answer_tokens=256,
    )
    assert plan.dropped_history > 0
    assert chat_manager.count_prompt_tokens(plan.messages) + plan.answer_tokens <= n_ctx
