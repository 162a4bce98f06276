"""The conversation as one read-only document: streamed answers appended, finished ones rendered safely.

Streaming appends plain text at the end with a `QTextCursor` inside an edit block; nothing before the
live answer is touched, so a token costs the same at 2k or 100k characters of history (B11). When an
answer ends, only its own range is replaced by the rendered Markdown.

Safety: Markdown is parsed without HTML, images become plain links, `loadResource` loads nothing (no
remote, `file:` or `data:` resources, ever), and every link is inert: a click only emits a signal, and
the window asks before opening anything outside the app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QByteArray, QRegularExpression, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QPalette,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QTextBrowser, QWidget

from desktop.engine.access import CitationRef, Passage
from desktop.engine.guard.pii import MARKS
from desktop.engine.guard.toxicity import MARK as TOXIC_MARK
from desktop.ui.backend import Verdict

MARKDOWN_FEATURES = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)
_CHIP = re.compile(r"\[(\d{1,3})\](?!\()")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]*)\)")
REDACTION_MARK = QRegularExpression(
    "|".join(QRegularExpression.escape(m) for m in (*MARKS.values(), TOXIC_MARK))
    + r"|\[The rest of this answer is withheld[^\]]*\]"
)
LONG_QUESTION = 4000  # characters of a question shown in full; longer ones show their start
REDACTION_TIP = (
    "Removed from the answer by your organisation's policy. The cited passage still opens in "
    "full if you may read it."
)


@dataclass(eq=False)  # identity: versions hold each other
class TurnRecord:
    """One question and its answer as the view shows them (from history or from a live stream).

    `refs` are what the answer cites; `passages` are those references opened through the access
    choke point (None until then: history keeps references only, never the passages).
    """

    key: int
    question: str
    answer: str = ""
    refs: list[CitationRef] = field(default_factory=list)
    passages: list[Passage] | None = None
    message_id: int | None = None
    vote: int = 0
    verdict: Verdict | None = None
    stopped: bool = False
    error: str = ""
    finished: bool = False
    evidence: list[str] = field(default_factory=list)  # quotes shown before the model's answer
    # What retrieval searched when it was not the question itself (a follow-up with the question
    # it continues, a question translated into English): shown above the sources.
    searched: str = ""
    quoted: bool = False  # the answer is the passages' own sentences (the model's were unsupported)
    question_id: int | None = None  # the question's message id in history
    turn_id: int | None = None  # the turn's first question in history (its versions share it)
    versions: list[TurnRecord] = field(default_factory=list)  # every version, shared; [] = one
    replaceable: bool = True  # regenerate and edit are offered (any turn with its question)
    refused: bool = False  # policy refused the question: asking it again would say the same
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (text, hint, kind) shown
    # under the answer, above its actions: the guardrail rules that fired
    following: list[TurnRecord] = field(default_factory=list)  # later turns asked under this
    # version, set aside while another version is shown (a chat not saved; history keeps its own)

    @property
    def citations(self) -> list[Passage]:
        return self.passages or []

    def all_versions(self) -> list[TurnRecord]:
        return self.versions or [self]

    @property
    def version(self) -> tuple[int, int]:
        """(n, of): this is version n of the turn's `of` versions."""
        versions = self.all_versions()
        return versions.index(self) + 1, len(versions)

    def cite(self, passages: list[Passage]) -> None:
        self.passages = list(passages)
        self.refs = [p.ref for p in passages]


def link_citations(markdown: str, key: int, count: int) -> str:
    """Turn `[n]` into a chip link `cite:KEY:n` when source n exists; neuter images."""

    def chip(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if 1 <= n <= count:
            return f"[\\[{n}\\]](cite:{key}:{n})"
        return match.group(0)

    return _CHIP.sub(chip, _IMAGE.sub(r"[image: \1](\2)", markdown))


class InertBrowser(QTextBrowser):
    """A text browser that loads nothing and navigates nowhere: links only emit `anchorClicked`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.document().setUndoRedoEnabled(False)

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        """Never load anything: no remote images, no local files, no data: URLs.

        Returns an empty byte array, not None: PySide on Python 3.11 mis-counts a returned None.
        """
        return QByteArray()

    def setSource(self, name: QUrl | str, type: Any = None) -> None:
        """Navigation is disabled."""


class ChatView(InertBrowser):
    """Signals carry the turn key: `citationClicked(key, n)`, `actionRequested(action, key)`."""

    citationClicked = Signal(int, int)
    actionRequested = Signal(str, int)
    externalLinkRequested = Signal(QUrl)
    noticeAdded = Signal(str, str, str)  # text, hint, kind: also shown while the chat is empty

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversation")
        self.setAccessibleDescription("Your questions and Enclave's answers, newest at the bottom.")
        self.document().setDocumentMargin(12)
        self.anchorClicked.connect(self._on_anchor)
        self._live_start: QTextBlock | None = None
        self._live_key: int | None = None
        self._action_rows: dict[int, QTextCursor] = {}

    def _on_anchor(self, url: QUrl) -> None:
        text = url.toString()
        parts = text.split(":")
        if parts[0] == "cite" and len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            self.citationClicked.emit(int(parts[1]), int(parts[2]))
        elif parts[0] == "act" and len(parts) == 3 and parts[2].isdigit():
            self.actionRequested.emit(parts[1], int(parts[2]))
        else:
            self.externalLinkRequested.emit(url)

    # -- building blocks -----------------------------------------------------------------------
    def _end(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _new_block(self, cursor: QTextCursor, top: float = 0.0) -> None:
        fmt = QTextBlockFormat()
        fmt.setTopMargin(top)
        if self.document().isEmpty():
            cursor.setBlockFormat(fmt)
        else:
            cursor.insertBlock(fmt, QTextCharFormat())

    def _plain(self) -> QTextCharFormat:
        fmt = QTextCharFormat()
        fmt.setForeground(self.palette().color(QPalette.ColorRole.Text))
        return fmt

    def _muted(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.PlaceholderText)

    def _header(self, cursor: QTextCursor, who: str, accent: QColor, anchor: str = "") -> None:
        self._new_block(cursor, top=14.0)
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setForeground(accent)
        if anchor:
            fmt.setAnchor(True)
            fmt.setAnchorNames([anchor])
        cursor.insertText(who, fmt)

    def _scroll_follow(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 8

    def _scroll_to_end(self, follow: bool) -> None:
        if follow:
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum())

    # -- public API ---------------------------------------------------------------------------
    def clear_view(self) -> None:
        self.clear()
        self._live_start = None
        self._live_key = None
        self._action_rows.clear()

    def add_question(self, text: str, key: int | None = None) -> None:
        follow = self._scroll_follow()
        cursor = self._end()
        cursor.beginEditBlock()
        anchor = f"turn-{key}" if key is not None else ""  # to jump to (search results)
        self._header(cursor, "You", self.palette().color(QPalette.ColorRole.Link), anchor)
        self._new_block(cursor)
        shown = text
        if len(text) > LONG_QUESTION:  # a pasted document: its start, not pages of it
            shown = text[: LONG_QUESTION // 2].rstrip()
        cursor.insertText(shown, self._plain())
        if shown is not text:
            more = len(text) - len(shown)
            cursor.insertText(
                f" … ({more:,} more characters not shown; Edit question shows them all)",
                self._muted_format(italic=True),
            )
        cursor.endEditBlock()
        self._scroll_to_end(follow)

    def add_notice(self, text: str, hint: str = "", *, kind: str = "error") -> None:
        """An inline message: `kind` is "error" (red), "warning" (amber) or "info" (muted)."""
        follow = self._scroll_follow()
        cursor = self._end()
        cursor.beginEditBlock()
        self._write_notice(cursor, text, hint, kind)
        cursor.endEditBlock()
        self._scroll_to_end(follow)
        self.noticeAdded.emit(text, hint, kind)

    def _write_notice(self, cursor: QTextCursor, text: str, hint: str, kind: str) -> None:
        colors = {"error": QColor("#d32f2f"), "warning": QColor("#b26a00"), "info": self._muted()}
        if self.palette().color(QPalette.ColorRole.Base).lightness() < 128:
            colors.update(error=QColor("#ff8a80"), warning=QColor("#ffcc80"))
        self._new_block(cursor, top=10.0)
        fmt = QTextCharFormat()
        fmt.setForeground(colors.get(kind, colors["info"]))
        fmt.setFontWeight(QFont.Weight.DemiBold)
        cursor.insertText(text, fmt)
        if hint:
            fmt.setFontWeight(QFont.Weight.Normal)
            fmt.setFontItalic(True)
            cursor.insertText("\n" + hint, fmt)

    def begin_answer(self, key: int, text_so_far: str = "") -> None:
        cursor = self._end()
        cursor.beginEditBlock()
        self._header(cursor, "Enclave", self.palette().color(QPalette.ColorRole.Highlight))
        self._new_block(cursor)
        cursor.endEditBlock()
        self._live_start = cursor.block()  # a block stays put; a cursor would move with the text
        self._live_key = key
        if text_so_far:
            self.append_tokens(text_so_far)

    def append_tokens(self, text: str) -> None:
        """Append streamed text at the end (never re-rendering what came before)."""
        if self._live_start is None or not text:
            return
        follow = self._scroll_follow()
        cursor = self._end()
        cursor.beginEditBlock()
        cursor.insertText(text, self._plain())
        cursor.endEditBlock()
        self._scroll_to_end(follow)

    def finish_answer(self, turn: TurnRecord) -> None:
        """Replace the live answer's plain text with its rendered Markdown, then add its actions."""
        if self._live_start is None or self._live_key != turn.key:
            return
        follow = self._scroll_follow()
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._live_start.position())
        cursor.beginEditBlock()
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._render_answer(cursor, turn)
        cursor.endEditBlock()
        self._live_start = None
        self._live_key = None
        self._scroll_to_end(follow)

    def add_answer(self, turn: TurnRecord) -> None:
        """A finished answer (e.g. from history), rendered at once."""
        cursor = self._end()
        cursor.beginEditBlock()
        self._header(cursor, "Enclave", self.palette().color(QPalette.ColorRole.Highlight))
        self._new_block(cursor)
        self._render_answer(cursor, turn)
        cursor.endEditBlock()

    def update_actions(self, turn: TurnRecord) -> None:
        row = self._action_rows.get(turn.key)
        if row is None:
            return
        cursor = QTextCursor(row)
        cursor.beginEditBlock()
        cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock)
        cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._write_actions(cursor, turn)
        cursor.endEditBlock()

    def flash_turn(self, key: int) -> None:
        """Select a turn's question (after a search jump), so the eye and a screen reader land
        on it; the selection is ordinary, the next click clears it."""
        block = self.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fmt = it.fragment().charFormat()
                if f"turn-{key}" in fmt.anchorNames():
                    question = block.next()
                    cursor = QTextCursor(question)
                    cursor.movePosition(
                        QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor
                    )
                    self.setTextCursor(cursor)
                    return
                it += 1
            block = block.next()

    @property
    def streaming(self) -> bool:
        return self._live_start is not None

    # -- rendering ----------------------------------------------------------------------------
    def _render_answer(self, cursor: QTextCursor, turn: TurnRecord) -> None:
        body_start = cursor.position()
        answer = turn.answer or ""
        if turn.evidence and not turn.quoted:
            answer = "\n\n".join(["*From your documents:*", *turn.evidence, answer])
        markdown = link_citations(answer, turn.key, len(turn.refs))
        if markdown.strip():
            cursor.insertMarkdown(markdown, MARKDOWN_FEATURES)
        elif not turn.error:
            cursor.insertText("(no answer)", self._muted_format())
        self._style_links(body_start, cursor.position())
        self._style_redactions(body_start, cursor.position())
        if turn.verdict is not None and turn.verdict.unsupported_sentences:
            self._mark_unsupported(body_start, cursor.position(), turn.verdict)
        if turn.stopped:
            self._new_block(cursor)
            cursor.insertText("Stopped before the end.", self._muted_format(italic=True))
        for (
            text,
            hint,
            kind,
        ) in turn.notes:  # e.g. the guardrail rules that fired, above the actions
            self._write_notice(cursor, text, hint, kind)
        self._new_block(cursor, top=4.0)
        row = QTextCursor(cursor)
        row.movePosition(QTextCursor.MoveOperation.StartOfBlock)
        self._action_rows[turn.key] = row
        self._write_actions(cursor, turn)

    def _muted_format(self, italic: bool = False) -> QTextCharFormat:
        fmt = QTextCharFormat()
        fmt.setForeground(self._muted())
        fmt.setFontItalic(italic)
        return fmt

    def _write_actions(self, cursor: QTextCursor, turn: TurnRecord) -> None:
        small = self.font().pointSizeF() * 0.9
        plain = self._muted_format()
        plain.setFontPointSize(small)
        actions = [("copy", "Copy")]
        if turn.replaceable and turn.question:
            if not turn.refused:
                actions.append(("regenerate", "Regenerate"))
            actions.append(("edit", "Edit question"))
        if turn.refs:
            actions.insert(0, ("sources", f"Sources ({len(turn.refs)})"))
        n, of = turn.version
        if of > 1:  # browse the turn's versions: < 2/3 >
            actions[:0] = [("prev", "‹"), ("version", f"{n}/{of}"), ("next", "›")]
        if turn.message_id is not None:
            actions += [
                ("up", "▲ Helpful" if turn.vote != 1 else "▲ Marked helpful"),
                ("down", "▼ Not helpful" if turn.vote != -1 else "▼ Marked not helpful"),
            ]
        arrow = QTextCharFormat(plain)  # ‹ › at the text's size: a small target is missed
        arrow.setFontPointSize(self.font().pointSizeF() * 1.25)
        arrow.setFontWeight(QFont.Weight.Bold)
        for index, (action, label) in enumerate(actions):
            if action == "version" or (action, n) == ("prev", 1) or (action, n) == ("next", of):
                cursor.insertText(
                    *((f" {label} ", plain) if action == "version" else (label, arrow))
                )
                continue
            if index and actions[index - 1][0] not in ("prev", "version"):
                cursor.insertText("   ·   ", plain)
            link = QTextCharFormat(arrow if action in ("prev", "next") else plain)
            link.setAnchor(True)
            link.setAnchorHref(f"act:{action}:{turn.key}")
            link.setForeground(self.palette().color(QPalette.ColorRole.Link))
            active = (action == "up" and turn.vote == 1) or (action == "down" and turn.vote == -1)
            if active:
                link.setFontWeight(QFont.Weight.Bold)
            cursor.insertText(label, link)

    def _style_links(self, start: int, end: int) -> None:
        """Citation chips get a tinted, bold look; other links keep an underline (clearly links)."""
        chip = QTextCharFormat()
        chip.setFontWeight(QFont.Weight.Bold)
        chip.setFontUnderline(False)
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        tint = QColor(highlight)
        tint.setAlpha(60)
        chip.setBackground(tint)
        chip.setForeground(self.palette().color(QPalette.ColorRole.Link))
        block = self.document().findBlock(start)
        while block.isValid() and block.position() <= end:
            iterator = block.begin()
            while not iterator.atEnd():
                fragment = iterator.fragment()
                fmt = fragment.charFormat()
                if fmt.isAnchor() and fmt.anchorHref().startswith("cite:"):
                    cursor = QTextCursor(self.document())
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(
                        fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor
                    )
                    cursor.mergeCharFormat(chip)
                elif fmt.isAnchor():
                    fmt.setToolTip(f"{fmt.anchorHref()} (asks before opening)")
                iterator += 1
            block = block.next()

    def _style_redactions(self, start: int, end: int) -> None:
        """The output filter's marks ("[e-mail removed]") in muted italics, with a tooltip saying
        what happened: the answer is redacted, the cited passage still opens in full."""
        mark = QTextCharFormat()
        mark.setFontItalic(True)
        mark.setForeground(self._muted())
        mark.setToolTip(REDACTION_TIP)
        found = QTextCursor(self.document())
        found.setPosition(start)
        while True:
            found = self.document().find(REDACTION_MARK, found)
            if found.isNull() or found.selectionEnd() > end:
                return
            found.mergeCharFormat(mark)

    def _mark_unsupported(self, start: int, end: int, verdict: Verdict) -> None:
        """Underline sentences the trust layer found unsupported by the sources."""
        mark = QTextCharFormat()
        mark.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        mark.setUnderlineColor(QColor("#e57373"))
        for sentence in verdict.unsupported_sentences:
            reason = verdict.reasons.get(sentence, "no passage says this")
            mark.setToolTip(
                f"Not supported by your documents ({reason}): check before relying on it."
            )
            found = self.document().find(sentence.strip(), start)
            if not found.isNull() and found.selectionEnd() <= end + len(sentence):
                found.mergeCharFormat(mark)
