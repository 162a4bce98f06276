"""A chat model loaded on its first generation, for a job besides the answer (translating the
questions that are not written in English: `answer.language`). Loading the 1.5B translator costs
a few seconds and maps 1.1 GB, which an English-only user never pays."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from desktop.engine.core.errors import Cancelled
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.chat_format import Message
from desktop.engine.runtime.chat_model import REPEAT_PENALTY, Generation, ModelSettings
from desktop.engine.runtime.model_manager import ModelManager


class OnDemandModel:
    """`entry`, loaded by the first `stream_chat` (its verification or load error is raised to
    that caller, and again to the next: a fixed file is picked up without a restart)."""

    def __init__(self, entry: ModelEntry, settings: ModelSettings) -> None:
        self.entry = entry
        self.settings = settings
        self._manager: ModelManager | None = None
        self._lock = threading.Lock()
        self._cancelled = False

    @property
    def loaded(self) -> bool:
        return self._manager is not None

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        repeat_penalty: float = REPEAT_PENALTY,
    ) -> Generation:
        with self._lock:
            self._cancelled = False
            manager = self._manager
            if manager is None:
                manager = ModelManager()
                try:
                    manager.load(self.entry, self.settings)
                except BaseException:
                    manager.close()
                    raise
                self._manager = manager
            if self._cancelled:  # Stop was pressed while it loaded
                raise Cancelled()
        return manager.stream_chat(
            messages, max_tokens=max_tokens, temperature=temperature, repeat_penalty=repeat_penalty
        )

    def cancel_current(self) -> None:
        """Stop a translation under way (the user pressed Stop before the answer began)."""
        self._cancelled = True
        manager = self._manager
        if manager is not None:
            manager.cancel_current()

    def close(self) -> None:
        with self._lock:
            if self._manager is not None:
                self._manager.close()
                self._manager = None
