"""Progress of long work: counts, rate and time left, drawn as a bar on a terminal and as
occasional plain lines in a log."""

from __future__ import annotations

import io

from desktop.engine.core.progress import (
    JobProgress,
    ProgressCounter,
    ProgressDisplay,
    format_duration,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counts_rate_and_time_left() -> None:
    clock = Clock()
    counter = ProgressCounter("building", 10, clock=clock)
    for _ in range(4):
        clock.now += 2
        snap = counter.file_done("a.md", 10)
    assert snap.describe() == "4/10 files, 40 chunks, 5 chunks/s, ~12s left"
    assert snap.fraction == 0.4
    done = JobProgress("building", 10, 10, 100, 20.0)
    assert done.seconds_left is None and done.describe() == "10/10 files, 100 chunks, 5 chunks/s"
    assert JobProgress("b", 0, 10, 0, 0.0).describe() == "0/10 files, 0 chunks"


def test_more_files_than_announced_never_shows_over_100_percent() -> None:
    counter = ProgressCounter("building", 1, clock=Clock())
    counter.file_done("a", 1)
    snap = counter.file_done("b", 1)
    assert (snap.files_done, snap.files_total, snap.fraction) == (2, 2, 1.0)


def test_durations() -> None:
    assert [format_duration(s) for s in (0, 59.4, 61, 3600 + 120)] == [
        "0s",
        "59s",
        "1m01s",
        "1h02m",
    ]


def test_plain_lines_in_a_log_at_most_every_few_seconds_and_the_last() -> None:
    clock = Clock()
    out = io.StringIO()
    display = ProgressDisplay(out, tty=False, clock=clock)
    counter = ProgressCounter("building", 100, clock=clock)
    for _ in range(100):
        clock.now += 0.5  # 50 s in all: a line every 5 s at most, then the final one
        display.show(counter.file_done("x.md", 3))
    display.close()
    lines = out.getvalue().splitlines()
    assert 9 <= len(lines) <= 12
    assert all(line.startswith("building: ") for line in lines)
    assert lines[-1] == "building: 100/100 files, 300 chunks, 6 chunks/s"
    assert "\r" not in out.getvalue()


def test_a_bar_redrawn_in_place_on_a_terminal() -> None:
    clock = Clock()
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True, width=120, clock=clock)
    counter = ProgressCounter("building", 4, clock=clock)
    clock.now += 1
    display.show(counter.file_done("docs/evil\x1b[31mname.md", 5))
    text = out.getvalue()
    assert text.startswith("\r\x1b[2Kbuilding [######------------------]  25% 1/4 files")
    assert "docs/evil?[31mname.md" in text and "\x1b[31m" not in text
    display.clear()
    assert out.getvalue().endswith("\n")
    display.clear()  # nothing drawn since: no empty line
    assert not out.getvalue().endswith("\n\n")
