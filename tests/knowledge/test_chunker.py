"""Chunker properties: exact slices, token budget, full coverage, structure kept."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.engine.knowledge.chunker import ChunkParams, chunk_document, join_blocks
from desktop.engine.knowledge.parsers import Block
from desktop.engine.runtime.embedder import Embedder


def words(text: str) -> int:
    return len(text.split()) + 2  # like a real tokenizer: [CLS] + [SEP]


_word = st.text(alphabet="abcdefghij", min_size=1, max_size=30)
_sentence = st.lists(_word, min_size=1, max_size=40).map(lambda ws: " ".join(ws) + ".")
_paragraph = st.lists(_sentence, min_size=1, max_size=12).map(" ".join)
_blocks = st.lists(
    st.builds(
        Block,
        _paragraph,
        st.sampled_from([(), ("Intro",), ("Intro", "Detail"), ("Other",)]),
        st.none() | st.integers(1, 5),
        st.none() | st.integers(1, 500),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(blocks=_blocks, size=st.integers(10, 120), overlap=st.integers(0, 9))
def test_chunks_are_exact_slices_within_budget_and_cover_everything(
    blocks: list[Block], size: int, overlap: int
) -> None:
    params = ChunkParams(chunk_tokens=size, overlap_tokens=overlap)
    chunks = chunk_document("Doc", blocks, words, params)
    text, _ = join_blocks(blocks)
    covered = [False] * len(text)
    for i, chunk in enumerate(chunks):
        assert chunk.ordinal == i
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text.strip()
        assert words(chunk.text) <= size
        assert words(chunk.embed_text) <= params.max_embed_tokens + 2
        for pos in range(chunk.char_start, chunk.char_end):
            covered[pos] = True
    missed = [text[i] for i, c in enumerate(covered) if not c and not text[i].isspace()]
    assert not missed, "every non-space character is in some chunk"
    starts = [c.char_start for c in chunks]
    assert starts == sorted(starts)


@settings(max_examples=60, deadline=None)
@given(blocks=_blocks)
def test_chunks_never_cross_a_heading_or_page(blocks: list[Block]) -> None:
    _, starts = join_blocks(blocks)
    for chunk in chunk_document(
        "Doc", blocks, words, ChunkParams(chunk_tokens=30, overlap_tokens=5)
    ):
        inside = [
            b for b, s in zip(blocks, starts, strict=True)
            if s < chunk.char_end and s + len(b.text) > chunk.char_start
        ]  # fmt: skip
        assert {(b.heading_path, b.page) for b in inside} == {(chunk.heading_path, chunk.page)}


def test_overlap_repeats_text_between_neighbours() -> None:
    para = " ".join(f"Sentence number {i} is here." for i in range(60))
    chunks = chunk_document("T", [Block(para)], words, ChunkParams(40, 10))
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert b.char_start < a.char_end, "neighbouring chunks overlap"


def test_real_tokenizer_budget_and_title_prefix(embedder: Embedder) -> None:
    para = " ".join(["Supersonic flow over a swept wing creates shock-induced separation."] * 80)
    blocks = [Block(para, ("Aerodynamics", "Wings"), None, 3)]
    chunks = chunk_document("Cranfield notes", blocks, embedder.count_tokens)
    assert len(chunks) > 2
    for chunk in chunks:
        assert embedder.count_tokens(chunk.embed_text) <= 256
        assert chunk.embed_text.startswith("Cranfield notes > Aerodynamics > Wings\n")
        assert chunk.line_start == 3
