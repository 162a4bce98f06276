"""One worker pattern for everything slow: run an engine generator on a thread pool.

A `GeneratorWorker` iterates a generator on a `QThreadPool` thread and re-emits each item through
signals on a child `QObject` (`yielded`, `returned`, `errored`, `finished`). `cancel()` sets a flag
checked between items; the generator is always closed in `finally`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, Signal

BACKGROUND_NICE = 10  # how much lower than the GUI thread a background worker runs


class WorkerSignals(QObject):
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()


class GeneratorWorker(QRunnable):
    def __init__(self, make: Callable[[], Iterator[Any] | Generator[Any, None, Any]]) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = WorkerSignals()
        self._make = make
        self._cancel = threading.Event()
        self._done = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def run(self) -> None:
        generator: Any = None
        try:
            generator = self._make()
            result = None
            while not self._cancel.is_set():
                try:
                    item = next(generator)
                except StopIteration as stop:
                    result = stop.value
                    break
                self.signals.yielded.emit(item)
            self.signals.returned.emit(result)
        except Exception as exc:  # handed to the GUI thread, which sorts known from unknown
            self.signals.errored.emit(exc)
        finally:
            close = getattr(generator, "close", None)
            if close is not None:
                close()
            self._done.set()
            self.signals.finished.emit()


def call_in_worker(function: Callable[[], Any]) -> GeneratorWorker:
    """A worker for a single slow call (e.g. loading a model): its result arrives as `returned`."""

    def once() -> Generator[Any, None, Any]:
        return function()
        yield  # pragma: no cover - makes this a generator

    return GeneratorWorker(once)


def lower_thread_priority() -> None:
    """Let the GUI thread win the CPU over the calling worker thread (for long background work
    such as verifying packs, never the model's generation). On Linux a thread is a task with its
    own nice value; elsewhere Qt's thread priority does the same. Pool threads keep it, so call
    this only on a pool of background work. Idempotent."""
    if sys.platform.startswith("linux"):
        thread = threading.get_native_id()
        with contextlib.suppress(OSError):
            target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + BACKGROUND_NICE)
            if os.getpriority(os.PRIO_PROCESS, thread) < target:
                os.setpriority(os.PRIO_PROCESS, thread, target)
    else:
        QThread.currentThread().setPriority(QThread.Priority.LowPriority)
