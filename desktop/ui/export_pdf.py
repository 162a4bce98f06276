"""A conversation exported as PDF: the same Markdown the Markdown export writes (current versions,
sources resolved through the access choke point), typeset by Qt.

Safety as in the chat view: Markdown parsed without HTML, images become plain links, and the
document loads no resource at all (a `file:` image in an answer never ends up inside the PDF).
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QUrl
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

MARKDOWN_FEATURES = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]*)\)")


class InertDocument(QTextDocument):
    """A text document that never loads a resource (images, style sheets: nothing)."""

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        return QByteArray()


def write_pdf(markdown: str, path: str, title: str = "Conversation") -> None:
    """Typeset `markdown` to an A4 PDF at `path` (OSError when it cannot be written). Typeset
    in memory first, so a path that cannot be written leaves no half file."""
    document = InertDocument()
    font = document.defaultFont()
    font.setPointSizeF(10.5)  # print size, whatever the screen's
    document.setDefaultFont(font)
    document.setMetaInformation(QTextDocument.MetaInformation.DocumentTitle, title)
    document.setMarkdown(_IMAGE.sub(r"[image: \1](\2)", markdown), MARKDOWN_FEATURES)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(title)
    writer.setCreator("Enclave")
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(18, 18, 18, 18),
            QPageLayout.Unit.Millimeter,
        )
    )
    document.print_(writer)
    del writer  # the PDF is complete once its writer is gone
    data = bytes(buffer.data().data())
    with open(path, "wb") as out:  # OSError (no folder, no room, no right) for the caller
        out.write(data)
