"""Guardrail detectors: plain functions and small scorers over text, with no policy in them.

They find things (a hazard category, an injected instruction, an e-mail address, an API key, a
zero-width character); the policy (`desktop.engine.policy`) decides what finding them means, and the
answer pipeline's guard stages and the pack builder apply that decision.
"""
