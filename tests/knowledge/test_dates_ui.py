"""The Sources panel shows each document's own date, says "file date" for a file time, falls back
to the pack's as-of only when the document has no date, and labels a superseded document."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from desktop.engine.access import CitationRef, Passage
from desktop.ui.sources_panel import SourcesPanel


def _passage(n: int, **dates: str) -> Passage:
    return Passage(
        ref=CitationRef(n, "handbook", 2, "staff", 10 + n),
        title=f"Page {n}",
        text="Staff book travel through the approved agency.",
        as_of="2025-02-27",
        **dates,  # type: ignore[arg-type]
    )


def test_sources_show_the_document_date_and_its_standing(qtbot) -> None:
    panel = SourcesPanel()
    qtbot.addWidget(panel)
    panel.show_sources(
        [
            _passage(1, doc_date="2024-03-05", date_source="front_matter"),
            _passage(2, doc_date="2026-12-01", date_source="file"),
            _passage(3),  # a shard built before dates
            _passage(
                4,
                doc_date="2019-05-01",
                date_source="pdf_metadata",
                superseded_by="travel-2024.md",
            ),
        ]
    )
    text = panel.view.toPlainText()
    cards = text.split("Open original")
    assert "Updated 2024-03-05" in cards[0]
    assert "file date 2026-12-01" in cards[1] and "Updated 2026-12-01" not in cards[1]
    assert "pack as of 2025-02-27" in cards[2]
    assert "Updated 2019-05-01" in cards[3] and "superseded by travel-2024.md" in cards[3]
