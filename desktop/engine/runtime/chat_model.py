"""The shape of a chat model, as the answer pipeline sees it: a protocol and its plain records.

`ModelManager` (llama.cpp) is the real `ChatModel`; tests use a fake with the same protocol
(tests/helpers/fake_chat_model.py), so pipeline decisions are tested in milliseconds beside the
real-model tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop.engine.runtime import hardware
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.chat_format import Message

# Small models loop on greedy decoding ("You can also request..." forever); 1.1 stops that
# without changing answers much (measured on SmolLM2-135M with retrieved sources).
REPEAT_PENALTY = 1.1


@dataclass(frozen=True)
class ModelSettings:
    """How to run a model; zero or None means "choose for this machine"."""

    n_ctx: int = 4096
    n_threads: int | None = None
    n_threads_batch: int | None = None
    n_gpu_layers: int | None = None
    n_batch: int = 512
    seed: int = 0
    chat_format: str | None = None
    # Prompt-lookup speculative decoding: tokens guessed from the context per step (0: off).
    speculative_tokens: int = 0


DEFAULT_SETTINGS = ModelSettings()


@dataclass(frozen=True)
class Token:
    text: str
    index: int


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reused_prefix_tokens: int = 0
    time_to_first_token_s: float | None = None
    total_s: float = 0.0
    finish_reason: str = ""

    @property
    def tokens_per_second(self) -> float:
        if self.time_to_first_token_s is None or self.completion_tokens < 2:
            return 0.0
        decode_time = self.total_s - self.time_to_first_token_s
        return (self.completion_tokens - 1) / decode_time if decode_time > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reused_prefix_tokens": self.reused_prefix_tokens,
            "time_to_first_token_s": self.time_to_first_token_s,
            "tokens_per_second": round(self.tokens_per_second, 2),
            "total_s": round(self.total_s, 4),
            "finish_reason": self.finish_reason,
        }


@dataclass
class Generation:
    """One streamed answer. Iterate it for `Token`s; `stats` is complete once iteration ends."""

    _tokens: Iterator[Token]
    stats: GenerationStats = field(default_factory=GenerationStats)
    _cancel: threading.Event = field(default_factory=threading.Event)

    def __iter__(self) -> Iterator[Token]:
        return self._tokens

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def text(self) -> str:
        return "".join(token.text for token in self)

    def close(self) -> None:
        """Stop producing now and release the model (closes the token generator, whose `finally`
        frees the model lock); safe to call twice or on a finished generation."""
        self._cancel.set()
        close = getattr(self._tokens, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class LoadedInfo:
    entry: ModelEntry
    path: Path
    n_ctx: int
    threads: hardware.ThreadPlan
    n_gpu_layers: int
    chat_format: str
    load_s: float


class ChatModel(Protocol):
    """What the assistant and its answer pipeline need of a chat model."""

    @property
    def info(self) -> LoadedInfo | None:
        """The loaded model (None before `load`)."""
        ...

    def load(self, entry: ModelEntry, settings: ModelSettings = ...) -> LoadedInfo: ...

    def n_ctx(self) -> int: ...

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int: ...

    def expect_generation(self) -> None:
        """A question was asked: prepare what the coming generation measures (CPU load)."""
        ...

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        repeat_penalty: float = REPEAT_PENALTY,
    ) -> Generation:
        """Start answering; the `Generation` runs as it is iterated."""
        ...

    def cancel_current(self) -> None: ...

    def close(self) -> None: ...
