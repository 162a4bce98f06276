"""Sentence embeddings through llama.cpp with the catalog's embedding GGUF.

The GGUF carries mean pooling; vectors come back L2-normalised so inner product is cosine.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.engine import hardware, modelfiles
from desktop.engine.catalog import ModelEntry
from desktop.engine.runtime import _open_llama

Vectors = npt.NDArray[np.float32]


class Embedder:
    """Owns one embedding model; `embed` is safe to call from any thread (one call at a time)."""

    def __init__(self, entry: ModelEntry, *, n_threads: int | None = None) -> None:
        path = modelfiles.verify(entry)
        plan = hardware.plan_threads(n_threads)
        self.entry = entry
        self.n_ctx = entry.context_length or 512
        self._lock = threading.Lock()
        self._llama: Any = _open_llama(
            path,
            embedding=True,
            n_ctx=self.n_ctx,
            n_batch=self.n_ctx,
            n_ubatch=self.n_ctx,
            n_threads=plan.n_threads,
            n_threads_batch=plan.n_threads_batch,
            n_gpu_layers=0,
        )
        self.dimension = int(self._llama.n_embd())

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True))

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Normalised float32 vectors, one row per text (texts longer than the window are cut)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            rows = [self._llama.embed(text, normalize=True, truncate=True) for text in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension)

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
