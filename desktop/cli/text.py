"""Text from files, requests, grants or packs made safe to print on a terminal."""

from __future__ import annotations

import re

# C0/C1 controls (ESC starts terminal sequences that can retitle, hide or fake output) and the bidi
# embeddings, overrides and isolates that reorder what a line appears to say.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(value: object, *, keep_newlines: bool = False) -> str:
    """`value` with every control and bidi character shown as its escape (`\\x1b`, `\\u202e`)."""
    text = str(value)
    if keep_newlines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)
