"""Knowledge errors: per-file problems (reported, never fatal) and index problems (refuse to serve)."""

from __future__ import annotations

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode


class FileRejected(Exception):
    """One source file cannot be indexed; `status` is "skipped" or "failed", `reason` says why.

    Not an `EngineError`: the builder turns it into a per-file status and carries on.
    """

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class IndexUnusable(EngineError):
    """The vector index and the chunk database disagree, or the index files are damaged."""

    exit_code = ExitCode.INDEX_UNUSABLE

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The knowledge index cannot be used: {reason}.",
            "Rebuild the index from its source folder (build again); nothing was served from it.",
        )
        self.reason = reason


class EmbeddingModelMismatch(IndexUnusable):
    def __init__(self, expected: str, found: str) -> None:
        super().__init__(f"it was built with embedding model {found}, not {expected}")
