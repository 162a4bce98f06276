"""Document packs: signed, dated, versioned bundles of per-audience encrypted shards.

- `signing`: canonical JSON and Ed25519 envelopes (`{"signed": ..., "signatures": [...]}`, after TUF).
- `trust`: which administrator keys this machine trusts (the system config folder, nothing else).
- `archive`: the single-file form, read safely (no `..`, absolute paths or links) and verified before
  anything inside is parsed.
- `grants`: enrolment requests and signed grants carrying audience keys sealed to one user.
"""
