"""The optional guard-model slot: an administrator's guard GGUF (e.g. a Llama Guard 3 1B build they
provision with `enclave models add --role guard`), run by llama.cpp through a `ModelManager` of its
own, its verdict mapped to the MLCommons hazard categories.

Llama Guard 3's GGUF carries its chat template, which renders the whole classification task
(categories S1..S14, the conversation) around the user's message; the model answers `safe` or
`unsafe` and, on the next line, the categories (`S1,S10`). No such model ships with Enclave: the
default screen (`hazards.HazardScreen`) needs none. The screen adds the guard model's categories
to the default screen's findings; it never removes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from desktop.engine.guard.hazards import BY_CODE, Hazard
from desktop.engine.runtime.chat_model import ChatModel

_CODE = re.compile(r"\bS(\d{1,2})\b")
GUARD_MAX_TOKENS = 16


@dataclass(frozen=True)
class GuardModelVerdict:
    safe: bool
    hazards: tuple[Hazard, ...]  # mapped categories (S14 "code interpreter abuse" has none)
    raw: str  # the model's words, first line and categories


def parse_verdict(text: str) -> GuardModelVerdict:
    """`safe` / `unsafe\\nS1,S10` (Llama Guard 3's output) as a verdict. Anything else (an
    empty or garbled reply) is an unsafe verdict with no category: the screen then names the
    guard model itself, so a broken guard model is visible, never a silent pass."""
    cleaned = text.strip()
    first = cleaned.split("\n", 1)[0].strip().lower()
    if first == "safe":
        return GuardModelVerdict(True, (), cleaned[:200])
    codes = [f"S{int(n)}" for n in _CODE.findall(cleaned)]
    hazards = tuple(dict.fromkeys(BY_CODE[c] for c in codes if c in BY_CODE))
    return GuardModelVerdict(False, hazards, cleaned[:200])


class GuardModelScreen:
    """Asks a loaded guard model about one message."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model

    @property
    def model_id(self) -> str:
        info = self.model.info
        return info.entry.id if info else "guard model"

    def classify(self, text: str) -> GuardModelVerdict:
        generation = self.model.stream_chat(
            [{"role": "user", "content": text}], max_tokens=GUARD_MAX_TOKENS, temperature=0.0
        )
        try:
            reply = "".join(token.text for token in generation)
        finally:
            generation.close()
        return parse_verdict(reply)
