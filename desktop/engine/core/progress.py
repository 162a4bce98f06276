"""Progress of long work (pack builds, the demo setup) for a terminal: counts, rate, time left.

`ProgressCounter` turns a build's per-file events into `JobProgress` snapshots (plain values, no
I/O). `ProgressDisplay` draws them: one bar redrawn in place on a terminal, or a plain line at
most every few seconds when the output is a file or a pipe (a log, CI), so nothing is silent for
minutes and a log is not flooded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

PLAIN_INTERVAL_S = 5.0
BAR_INTERVAL_S = 0.1
BAR_WIDTH = 24


@dataclass(frozen=True)
class JobProgress:
    """One snapshot of a build: files done of total, chunks embedded, time spent so far."""

    what: str
    files_done: int
    files_total: int
    chunks: int
    elapsed_s: float
    current: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.files_done / self.files_total) if self.files_total else 1.0

    @property
    def chunks_per_s(self) -> float | None:
        return self.chunks / self.elapsed_s if self.elapsed_s > 0 and self.chunks else None

    @property
    def seconds_left(self) -> float | None:
        """From the files' pace so far; None until there is a pace to go by."""
        if not self.files_done or self.elapsed_s <= 0 or self.files_done >= self.files_total:
            return None
        return self.elapsed_s / self.files_done * (self.files_total - self.files_done)

    def describe(self) -> str:
        """The counts as one line of text: "12/40 files, 310 chunks, 21 chunks/s, ~1m20s left"."""
        parts = [f"{self.files_done}/{self.files_total} files", f"{self.chunks} chunks"]
        if self.chunks_per_s is not None:
            parts.append(f"{self.chunks_per_s:.0f} chunks/s")
        left = self.seconds_left
        parts.append(f"~{format_duration(left)} left" if left is not None else "")
        return ", ".join(p for p in parts if p)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressCounter:
    """Counts the per-file events of a build (each file ends once: indexed, unchanged, skipped or
    failed) against the number of files it will see."""

    def __init__(
        self, what: str, files_total: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.what = what
        self.files_total = files_total
        self.files_done = 0
        self.chunks = 0
        self._clock = clock
        self._start = clock()

    def file_done(self, path: str, chunks: int) -> JobProgress:
        self.files_done += 1
        self.chunks += chunks
        return self.snapshot(path)

    def snapshot(self, current: str = "") -> JobProgress:
        elapsed = self._clock() - self._start
        total = max(self.files_total, self.files_done)
        return JobProgress(self.what, self.files_done, total, self.chunks, elapsed, current)


class ProgressDisplay:
    """Draws `JobProgress` on `stream`: a bar redrawn in place on a terminal, plain lines (at most
    every `PLAIN_INTERVAL_S`, and the last one) elsewhere. Call `clear` before printing other
    lines, `close` at the end."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        width: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.width = width
        self._clock = clock
        self._last_draw: float | None = None
        self._drawn = False
        self._pending: JobProgress | None = None

    def show(self, progress: JobProgress) -> None:
        now = self._clock()
        interval = BAR_INTERVAL_S if self.tty else PLAIN_INTERVAL_S
        finished = progress.files_done >= progress.files_total
        if self._last_draw is not None and now - self._last_draw < interval and not finished:
            self._pending = progress
            return
        self._draw(progress)
        self._last_draw = now

    def _draw(self, progress: JobProgress) -> None:
        self._pending = None
        if not self.tty:
            self.stream.write(f"{progress.what}: {progress.describe()}\n")
            self.stream.flush()
            return
        filled = round(progress.fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"{progress.what} [{bar}] {progress.fraction:4.0%} {progress.describe()}"
        room = self.width - len(line) - 2
        if progress.current and room > 10:
            line += "  " + _shorten(progress.current, room)
        self.stream.write("\r\x1b[2K" + line[: self.width])
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """End the bar's line so that the next text starts on its own line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def close(self) -> None:
        if self._pending is not None:
            self._draw(self._pending)
        self.clear()


def _shorten(text: str, room: int) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in text)  # file names are anyone's
    return printable if len(printable) <= room else "..." + printable[-(room - 3) :]
