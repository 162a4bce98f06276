"""The administrator's policy: which guardrail rules run, what each does, what the audit log keeps.

`rules.Policy` is the typed record every layer above reads (the answer pipeline's guard stages, the
audit log, About and `doctor`). Loading, signing and verifying the policy file live beside it.
"""
