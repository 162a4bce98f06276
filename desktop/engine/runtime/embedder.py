"""Sentence embeddings through llama.cpp with the catalog's embedding GGUF.

The GGUF carries mean pooling; vectors come back L2-normalised so inner product is cosine.

By default many texts are packed into one ubatch of the model's own window (512 tokens) with flash
attention (without flash attention packing was 4.6x slower, BENCHMARKS.md). bench/bench_retrieval.py
(B5, ABAB, median of 3) measured packed 15.3 chunks/s against 2.8 one text per call on 161 handbook
chunks, 2 threads on a loaded 2-core machine, vectors within 1.1e-4 of the unpacked ones;
`batch_tokens=0` gives one text per call. The ubatch was 2,048 tokens until 1 Dec 2026: packed
sequences are masked from each other but their attention is still computed over the whole ubatch,
so 512 is faster (192 chunks of 800 characters: 17.7 chunks/s against 12.6 at 2,048, 16.5 at
1,024; 15-sentence query-time calls 74 ms against 78 ms) and its compute buffer is a quarter the
size (+43 MB resident after 99 texts against +250 MB: docs/performance.md, B13). Each text is cut to
the model's own window first, because llama-cpp-python only truncates to the batch size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.engine.runtime import hardware, modelfiles
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.model_manager import open_llama

Vectors = npt.NDArray[np.float32]

BATCH_TOKENS = 512  # packed ubatch size (>= the model window); 0 (or less): one text per call
# Query-time calls (a question, its passages and sentences: at most a few dozen texts) keep their
# vectors for the next stage: the input screen, each pack's retrieval and the evidence scorer all
# embed the question, so one answer embedded it three or four times. Build calls (hundreds of
# distinct chunks) bypass the cache.
RECENT_CALL_TEXTS = 64
RECENT_TEXTS = 512


class Embedder:
    """Owns one embedding model; `embed` is safe to call from any thread (one call at a time)."""

    def __init__(
        self, entry: ModelEntry, *, n_threads: int | None = None, batch_tokens: int = BATCH_TOKENS
    ) -> None:
        path = modelfiles.verify(entry)
        plan = hardware.plan_threads(n_threads)
        self.entry = entry
        self.n_ctx = entry.context_length or 512
        self.batch_tokens = max(batch_tokens, self.n_ctx)
        self._packed = batch_tokens >= self.n_ctx
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._llama: Any = open_llama(
            path,
            embedding=True,
            n_ctx=self.batch_tokens,
            n_batch=self.batch_tokens,
            n_ubatch=self.batch_tokens,
            flash_attn=self._packed,
            n_threads=plan.n_threads,
            n_threads_batch=plan.n_threads_batch,
            n_gpu_layers=0,
        )
        self.dimension = int(self._llama.n_embd())

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True))

    def _fit_window(self, text: str) -> str:
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=True)
        if len(tokens) <= self.n_ctx:
            return text
        # Keep room for [CLS]/[SEP]; detokenising a prefix of real tokens is always valid text.
        kept = tokens[1 : self.n_ctx - 1]
        return bytes(self._llama.detokenize(kept)).decode("utf-8", errors="ignore")

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Normalised float32 vectors, one row per text (texts longer than the window are cut)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) > RECENT_CALL_TEXTS:
            with self._lock:
                return self._embed_locked(texts)
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._recent]
            if missing:
                for text, row in zip(missing, self._embed_locked(missing), strict=True):
                    self._recent[text] = row
            for text in texts:
                self._recent.move_to_end(text)
            rows = np.stack([self._recent[t] for t in texts])
            while len(self._recent) > RECENT_TEXTS:
                self._recent.popitem(last=False)
        return rows

    def _embed_locked(self, texts: Sequence[str]) -> Vectors:
        fitted = [self._fit_window(text) for text in texts]
        if self._packed:
            rows = self._llama.embed(fitted, normalize=True, truncate=True)
        else:
            rows = [self._llama.embed(t, normalize=True, truncate=True) for t in fitted]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension)

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
