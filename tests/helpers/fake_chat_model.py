"""A chat model shaped like `ModelManager` (the `ChatModel` protocol): queued replies, recorded calls.

For pipeline and window decisions in milliseconds. It is never the only proof of a feature: the
real llama.cpp model answers the same questions in the end-to-end tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.chat_format import Message
from desktop.engine.runtime.chat_model import (
    DEFAULT_SETTINGS,
    REPEAT_PENALTY,
    ChatModel,
    Generation,
    LoadedInfo,
    ModelSettings,
    Token,
)
from desktop.engine.runtime.hardware import ThreadPlan

FAKE_ENTRY = ModelEntry(
    id="fake-chat",
    role="chat",
    file="fake-chat.gguf",
    sha256="0" * 64,
    size=0,
    license="Apache-2.0",
    context_length=4096,
    description="A fake chat model for tests",
    source={"kind": "test"},
    origin="bundled",
)


@dataclass(frozen=True)
class ChatCall:
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float


class FakeChatModel:
    """Replies are queued as strings (split after each space) or as explicit token lists."""

    def __init__(self, *replies: str | Sequence[str], n_ctx: int = 4096) -> None:
        self.replies: deque[list[str]] = deque()
        self.queue(*replies)
        self.calls: list[ChatCall] = []
        self.loaded: list[ModelEntry] = []
        self.gate: threading.Event | None = None  # when set: each token after the first waits
        self._n_ctx = n_ctx
        self._info: LoadedInfo | None = None
        self._current: Generation | None = None

    def queue(self, *replies: str | Sequence[str]) -> None:
        for reply in replies:
            if isinstance(reply, str):
                pieces = [word + " " for word in reply.split(" ")]
                pieces[-1] = pieces[-1].rstrip(" ")
                self.replies.append([p for p in pieces if p])
            else:
                self.replies.append(list(reply))

    @property
    def info(self) -> LoadedInfo | None:
        return self._info

    def load(self, entry: ModelEntry, settings: ModelSettings = DEFAULT_SETTINGS) -> LoadedInfo:
        self.loaded.append(entry)
        self._info = LoadedInfo(
            entry=entry,
            path=Path(entry.file),
            n_ctx=min(settings.n_ctx, self._n_ctx),
            threads=ThreadPlan(1, 1, 1, 1),
            n_gpu_layers=0,
            chat_format="fake",
            load_s=0.0,
        )
        return self._info

    def n_ctx(self) -> int:
        return self._info.n_ctx if self._info else self._n_ctx

    def expect_generation(self) -> None:
        """Nothing to measure for a scripted model."""

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m["content"].split()) + 4 for m in messages)

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        repeat_penalty: float = REPEAT_PENALTY,
    ) -> Generation:
        self.calls.append(ChatCall([dict(m) for m in messages], max_tokens, temperature))
        if not self.replies:
            raise AssertionError("FakeChatModel: the test queued no reply for this question")
        self.cancel_current()
        generation = Generation(iter(()))
        generation._tokens = self._run(generation, self.replies.popleft(), max_tokens)
        self._current = generation
        return generation

    def _run(self, generation: Generation, pieces: list[str], max_tokens: int) -> Iterator[Token]:
        stats = generation.stats
        stats.prompt_tokens = self.count_prompt_tokens(self.calls[-1].messages)
        started = time.perf_counter()
        try:
            for index, text in enumerate(pieces):
                if index and self.gate is not None:
                    while not self.gate.wait(0.005) and not generation.cancelled:
                        pass
                if generation.cancelled:
                    stats.finish_reason = "cancelled"
                    return
                if index >= max_tokens:
                    stats.finish_reason = "length"
                    return
                if stats.time_to_first_token_s is None:
                    stats.time_to_first_token_s = time.perf_counter() - started
                stats.completion_tokens += 1
                yield Token(text, index)
            stats.finish_reason = "stop"
        finally:
            stats.total_s = time.perf_counter() - started
            if self._current is generation:
                self._current = None

    def cancel_current(self) -> None:
        if self._current is not None:
            self._current.cancel()

    def close(self) -> None:
        self.cancel_current()
        self._info = None


def _conforms(model: FakeChatModel) -> ChatModel:
    return model  # mypy proves the fake has the real protocol's shape
