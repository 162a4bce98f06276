"""Make a typed or pasted message safe to store and send, or say why it cannot be."""

from __future__ import annotations

import re
import unicodedata

from desktop.engine.core.errors import InvalidInput

MAX_MESSAGE_CHARS = 100_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_message(text: str) -> str:
    """NFC-normalised text without control characters or lone surrogates, never empty."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise InvalidInput("The message is empty.", "Type a question first.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"The message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}.",
            "Ask about a shorter excerpt, or have the document added to a pack.",
        )
    return text
