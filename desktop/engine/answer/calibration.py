"""Support and abstention thresholds per embedding model, calibrated on the golden set's
calibration split (never on the questions we report): see docs/trust.md and
bench/calibrate_trust.py, which prints these values."""

from __future__ import annotations

from desktop.engine.answer.evidence import Thresholds

CALIBRATED: dict[str, Thresholds] = {
    # bench/calibrate_trust.py on 99 calibration questions (73 answerable, 26 not): the mean of
    # the best passage cosine and the best in-passage term coverage had the highest AUC (0.832).
    # Rule: answer at least 85 % of answerable questions (a wrong abstention loses a good
    # answer; a wrong answer is still checked sentence by sentence and quoted when unsupported),
    # so the threshold is the 15th percentile of answerable scores: answered 86.3 %, abstained
    # 53.8 % there (Youden's J would give 65.8 % / 96.2 %). The sentence-support thresholds are
    # design values (docs/trust.md), not yet fitted on labelled sentences.
    "all-minilm-l6-v2": Thresholds(
        lexical=0.6, semantic=0.62, abstain_below=0.5538, signal="best_cosine+passage_terms"
    ),
}
DEFAULT = Thresholds()


def thresholds_for(embedding_model_id: str) -> Thresholds:
    """The calibrated thresholds of that embedding model, or conservative defaults."""
    return CALIBRATED.get(embedding_model_id, DEFAULT)
