"""What changed in a pack version since the one before: per audience, documents added, changed,
removed and unchanged.

The signed manifest carries only the counts (`changes`), per audience, as it already carries each
audience's document count: a reader of one audience learns nothing about another audience's
documents but how many moved. The names stay inside each audience's encrypted shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("added", "changed", "removed", "unchanged")


@dataclass(frozen=True)
class DocumentChanges:
    """One audience's documents against the previous version (relative paths, sorted)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return {kind: len(getattr(self, kind)) for kind in KINDS}

    def names(self) -> dict[str, list[str]]:
        """What the shard records: the names of what moved (unchanged ones are not listed)."""
        return {kind: list(getattr(self, kind)) for kind in KINDS if kind != "unchanged"}

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def diff_documents(before: dict[str, str], after: dict[str, str]) -> DocumentChanges:
    """Compare two path -> sha256 maps of one audience's live documents."""
    common = before.keys() & after.keys()
    return DocumentChanges(
        added=tuple(sorted(after.keys() - before.keys())),
        changed=tuple(sorted(p for p in common if before[p] != after[p])),
        removed=tuple(sorted(before.keys() - after.keys())),
        unchanged=tuple(sorted(p for p in common if before[p] == after[p])),
    )


@dataclass(frozen=True)
class ChangeSummary:
    """The signed `changes` of a manifest: since which version, how it was built, the counts."""

    from_version: int
    incremental: bool
    audiences: dict[str, dict[str, int]]

    def fields(self) -> dict[str, Any]:
        return {
            "from_version": self.from_version,
            "incremental": self.incremental,
            "audiences": {a: dict(c) for a, c in sorted(self.audiences.items())},
        }

    def describe(self, audiences: set[str] | None = None) -> str:
        """ "since v6: 2 added, 1 changed, 1 removed (everyone, staff)" over `audiences` (None:
        all); "" when nothing is known about them."""
        chosen = sorted(a for a in self.audiences if audiences is None or a in audiences)
        if not chosen:
            return ""
        totals = {k: sum(self.audiences[a].get(k, 0) for a in chosen) for k in KINDS}
        moved = [f"{totals[k]} {k}" for k in ("added", "changed", "removed") if totals[k]]
        text = ", ".join(moved) if moved else "no document changed"
        return f"since v{self.from_version}: {text} ({', '.join(chosen)})"


def read_summary(signed: dict[str, Any]) -> ChangeSummary | None:
    """The manifest's `changes`, strictly typed (a field of another shape reads as absent: it is
    only shown, never acted on)."""
    value = signed.get("changes")
    if not isinstance(value, dict):
        return None
    from_version, incremental = value.get("from_version"), value.get("incremental")
    audiences = value.get("audiences")
    if not isinstance(from_version, int) or not _count(from_version):
        return None
    if not isinstance(incremental, bool):
        return None
    if not isinstance(audiences, dict):
        return None
    parsed: dict[str, dict[str, int]] = {}
    for name, counts in audiences.items():
        if not isinstance(name, str) or not isinstance(counts, dict):
            return None
        if set(counts) != set(KINDS) or not all(_count(counts[k]) for k in KINDS):
            return None
        parsed[name] = {k: int(counts[k]) for k in KINDS}
    return ChangeSummary(int(from_version), incremental, parsed)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
