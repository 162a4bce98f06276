"""A chat model loaded on its first generation, for a job besides the answer (translating the
questions that are not written in English: `answer.language`). Loading the 1.5B translator costs
a few seconds and maps 1.1 GB, which an English-only user never pays."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from desktop.engine.core.errors import Cancelled, EngineError
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.chat_format import Message
from desktop.engine.runtime.chat_model import REPEAT_PENALTY, Generation, ModelSettings
from desktop.engine.runtime.model_manager import ModelManager


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """What tells a replaced or repaired file from the one that failed (None: no file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class OnDemandModel:
    """`entry`, loaded by the first `stream_chat`. Its verification or load error is raised to
    that caller, and again to the next without reading the file again while the file is the one
    that failed (hashing a 1.1 GB file costs seconds a question); a fixed or replaced file is
    picked up without a restart."""

    def __init__(self, entry: ModelEntry, settings: ModelSettings) -> None:
        self.entry = entry
        self.settings = settings
        self._manager: ModelManager | None = None
        self._lock = threading.Lock()
        self._cancelled = False
        # The file as it was when it failed, and what was wrong (words only: no frames kept).
        self._failed: tuple[tuple[int, int, int] | None, str, str] | None = None

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
                state = _file_state(self.entry.path)
                if self._failed is not None and self._failed[0] == state:
                    raise EngineError(self._failed[1], self._failed[2])
                manager = ModelManager()
                try:
                    manager.load(self.entry, self.settings)
                except BaseException as exc:
                    manager.close()
                    if isinstance(exc, EngineError):
                        self._failed = (state, exc.message, exc.hint)
                    elif isinstance(exc, Exception):  # llama.cpp's own RuntimeErrors
                        self._failed = (state, f"{self.entry.id} could not be loaded: {exc}", "")
                    raise
                self._failed = None
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
