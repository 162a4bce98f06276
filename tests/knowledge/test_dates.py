"""Document dates: what each kind of file says about itself, the administrator's map, the file
time as a labelled last resort, and bad dates ignored with a reason (fixtures made at test time)."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from desktop.engine.knowledge import doc_dates
from desktop.engine.knowledge.doc_dates import (
    DateMap,
    DateMapInvalid,
    date_label,
    document_dates,
    parse_date,
    status_label,
)

TODAY = date(2026, 12, 1)


def _md(path: Path, front: str, body: str = "# Page\n\nSome text.\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    return path


def _set_mtime(path: Path, when: date) -> None:
    stamp = datetime(when.year, when.month, when.day, 12, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))


def test_front_matter_date_wins_over_the_file_time_and_names_its_field(tmp_path: Path) -> None:
    page = _md(tmp_path / "a.md", "title: A\nupdated: 2024-03-05\ndate: 2020-01-01\n")
    _set_mtime(page, date(2026, 11, 30))
    found = document_dates(page, "a.md", today=TODAY)
    assert (found.date, found.source, found.detail) == ("2024-03-05", "front_matter", "updated")
    assert found.label() == "Updated 2024-03-05"
    assert found.notes == ()


def test_the_handbooks_own_date_field_is_read(tmp_path: Path) -> None:
    """`date_approved` is the one date field the 18F handbook's pages carry (2 of 246 pages)."""
    page = _md(tmp_path / "rfc.md", "title: RFC\ndate_approved: 2021-08-05\n")
    found = document_dates(page, "rfc.md", today=TODAY)
    assert (found.date, found.detail) == ("2021-08-05", "date_approved")
    assert found.label() == "Approved 2021-08-05"


def test_bad_and_future_front_matter_dates_are_ignored_with_a_reason(tmp_path: Path) -> None:
    page = _md(tmp_path / "b.md", "updated: next tuesday\nmodified: 2999-01-01\n")
    _set_mtime(page, date(2025, 6, 1))
    found = document_dates(page, "b.md", today=TODAY)
    assert (found.date, found.source) == ("2025-06-01", "file")
    assert found.label() == "file date 2025-06-01"
    assert any("updated ignored" in n and "not a date" in n for n in found.notes)
    assert any("modified ignored" in n and "future" in n for n in found.notes)


def test_front_matter_that_is_not_yaml_never_fails(tmp_path: Path) -> None:
    page = _md(tmp_path / "c.md", "updated: [unclosed\n")
    _set_mtime(page, date(2025, 6, 1))  # the clock's today may be after TODAY: a future date
    found = document_dates(page, "c.md", today=TODAY)
    assert found.source == "file"
    assert any("not valid YAML" in n for n in found.notes)


def test_front_matter_standing_keys(tmp_path: Path) -> None:
    page = _md(
        tmp_path / "old.md",
        "updated: 2023-01-02\nsuperseded_by: /new.md\nwithdrawn: 2026-06-30\neffective: 2023-02-01\n",
    )
    found = document_dates(page, "old.md", today=TODAY)
    assert found.superseded_by == "new.md"
    assert found.withdrawn == "2026-06-30" and found.is_withdrawn(TODAY)
    assert found.effective == "2023-02-01"


def _pdf(path: Path, metadata: dict[str, str]) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata(metadata)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def test_pdf_moddate_then_creationdate(tmp_path: Path) -> None:
    both = _pdf(
        tmp_path / "both.pdf",
        {"/ModDate": "D:20240305101500+01'00'", "/CreationDate": "D:20190101000000Z"},
    )
    found = document_dates(both, "both.pdf", today=TODAY)
    assert (found.date, found.source, found.detail) == ("2024-03-05", "pdf_metadata", "ModDate")
    created = _pdf(tmp_path / "created.pdf", {"/CreationDate": "D:20190102"})
    only_created = document_dates(created, "created.pdf", today=TODAY)
    assert only_created.label() == "Created 2019-01-02"  # never passed off as an update


def test_a_pdf_with_a_broken_date_falls_back_to_its_file_time(tmp_path: Path) -> None:
    broken = _pdf(tmp_path / "broken.pdf", {"/ModDate": "D:2024-13-45"})
    _set_mtime(broken, date(2025, 1, 2))
    found = document_dates(broken, "broken.pdf", today=TODAY)
    assert (found.date, found.source) == ("2025-01-02", "file")
    assert any("ModDate ignored" in n for n in found.notes)


def test_a_damaged_pdf_is_noted_not_fatal(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    found = doc_dates.pdf_dates(junk, TODAY)
    assert found.date is None


def test_docx_core_properties(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Travel policy.")
    document.core_properties.modified = datetime(2024, 3, 5, 9, 30)
    document.core_properties.created = datetime(2020, 1, 1)
    path = tmp_path / "policy.docx"
    document.save(str(path))
    found = document_dates(path, "policy.docx", today=TODAY)
    assert (found.date, found.source, found.detail) == ("2024-03-05", "office_metadata", "modified")


def test_xlsx_core_properties_created_only(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "docProps/core.xml",
            '<cp:coreProperties xmlns:dcterms="http://purl.org/dc/terms/">'
            '<dcterms:created xsi:type="dcterms:W3CDTF">2022-07-08T10:00:00Z</dcterms:created>'
            "</cp:coreProperties>",
        )
    path = tmp_path / "rates.xlsx"
    path.write_bytes(buffer.getvalue())
    found = document_dates(path, "rates.xlsx", today=TODAY)
    assert (found.date, found.detail) == ("2022-07-08", "created")


def test_admin_map_overrides_fills_in_and_carries_standing(tmp_path: Path) -> None:
    (tmp_path / "dates.toml").write_text(
        'default = "2025-02-27"\n\n'
        '[[document]]\nglob = "policies/travel-2023.md"\ndate = 2023-05-01\n'
        'superseded_by = "policies/travel-2024.md"\n\n'
        '[[document]]\nglob = "retired/*"\nwithdrawn = 2025-01-01\n',
        encoding="utf-8",
    )
    mapping = DateMap.load(tmp_path / "dates.toml")
    old = _md(tmp_path / "src/policies/travel-2023.md", "updated: 2022-01-01\n")
    found = document_dates(old, "policies/travel-2023.md", mapping, today=TODAY)
    assert (found.date, found.source) == ("2023-05-01", "admin")
    assert found.superseded_by == "policies/travel-2024.md"
    plain = tmp_path / "src/notes.txt"
    plain.write_text("no dates in here")
    fallback = document_dates(plain, "notes.txt", mapping, today=TODAY)
    assert (fallback.date, fallback.source) == ("2025-02-27", "admin_default")
    assert fallback.label() == "dated 2025-02-27 (administrator)"
    own = _md(tmp_path / "src/retired/x.md", "updated: 2024-04-04\n")
    retired = document_dates(own, "retired/x.md", mapping, today=TODAY)
    assert (retired.date, retired.source) == ("2024-04-04", "front_matter")
    assert retired.is_withdrawn(TODAY)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('default = "soon"\n', "not a date"),
        ("[[document]]\ndate = 2024-01-01\n", "needs glob"),
        ('[[document]]\nglob = "a"\nwhen = 2024-01-01\n', "unknown key"),
        ('deafult = "2024-01-01"\n', "unknown key"),
        ("default = \n", "Invalid"),
    ],
)
def test_a_bad_date_map_is_refused_clearly(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "dates.toml").write_text(text, encoding="utf-8")
    with pytest.raises(DateMapInvalid) as caught:
        DateMap.load(tmp_path / "dates.toml")
    assert fragment.lower() in caught.value.message.lower()


def test_file_times_come_from_the_original_folder_not_the_copy(tmp_path: Path) -> None:
    original = tmp_path / "original" / "notes.txt"
    original.parent.mkdir()
    original.write_text("x")
    _set_mtime(original, date(2023, 9, 9))
    copy = tmp_path / "copy" / "notes.txt"
    copy.parent.mkdir()
    copy.write_text("x")  # a fresh copy: today's time
    found = document_dates(copy, "notes.txt", DateMap(file_times=original.parent), today=TODAY)
    assert (found.date, found.source, found.label()) == (
        "2023-09-09",
        "file",
        "file date 2023-09-09",
    )


def test_parse_date_forms() -> None:
    assert parse_date("2024-03-05") == date(2024, 3, 5)
    assert parse_date("2024-03-05T23:30:00-05:00") == date(2024, 3, 6)  # in UTC
    assert parse_date("D:20240305") == date(2024, 3, 5)
    assert parse_date(datetime(2024, 3, 5, 1)) == date(2024, 3, 5)
    assert parse_date("March 5") is None
    assert parse_date(20240305) is None


def test_labels() -> None:
    assert date_label(None, "") == "no date"
    assert date_label("2024-03-05", "pdf_metadata") == "Updated 2024-03-05"
    assert date_label("2024-03-05", "office_metadata", "created") == "Created 2024-03-05"
    assert date_label("2024-03-05", "front_matter", "date") == "Dated 2024-03-05"
    assert date_label("2024-03-05", "admin", "created") == "Updated 2024-03-05"  # a glob's name
    assert date_label("2026-12-01", "file") == "file date 2026-12-01"
    assert status_label("new.md", None, "2027-01-01", TODAY) == (
        "superseded by new.md; in effect from 2027-01-01"
    )
    assert status_label(None, None, "2020-01-01", TODAY) == ""
