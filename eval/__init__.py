"""Golden sets and their tools: the data in `eval/golden/`, its checker (`eval.golden_check`), the
dataset adapters (`eval.adapters`) and the CI gate (`eval/ci_gate.sh`). The scoring and the
`enclave admin eval` harness ship in `desktop.engine.evaluation`; `eval.trust_metrics` keeps the
names older scripts import."""
