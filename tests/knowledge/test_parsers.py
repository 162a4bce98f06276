"""Parsers keep structure and refuse bad input with reasons."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from desktop.engine.knowledge.errors import FileRejected
from desktop.engine.knowledge.parsers import parse_file

MARKDOWN = """---
title: Travel rules
keywords: travel, per diem
---

{% include alert.html content="Liquid must go" %}
# Booking

Book trips through the <strong>travel system</strong> at least {{ site.days }} days ahead.

## Per diem

Meals are covered at the local rate.
"""


def test_markdown_front_matter_liquid_html_and_headings(tmp_path: Path) -> None:
    path = tmp_path / "travel.md"
    path.write_text(MARKDOWN)
    doc = parse_file(path)
    assert doc.title == "Travel rules"
    assert doc.keywords == ["travel", "per diem"]
    text = "\n".join(b.text for b in doc.blocks)
    assert "{%" not in text and "{{" not in text and "<strong>" not in text
    assert "travel system" in text
    per_diem = next(b for b in doc.blocks if "Meals" in b.text)
    assert per_diem.heading_path == ("Booking", "Per diem")
    assert MARKDOWN.splitlines()[per_diem.line - 1].startswith("Meals")  # type: ignore[operator]


def test_docx_keeps_headings(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Security", level=1)
    document.add_paragraph("Lock your screen when you leave your desk.")
    path = tmp_path / "policy.docx"
    document.save(str(path))
    doc = parse_file(path)
    assert doc.blocks[0].heading_path == ("Security",)
    assert "Lock your screen" in doc.blocks[0].text


def test_xlsx_and_html_and_eml(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["Item", "Cost"])  # type: ignore[union-attr]
    book.active.append(["Laptop", 1200])  # type: ignore[union-attr]
    book.save(str(tmp_path / "costs.xlsx"))
    sheet = parse_file(tmp_path / "costs.xlsx").blocks
    assert [(b.text, b.heading_path) for b in sheet] == [
        ("| Item | Cost |\n|---|---|\n| Laptop | 1200 |", ("Sheet, row 2",))
    ]
    (tmp_path / "page.html").write_text(
        "<html><title>Intranet</title><script>x()</script><h1>Leave</h1><p>Ask your lead.</p>"
    )
    html = parse_file(tmp_path / "page.html")
    assert html.title == "Intranet" and html.blocks[0].heading_path == ("Leave",)
    (tmp_path / "note.eml").write_text("Subject: Offsite\nFrom: a@b.c\n\nThe offsite is Tuesday.\n")
    mail = parse_file(tmp_path / "note.eml")
    assert mail.title == "Offsite" and any("Tuesday" in b.text for b in mail.blocks)


def test_pdf_keeps_page_numbers(tmp_path: Path) -> None:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for n in (1, 2):
        page = writer.add_blank_page(612, 792)
        font = DictionaryObject(
            {NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
             NameObject("/BaseFont"): NameObject("/Helvetica")}
        )  # fmt: skip
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
        )
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 700 Td (Page {n} talks about budgets.) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    path = tmp_path / "report.pdf"
    with open(path, "wb") as fh:
        writer.write(fh)
    doc = parse_file(path)
    assert [(b.page, "budgets" in b.text) for b in doc.blocks] == [(1, True), (2, True)]


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (300 * 1024 * 1024))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "status", "reason"),
    [
        ("empty.md", b"", "skipped", "empty"),
        ("junk.pdf", bytes(range(256)) * 40, "failed", "not a PDF"),
        ("junk.txt", b"\x00\x01\x02binary" * 100, "failed", "binary"),
        ("bad.docx", b"PK\x03\x04 this is not really a zip", "failed", "zip"),
        ("image.png", b"\x89PNG", "failed", "not a readable image"),
        ("program.exe", b"MZ\x90\x00", "skipped", "unsupported"),
        ("garbage.md", bytes(range(128, 256)) * 50, "failed", "undecodable"),
    ],
)
def test_malformed_files_are_rejected_with_reasons(
    tmp_path: Path, name: str, content: bytes, status: str, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileRejected) as caught:
        parse_file(path)
    assert caught.value.status == status
    assert reason in caught.value.reason


def test_zip_bomb_named_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    path.write_bytes(_zip_bomb())
    with pytest.raises(FileRejected, match="zip bomb"):
        parse_file(path)


def test_windows_1252_text_is_decoded_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("Caf\u00e9 menu \u2013 d\u00e9j\u00e0 vu".encode("cp1252"))
    doc = parse_file(path)
    assert doc.blocks[0].text == "Caf\u00e9 menu \u2013 d\u00e9j\u00e0 vu"
    assert "Windows-1252" in doc.notes[0]
