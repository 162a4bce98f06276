"""CSV and PPTX readers, and the vector index's bytes round trip (flat and flat+IVF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from desktop.engine.knowledge.errors import IndexUnusable
from desktop.engine.knowledge.parsers import parse_file
from desktop.engine.knowledge.vector_index import FlatIvfIndex


def test_csv_is_a_table_cited_by_its_rows_and_decodes_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "budget.csv"
    path.write_bytes("item,cost\nlaptop,1200\n,\ncaf\u00e9 lunch,\u20ac12\n".encode("cp1252"))
    doc = parse_file(path)
    assert [(b.text, b.heading_path) for b in doc.blocks] == [
        (
            "| item | cost |\n|---|---|\n| laptop | 1200 |\n| caf\u00e9 lunch | \u20ac12 |",
            ("Rows 2-4",),
        ),
    ]
    assert any("1252" in note for note in doc.notes)


def test_pptx_slides_become_pages_under_their_titles(tmp_path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for title, body in (("Onboarding", "Get your badge first."), ("Security", "Use a PIV card.")):
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
        slide.shapes.title.text = title
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
        box.text_frame.text = body
    path = tmp_path / "deck.pptx"
    deck.save(str(path))
    doc = parse_file(path)
    assert [(b.text, b.heading_path, b.page) for b in doc.blocks] == [
        ("Get your badge first.", ("Onboarding",), 1),
        ("Use a PIV card.", ("Security",), 2),
    ]


def _unit(rng: np.random.Generator, n: int, dim: int) -> npt.NDArray[np.float32]:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    out: npt.NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


@pytest.mark.parametrize("ivf_threshold", [10_000, 500])
def test_index_bytes_round_trip(ivf_threshold: int) -> None:
    rng = np.random.default_rng(7)
    vectors = _unit(rng, 1_000, 16)
    ids = np.arange(1_000, dtype=np.int64) * 3 + 11  # ids are row ids, not positions
    index = FlatIvfIndex.build(ids, vectors, ivf_threshold=ivf_threshold, nprobe=8)
    copy = FlatIvfIndex.from_bytes(index.to_bytes())
    assert (copy.dimension, copy.ntotal, copy.nprobe) == (16, 1_000, 8)
    assert np.array_equal(copy.ids(), ids)
    assert (copy._ivf is not None) == (ivf_threshold <= 1_000)
    queries = _unit(rng, 5, 16)
    allowed = ids[::7]
    for subset in (None, allowed):
        s1, i1 = index.search(queries, 10, subset)
        s2, i2 = copy.search(queries, 10, subset)
        assert np.array_equal(i1, i2) and np.allclose(s1, s2)
    _, found = copy.search(queries, 10, allowed)
    assert set(found.ravel()) <= set(allowed.tolist())


def test_damaged_index_bytes_are_refused() -> None:
    rng = np.random.default_rng(1)
    blob = FlatIvfIndex.build(np.arange(50, dtype=np.int64), _unit(rng, 50, 8)).to_bytes()
    for bad in (b"", b"\x05\x00\x00\x00junk!", blob[: len(blob) // 2]):
        with pytest.raises(IndexUnusable):
            FlatIvfIndex.from_bytes(bad)


@pytest.mark.parametrize("step", [1, 3])  # contiguous ids (the fast path) and gaps
def test_filtered_search_is_exact_one_query_or_many(step: int) -> None:
    rng = np.random.default_rng(step)
    vectors = _unit(rng, 2_000, 16)
    ids = np.arange(2_000, dtype=np.int64) * step + 5
    index = FlatIvfIndex.build(ids, vectors)
    allowed = np.concatenate([rng.choice(ids, 150, replace=False), [-1, 10**9]])  # strays ignored
    queries = _unit(rng, 4, 16)
    _, many = index.search(queries, 10, allowed)
    mask = np.isin(ids, allowed)
    for q, row in zip(queries, many, strict=True):
        truth = ids[mask][np.argsort(-(vectors[mask] @ q), kind="stable")[:10]]
        _, one = index.search(q, 10, allowed)
        assert np.array_equal(one[0], truth) and np.array_equal(row, truth)
