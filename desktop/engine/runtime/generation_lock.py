"""One generation at a time across Enclave processes on this machine.

Two generations that share two cores each run at a fraction of one alone (llama.cpp's OpenMP
barriers wait for each other's descheduled threads), and a dozen `enclave ask` processes at once
did not finish in 30 minutes. So a generation holds an exclusive lock on a file in the data folder
while it runs, and the others queue. The lock is an OS file lock (`fcntl.flock`; `msvcrt.locking`
on Windows), so the kernel drops it when its holder exits or is killed. Waiting polls the lock with
short sleeps, so a cancelled request stops waiting at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from desktop.engine.core import paths
from desktop.engine.core.errors import Cancelled

LOCK_NAME = "generation.lock"
POLL_S = 0.02


def default_path() -> Path:
    return paths.base_data_dir() / LOCK_NAME


def _try_lock(handle: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class GenerationLock:
    """The machine-wide generation lock; `acquire` waits (cancellably), `release` is idempotent."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None
        self.waited_s = 0.0

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Take the lock, waiting while another process holds it; raises `Cancelled` if
        `cancelled()` turns true meanwhile. A data folder we cannot write means no queue, not
        no answer: the generation then runs unlocked."""
        if self._handle is not None:
            return
        path = self.path or default_path()
        started = time.monotonic()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")  # noqa: SIM115 (held open for as long as the lock is)
        except OSError:
            return
        try:
            while not _try_lock(handle):
                if cancelled():
                    raise Cancelled()
                time.sleep(POLL_S)
        except BaseException:
            handle.close()
            raise
        self._handle = handle
        self.waited_s = time.monotonic() - started

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            _unlock(handle)
        except OSError:
            pass
        finally:
            handle.close()
