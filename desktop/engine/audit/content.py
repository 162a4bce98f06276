"""How much of a question's or answer's text an audit record keeps, as the policy says.

- full: the text as the user typed it or read it;
- redacted: the text through the redactor (PII and secrets replaced by marks);
- hash: an HMAC-SHA256 of the normalised text with this profile's own key, so the same question
  asked twice gives the same value (it can be counted) but no text can be read or confirmed
  without that key;
- none: nothing at all (the field is absent).

With "redacted" and no redactor available, the text is hashed instead and the record says so:
text is never kept in full because a redactor is missing.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from desktop.engine.policy.rules import AuditContent

Redactor = Callable[[str], str]
HASH_PREFIX = "hmac-sha256:"


def normalised(text: str) -> str:
    """What counts as the same question: case, width and spacing do not."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class TextKeeper:
    """Applies the policy's `audit_content` to each text that goes into a record."""

    mode: AuditContent
    hmac_key: bytes
    redact: Redactor | None = None

    @property
    def effective(self) -> AuditContent:
        """The mode really applied ("redacted" without a redactor falls back to "hash")."""
        if self.mode is AuditContent.REDACTED and self.redact is None:
            return AuditContent.HASH
        return self.mode

    def keep(self, text: str) -> str | None:
        mode = self.effective
        if mode is AuditContent.NONE:
            return None
        if mode is AuditContent.FULL:
            return text
        if mode is AuditContent.REDACTED:
            assert self.redact is not None
            return self.redact(text)
        digest = hmac.new(self.hmac_key, normalised(text).encode("utf-8"), hashlib.sha256)
        return HASH_PREFIX + digest.hexdigest()
