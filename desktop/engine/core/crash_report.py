"""Crash reports: when Enclave has a bug, the traceback goes to a file the user can send.

A known problem is an `EngineError` and is shown with what to do; anything else is a bug in Enclave,
not something the user did. The CLI (and later the window) tells the user so in one line and writes
the details here, under the data folder, instead of printing a wall of traceback.

The report holds the traceback, versions and the command's name, never its arguments: a question
or a search term is the user's data, and the report is a plain file (mode 600) meant to be sent.
"""

from __future__ import annotations

import os
import platform
import sys
import traceback
from datetime import datetime
from pathlib import Path

from desktop import __version__
from desktop.engine.core import paths

FOLDER = "crash-reports"
CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def reports_dir() -> Path:
    """Where this profile's crash reports go."""
    return paths.data_dir() / FOLDER


def report_header(title: str, command: str, when: datetime, time_label: str = "time") -> str:
    """The lines every report starts with: what it is, when, what ran, on what."""
    lines = [
        f"Enclave {__version__} {title}",
        f"{time_label}: {when.isoformat(timespec='seconds')}",
        f"command: {command or '(unknown)'}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"system: {platform.platform()}",
        "",
    ]
    return "\n".join(lines)


def format_report(exc: BaseException, command: str = "", when: datetime | None = None) -> str:
    """The report's text: what ran, on what, and the full traceback (chained causes included)."""
    when = when or datetime.now().astimezone()
    return report_header("crash report", command, when) + "".join(traceback.format_exception(exc))


def write_crash_report(
    exc: BaseException, command: str = "", directory: Path | None = None
) -> Path:
    """Write a report for `exc` as a new file in `directory` (default `reports_dir()`); its path.

    Raises `OSError` (or whatever finding the data folder raises) when it cannot be written: the
    caller then prints the traceback instead, so a bug is never hidden by a second failure.
    """
    when = datetime.now().astimezone()
    folder = directory if directory is not None else reports_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = f"enclave-{when.strftime('%Y%m%d-%H%M%S-%f')}"
    text = format_report(exc, command, when).encode("utf-8", errors="backslashreplace")
    for attempt in range(100):
        path = folder / (f"{stem}.txt" if attempt == 0 else f"{stem}-{attempt}.txt")
        try:
            fd = os.open(path, CREATE_NEW, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as file:
            file.write(text)
        return path
    raise FileExistsError(f"no free crash report name in {folder}")
