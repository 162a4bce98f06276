"""Similarity to written descriptions: the embedding half of the default screens.

A `PrototypeSet` is a fixed list of short texts (what a hazard category or an injection looks
like, and what harmless text that merely sounds like one looks like), embedded once, lazily, with
the embedder the app already runs (all-MiniLM-L6-v2). Texts are compared by cosine similarity
(the embedder returns unit vectors, so a dot product).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embeds(Protocol):
    """What the screens need of an embedder (`runtime.embedder.Embedder` is the real one)."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class PrototypeSet:
    """Labelled texts and their vectors (embedded on first use, once, thread-safe)."""

    def __init__(self, labelled: Sequence[tuple[str, str]]) -> None:
        self.labels = tuple(label for label, _ in labelled)
        self.texts = tuple(text for _, text in labelled)
        self._vectors: Vectors | None = None
        self._lock = threading.Lock()

    def vectors(self, embedder: Embeds) -> Vectors:
        with self._lock:
            if self._vectors is None:
                self._vectors = np.asarray(embedder.embed(list(self.texts)), dtype=np.float32)
            return self._vectors

    def best_by_label(self, embedder: Embeds, queries: Vectors) -> dict[str, tuple[float, int]]:
        """Per label: the highest similarity of any query row to any of its texts, and which
        query row it was."""
        sims = queries @ self.vectors(embedder).T  # (queries, prototypes)
        best: dict[str, tuple[float, int]] = {}
        for column, label in enumerate(self.labels):
            row = int(np.argmax(sims[:, column]))
            value = float(sims[row, column])
            if label not in best or value > best[label][0]:
                best[label] = (value, row)
        return best


_SEGMENT = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_SEGMENTS = 8
MAX_SEGMENT_CHARS = 600


def segments(text: str) -> list[str]:
    """The text itself and, when it has several sentences or lines, its longest pieces: a
    harmful request or an injected instruction hidden in a long paste is judged on its own."""
    whole = text.strip()
    pieces = [p.strip()[:MAX_SEGMENT_CHARS] for p in _SEGMENT.split(whole) if len(p.strip()) > 12]
    if len(pieces) <= 1:
        return [whole]
    if len(pieces) > MAX_SEGMENTS:
        # The first and last pieces (where a request usually sits) and the longest of the rest.
        middle = sorted(pieces[1:-1], key=len, reverse=True)[: MAX_SEGMENTS - 2]
        pieces = [pieces[0], *middle, pieces[-1]]
    return [whole, *pieces]
