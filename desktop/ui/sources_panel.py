"""The sources of one answer, so it can be checked: title, pack, audience, the document's own date
(or the pack's "as of" when the document has none), its standing (superseded, not yet in effect),
the passage.

Each source is a card; the words of the passage that also appear in the answer are highlighted (the
supporting words). Clicking a chip [n] in the answer selects card n. The trust layer's verdicts have
their place at the top: an abstention ("the documents don't say", with the closest passages below)
or the count of sentences marked unsupported. Everything shown is escaped: a passage is text, never
markup.
"""

from __future__ import annotations

import datetime
import html
import re

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.engine.access import Passage
from desktop.engine.knowledge.doc_dates import date_label, status_label
from desktop.ui.backend import Verdict
from desktop.ui.chat_view import InertBrowser

EMPTY = (
    "When an answer cites your documents, its sources appear here. Click a [n] in the "
    "answer to open that passage, highlighted, in its document."
)
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "all",
        "any",
        "can",
        "had",
        "her",
        "was",
        "one",
        "our",
        "out",
        "has",
        "have",
        "this",
        "that",
        "with",
        "from",
        "they",
        "will",
        "would",
        "there",
        "their",
        "what",
        "when",
        "which",
        "who",
        "how",
        "about",
        "into",
        "than",
        "then",
        "them",
        "these",
        "those",
        "been",
        "were",
        "also",
        "your",
        "more",
        "some",
        "such",
        "only",
        "other",
        "just",
        "very",
        "may",
        "must",
        "should",
        "could",
        "does",
        "did",
        "its",
    ]
)


def source_date(passage: Passage) -> str:
    """The document's date as it reads ("Updated 2024-03-05", "file date 2026-12-01"), or the
    pack's as-of when the document carries none (never a copy's date passed off as its own)."""
    if passage.doc_date:
        return date_label(passage.doc_date, passage.date_source, passage.date_detail)
    return f"pack as of {passage.as_of}" if passage.as_of else ""


def source_standing(passage: Passage) -> str:
    """What a reader must know about the document's standing ("superseded by X"), or ""."""
    return status_label(
        passage.superseded_by or None, None, passage.effective or None, datetime.date.today()
    )


def supporting_words(answer: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(answer) if len(w) > 2 and w.lower() not in _STOP}


def highlight_passage(passage: str, words: set[str], background: str, foreground: str) -> str:
    """Escaped passage HTML with `words` highlighted."""
    out: list[str] = []
    last = 0
    for match in _WORD.finditer(passage):
        out.append(html.escape(passage[last : match.start()]))
        word = match.group(0)
        if word.lower() in words:
            out.append(
                f'<span style="background-color:{background}; color:{foreground}">'
                f"{html.escape(word)}</span>"
            )
        else:
            out.append(html.escape(word))
        last = match.end()
    out.append(html.escape(passage[last:]))
    return "".join(out).replace("\n", "<br>")


class SourcesPanel(QWidget):
    """`openOriginalRequested(passage)` asks the window to open a source's whole document."""

    openOriginalRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Sources")
        self.title = QLabel("Sources")
        self.title.setObjectName("panelTitle")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title.setFont(font)
        self.verdict = QLabel()
        self.verdict.setObjectName("verdictBanner")
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("Answer check")
        self.verdict.hide()
        self.view = InertBrowser()
        self.view.setAccessibleName("Source passages")
        self.view.anchorClicked.connect(self._on_anchor)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.verdict)
        layout.addWidget(self.view, 1)
        self._citations: list[Passage] = []
        self._answer = ""
        self._verdict: Verdict | None = None
        self._restricted_hint = ""
        self._searched = ""
        self.selected: int | None = None
        self._render()

    def _on_anchor(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("open:") and text[5:].isdigit():
            n = int(text[5:])
            for passage in self._citations:
                if passage.n == n and passage.available:
                    self.openOriginalRequested.emit(passage)

    @property
    def citations(self) -> list[Passage]:
        return list(self._citations)

    @property
    def answer(self) -> str:
        return self._answer

    @property
    def verdict_shown(self) -> Verdict | None:
        return self._verdict

    def refresh(self) -> None:
        """Render again (after a palette change)."""
        self._render()

    def clear_sources(self) -> None:
        self.show_sources([])

    def show_sources(
        self,
        citations: list[Passage],
        answer: str = "",
        verdict: Verdict | None = None,
        selected: int | None = None,
        restricted_hint: str = "",
        searched: str = "",
    ) -> None:
        """`searched`: what retrieval looked for, when it was not the question as typed."""
        self._restricted_hint = restricted_hint
        self._searched = searched
        self._citations = list(citations)
        self._answer = answer
        self._verdict = verdict
        self.selected = selected
        self._render()

    def select(self, n: int) -> None:
        self.selected = n
        self._render()
        self.view.scrollToAnchor(f"source-{n}")

    def _render(self) -> None:
        verdict = self._verdict
        if verdict is not None and verdict.abstained:
            self.title.setText("Closest passages")
            closest = (
                " These are the closest passages; they may not be relevant."
                if self._citations
                else " Try other words, or a question about a topic your packs cover."
            )
            hint = f" {self._restricted_hint}" if self._restricted_hint else ""
            self.verdict.setText("The documents you can read don't answer this." + closest + hint)
            self.verdict.show()
        elif verdict is not None and verdict.quoted:
            self.title.setText(f"Sources ({len(self._citations)})")
            self.verdict.setText(
                "The model found no direct answer in these sources, so the answer quotes their "
                "sentences closest to your question."
                if verdict.declined
                else "The model's answer was not supported by these sources, so the answer quotes "
                "them instead."
            )
            self.verdict.show()
        elif verdict is not None and verdict.unsupported_sentences:
            count = len(verdict.unsupported_sentences)
            self.title.setText(f"Sources ({len(self._citations)})")
            self.verdict.setText(
                f"{count} sentence{'s' if count > 1 else ''} of this answer "
                f"{'are' if count > 1 else 'is'} not supported by these sources (wavy underline)."
            )
            self.verdict.show()
        else:
            self.title.setText(
                f"Sources ({len(self._citations)})" if self._citations else "Sources"
            )
            self.verdict.hide()
        palette = self.palette()
        muted = palette.color(QPalette.ColorRole.PlaceholderText).name()
        searched = (
            f'<p style="color:{muted}">Searched for: <i>{html.escape(self._searched)}</i></p>'
            if self._searched
            else ""
        )
        if not self._citations:  # an empty state that wraps (a placeholder would be cut)
            self.view.setHtml(f'{searched}<p style="color:{muted}">{html.escape(EMPTY)}</p>')
            return
        mark_bg = QColor(palette.color(QPalette.ColorRole.Highlight))
        mark_bg.setAlpha(90)
        text = palette.color(QPalette.ColorRole.Text).name()
        link = palette.color(QPalette.ColorRole.Link).name()
        selected_bg = palette.color(QPalette.ColorRole.AlternateBase).name()
        abstained = verdict is not None and verdict.abstained
        words = set() if abstained else supporting_words(self._answer)  # nothing was claimed
        mark = f"rgba({mark_bg.red()},{mark_bg.green()},{mark_bg.blue()},{mark_bg.alpha()})"
        cards = []
        for citation in self._citations:
            n = citation.n
            meta = " · ".join(
                html.escape(str(part))
                for part in (
                    citation.pack,
                    f"for {citation.audience}" if citation.audience else None,
                    source_date(citation),
                    source_standing(citation),
                )
                if part
            )
            heading, location = citation.heading, citation.location
            parts = [location] if heading and heading in location else [heading, location]
            where = " › ".join(html.escape(p) for p in parts if p)
            passage = highlight_passage(citation.text, words, mark, text)
            background = f' bgcolor="{selected_bg}"' if n == self.selected else ""
            cards.append(
                f'<a name="source-{n}"></a>'
                f'<table width="100%" cellpadding="8" cellspacing="0"{background}><tr><td>'
                f'<b style="color:{link}">[{n}]</b> <b>{html.escape(citation.title or "Untitled")}</b>'
                f'<br><span style="color:{muted}">{meta}</span>'
                + (f'<br><span style="color:{muted}">{where}</span>' if where else "")
                + f'<p style="color:{text}">{passage}</p>'
                + (
                    f'<a href="open:{n}" style="color:{link}">Open original</a>'
                    if citation.available
                    else ""
                )
                + "</td></tr></table>"
            )
        self.view.setHtml(searched + "<br>".join(cards))
