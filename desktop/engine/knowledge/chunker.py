"""Structure-aware chunking by the embedding model's own tokens.

Chunks never cross a heading or page boundary; inside a section, paragraphs are packed whole where
they fit, else split at sentences, else at words, else at characters, with a token overlap between
neighbouring chunks. Each chunk is an exact slice of the document's extracted text
(`text[char_start:char_end]`), so a citation can highlight precisely what was retrieved.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desktop.engine.knowledge.parsers import Block

TokenCounter = Callable[[str], int]

BLOCK_SEPARATOR = "\n\n"
MAX_EMBED_TOKENS = 250
MAX_PREFIX_TOKENS = 64

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
_WORD = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class ChunkParams:
    chunk_tokens: int = 200
    overlap_tokens: int = 32
    max_embed_tokens: int = MAX_EMBED_TOKENS

    def __post_init__(self) -> None:
        if self.chunk_tokens < 8 or not 0 <= self.overlap_tokens < self.chunk_tokens:
            raise ValueError("need chunk_tokens >= 8 and 0 <= overlap_tokens < chunk_tokens")


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    line_start: int | None
    line_end: int | None
    char_start: int
    char_end: int
    n_tokens: int
    embed_text: str


def join_blocks(blocks: Sequence[Block]) -> tuple[str, list[int]]:
    """The document's extracted text and each block's start offset in it."""
    starts: list[int] = []
    pos = 0
    for block in blocks:
        starts.append(pos)
        pos += len(block.text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(b.text for b in blocks), starts


def embed_prefix(title: str, heading_path: Sequence[str]) -> str:
    parts = [p for p in (title, *heading_path) if p]
    return " > ".join(parts)


def chunk_document(
    title: str,
    blocks: Sequence[Block],
    count_tokens: TokenCounter,
    params: ChunkParams | None = None,
) -> list[Chunk]:
    params = params or ChunkParams()
    text, starts = join_blocks(blocks)
    chunks: list[Chunk] = []
    # Chunk offsets only move forward, so line numbers come from running newline counts: linear
    # in the document, however many chunks one huge block yields.
    at_block, at_start, at_end, at_last = (_NewlineCursor(text) for _ in range(4))
    i = 0
    while i < len(blocks):
        j = i
        key = (blocks[i].heading_path, blocks[i].page)
        while j + 1 < len(blocks) and (blocks[j + 1].heading_path, blocks[j + 1].page) == key:
            j += 1
        prefix = embed_prefix(title, blocks[i].heading_path)
        if count_tokens(prefix) > MAX_PREFIX_TOKENS:
            prefix = embed_prefix(title[:120], ())
        budget = min(params.chunk_tokens, params.max_embed_tokens - count_tokens(prefix))
        budget = max(budget, 8)
        units: list[tuple[int, int, int]] = []  # (start, end, tokens) in document offsets
        for b in range(i, j + 1):
            units.extend(
                _units(text, starts[b], starts[b] + len(blocks[b].text), count_tokens, budget)
            )
        for start, end, n_tokens in _pack(text, units, count_tokens, budget, params.overlap_tokens):
            block_index = _block_at(starts, start, i, j)
            block = blocks[block_index]
            base = starts[block_index]
            line_start = line_end = None
            if block.line is not None:
                first = at_block.before(base)
                line_start = block.line + at_start.before(start) - first
                line_end = block.line + at_end.before(end) - first
                if end > base + len(block.text):  # spans later blocks: their own lines
                    last = _block_at(starts, end - 1, i, j)
                    last_line = blocks[last].line
                    if last_line is not None:
                        line_end = last_line + at_end.before(end) - at_last.before(starts[last])
            body = text[start:end]
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    text=body,
                    heading_path=block.heading_path,
                    page=block.page,
                    line_start=line_start,
                    line_end=line_end,
                    char_start=start,
                    char_end=end,
                    n_tokens=n_tokens,
                    embed_text=f"{prefix}\n{body}" if prefix else body,
                )
            )
        i = j + 1
    return chunks


def _block_at(starts: Sequence[int], offset: int, lo: int, hi: int) -> int:
    """The last block in lo..hi that starts at or before `offset` (lo if none)."""
    return max(lo, bisect.bisect_right(starts, offset, lo, hi + 1) - 1)


class _NewlineCursor:
    """Newlines in text[:offset], counted from the last offset asked (cheap when offsets grow)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.count = 0

    def before(self, offset: int) -> int:
        if offset >= self.offset:
            self.count += self.text.count("\n", self.offset, offset)
        else:
            self.count -= self.text.count("\n", offset, self.offset)
        self.offset = offset
        return self.count


def _units(
    text: str, start: int, end: int, count: TokenCounter, budget: int
) -> list[tuple[int, int, int]]:
    """Split text[start:end] into spans of at most `budget` tokens, at the coarsest level possible."""
    n = count(text[start:end])
    if n <= budget:
        return [(start, end, n)]
    spans = _spans(_SENTENCE_END, text, start, end)
    if len(spans) <= 1:
        spans = _spans(_WORD, text, start, end, match_is_unit=True)
    if len(spans) <= 1:  # one giant word: halve by characters
        mid = start + max(1, (end - start) // 2)
        return _units(text, start, mid, count, budget) + _units(text, mid, end, count, budget)
    out: list[tuple[int, int, int]] = []
    for s, e in spans:
        out.extend(_units(text, s, e, count, budget))
    return out


def _spans(
    pattern: re.Pattern[str], text: str, start: int, end: int, *, match_is_unit: bool = False
) -> list[tuple[int, int]]:
    segment = text[start:end]
    if match_is_unit:
        spans = [(start + m.start(), start + m.end()) for m in pattern.finditer(segment)]
        if spans and spans[0][0] > start:
            spans[0] = (start, spans[0][1])
        return [(s, e) for s, e in spans if e > s]
    spans = []
    pos = 0
    for m in pattern.finditer(segment):
        if m.start() > pos:
            spans.append((start + pos, start + m.end()))
        pos = m.end()
    if pos < len(segment):
        spans.append((start + pos, end))
    return spans


def _pack(
    text: str,
    units: list[tuple[int, int, int]],
    count: TokenCounter,
    budget: int,
    overlap: int,
) -> list[tuple[int, int, int]]:
    """Greedy packing of consecutive units into chunks, then step back `overlap` tokens."""
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < len(units):
        j = i
        total = units[i][2]
        while j + 1 < len(units) and total + units[j + 1][2] <= budget:
            j += 1
            total += units[j][2]
        start = units[i][0]
        n_tokens = count(text[start : units[j][1]])
        while j > i and n_tokens > budget:
            j -= 1
            n_tokens = count(text[start : units[j][1]])
        end = units[j][1]
        # Trim trailing whitespace so the chunk is the passage, not the gap after it.
        while end > start + 1 and text[end - 1].isspace():
            end -= 1
        out.append((start, end, n_tokens))
        if j == len(units) - 1:
            break
        k = j + 1
        carried = 0
        while k - 1 > i and carried + units[k - 1][2] <= overlap:
            k -= 1
            carried += units[k][2]
        i = k
    return out
