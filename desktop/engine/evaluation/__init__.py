"""The evaluation harness: golden sets run through the app's own answer pipeline, per role, scored
and reported (`enclave admin eval`), compared (`enclave admin eval compare`), and summarised into
the signed pack manifest (`enclave admin build --eval`). See docs/evaluation.md."""
