"""Evaluation of answer quality on golden sets: the data in `eval/golden/`, the scoring in
`eval.trust_metrics` (pure functions, no model), the measuring command in `bench/eval_trust.py`."""
