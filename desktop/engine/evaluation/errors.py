"""Errors an administrator running an evaluation can act on."""

from __future__ import annotations

from collections.abc import Sequence

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode


class EvaluationError(EngineError):
    """An evaluation cannot run as asked (bad golden set, no pack to evaluate, bad report)."""

    exit_code = ExitCode.USAGE


class GoldenSetInvalid(EvaluationError):
    """A golden set file breaks the format; `problems` lists every bad line with its number."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        shown = list(problems[:50])
        more = len(problems) - len(shown)
        lines = "\n".join(f"  {p}" for p in shown) + (f"\n  ... and {more} more" if more else "")
        super().__init__(
            f"The golden set {path} has {len(problems)} problem(s):\n{lines}",
            "Fix those lines (docs/evaluation.md describes the format), then run again.",
        )
        self.path = path
        self.problems = tuple(problems)


class ReportInvalid(EvaluationError):
    """A results file given to `compare` is not an evaluation report of this version."""
