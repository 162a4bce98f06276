"""The terminal progress bar: one redrawn line on a terminal, one line per question otherwise."""

from __future__ import annotations

import io

from desktop.cli.evaluate import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redrawn_bar() -> None:
    screen = Terminal()
    bar = ProgressBar(screen)
    bar.show(1, 4, {"id": "leave-001", "answered": True, "wall_s": 2.5})
    bar.show(4, 4, {"id": "unans-\x1b[2J", "abstained": True, "wall_s": 0.4})
    first, last = screen.getvalue().split("\r")[1:]
    drawn = first[1 : first.index("]")]
    assert drawn.count("#") == round(len(drawn) / 4) and set(drawn) == {"#", "."}
    assert " 1/4 leave-001 answered (2.5 s)" in first
    assert last.startswith("[" + "#" * len(drawn) + "] 4/4") and last.endswith("\n")
    assert "\x1b" not in screen.getvalue()  # ids from a golden set are escaped


def test_a_log_gets_a_line_per_question() -> None:
    log = io.StringIO()
    ProgressBar(log).show(2, 9, {"id": "q2", "error": "ModelMissing: ...", "wall_s": 0.0})
    assert log.getvalue() == "[2/9] q2 error (0.0 s)\n"
