"""Native crashes: when code below Python (llama.cpp, Qt, FAISS, SQLCipher) kills the process.

A Python exception becomes a crash report (`crash_report`); a segfault in a C library ends the
process before any Python handler runs, and the window simply disappears. `arm()` points the
standard library's `faulthandler` at a fresh file in the crash-reports folder, headed like a crash
report, so such a death leaves its Python stack behind; a process that ends normally removes its
file. At the next start `unseen()` finds the files of processes that died with a stack written
(the window and `enclave doctor` say so, with the file to send); a file with only its header is a
process that was killed (kill -9, power loss), not a crash, and is removed once its process is
gone. Found on 1 Dec 2026, when llama.cpp's AMX kernels segfaulted on the first answer
(docs/install.md).

Arming is skipped when `faulthandler` is already on (pytest turns it on for its own report).
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
from datetime import datetime
from pathlib import Path
from typing import IO

from desktop.engine.core.crash_report import CREATE_NEW, report_header, reports_dir

PREFIX = "native-"
SEEN_SUFFIX = ".seen.txt"
_armed: tuple[IO[str], Path, int] | None = None


def _header(command: str) -> str:
    title = "native crash report (the process died inside a C library)"
    return report_header(title, command, datetime.now().astimezone(), "started") + "\n"


def arm(command: str, directory: Path | None = None) -> Path | None:
    """Send a fatal error's stack to a new file for this process; its path, or None when
    `faulthandler` is already on or no file can be written (never an error: this is a safety net)."""
    global _armed
    if _armed is not None or faulthandler.is_enabled():
        return None
    try:
        folder = directory if directory is not None else reports_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = folder / f"{PREFIX}{stamp}-{os.getpid()}.txt"
        header = _header(command)
        file = os.fdopen(os.open(path, CREATE_NEW, 0o600), "w", encoding="utf-8")
        file.write(header)
        file.flush()
        faulthandler.enable(file=file, all_threads=True)
    except (OSError, ValueError):
        return None
    _armed = (file, path, len(header.encode("utf-8")))
    atexit.register(disarm)
    return path


def disarm() -> None:
    """A normal end: stop `faulthandler` and remove this process's file (nothing was written)."""
    global _armed
    if _armed is None:
        return
    file, path, header_bytes = _armed
    _armed = None
    faulthandler.disable()
    with contextlib.suppress(OSError):
        file.close()
        if path.stat().st_size <= header_bytes:
            path.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _pid_of(path: Path) -> int | None:
    digits = path.name.removesuffix(".txt").rsplit("-", 1)[-1]
    return int(digits) if digits.isdigit() else None


def unseen(directory: Path | None = None) -> list[Path]:
    """Reports of processes that died in native code and that no one has been told about yet,
    oldest first; header-only files of finished processes (killed, not crashed) are removed."""
    folder = directory if directory is not None else reports_dir()
    found: list[Path] = []
    try:
        candidates = sorted(folder.glob(f"{PREFIX}*.txt"))
    except OSError:
        return []
    for path in candidates:
        pid = _pid_of(path)
        if path.name.endswith(SEEN_SUFFIX) or pid is None or _alive(pid):
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "Fatal Python error" in text or "Current thread" in text:
            found.append(path)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return found


def reports(directory: Path | None = None) -> list[Path]:
    """Every native crash report, announced or not, newest first (for `enclave doctor`)."""
    folder = directory if directory is not None else reports_dir()
    try:
        seen = list(folder.glob(f"{PREFIX}*{SEEN_SUFFIX}"))
    except OSError:
        return []
    return sorted([*seen, *unseen(folder)], key=lambda p: p.name, reverse=True)


def mark_seen(path: Path) -> Path:
    """Keep the report (the user may still send it) but do not announce it again."""
    seen = path.with_name(path.name.removesuffix(".txt") + SEEN_SUFFIX)
    with contextlib.suppress(OSError):
        path.rename(seen)
        return seen
    return path


def what_failed(path: Path, *, with_frame: bool = False) -> str:
    """The fatal error ("Segmentation fault", ...), and with `with_frame` the innermost Python
    frame too (for `enclave doctor`; a user's notice needs only the first)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "unknown"
    error = next((ln.split(":", 1)[-1].strip() for ln in lines if "Fatal Python error" in ln), "")
    frame = next((ln.strip() for ln in lines if ln.strip().startswith("File ")), "")
    parts = (error, frame) if with_frame else (error,)
    return "; ".join(part for part in parts if part) or "unknown"
