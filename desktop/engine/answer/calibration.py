"""Support and abstention thresholds per embedding model, calibrated on the golden set's
calibration split (never on the questions we report): see docs/trust.md and
bench/calibrate_trust.py, which prints these values."""

from __future__ import annotations

from desktop.engine.answer.evidence import Thresholds

CALIBRATED: dict[str, Thresholds] = {
    # bench/calibrate_trust.py on 99 calibration questions (73 answerable, 26 not), questions
    # not in English translated first as in the app: the mean of the best passage cosine and the
    # rarity-weighted term coverage of the best passage had the highest AUC (0.920; the previous
    # signal, cosine + unweighted terms, 0.897). Rule: answer at least 85 % of answerable
    # questions (a wrong abstention loses a good answer; a wrong answer is still checked sentence
    # by sentence and quoted when unsupported), so the threshold is the 15th percentile of
    # answerable scores: answered 86.3 %, abstained 80.8 % there (answering 90 % would abstain on
    # only 65.4 %). The cosine is taken against the passages' indexed vectors (B2; AUC 0.918, the
    # threshold was 0.6038 with the passages' text embedded again). The sentence-support
    # thresholds are design values (docs/trust.md).
    "all-minilm-l6-v2": Thresholds(
        lexical=0.6, semantic=0.62, abstain_below=0.5918, signal="best_cosine+rare_terms"
    ),
}
DEFAULT = Thresholds()


def thresholds_for(embedding_model_id: str) -> Thresholds:
    """The calibrated thresholds of that embedding model, or conservative defaults."""
    return CALIBRATED.get(embedding_model_id, DEFAULT)
