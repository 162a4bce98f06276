"""Support and abstention thresholds per embedding model, calibrated on the golden set's
calibration split (never on the questions we report): see docs/trust.md and
bench/calibrate_trust.py, which prints these values."""

from __future__ import annotations

from desktop.engine.answer.evidence import Thresholds

CALIBRATED: dict[str, Thresholds] = {
    "all-minilm-l6-v2": Thresholds(lexical=0.6, semantic=0.62, abstain_below=0.35),
}
DEFAULT = Thresholds()


def thresholds_for(embedding_model_id: str) -> Thresholds:
    """The calibrated thresholds of that embedding model, or conservative defaults."""
    return CALIBRATED.get(embedding_model_id, DEFAULT)
