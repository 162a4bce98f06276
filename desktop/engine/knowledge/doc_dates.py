"""A document's own date, and where it came from.

Sources, most trusted first: the administrator's date map (`admin build --dates dates.toml`), the
document's own metadata (YAML front matter, PDF ModDate/CreationDate, DOCX/PPTX/XLSX core
properties), the map's `default` (a date for documents carrying none, e.g. the day they were
exported), and last the file's modification time, labelled "file date" wherever it is shown: a
copied folder's files all carry the copy's time, which is not when anyone wrote them.

The map also carries what a document cannot say about itself: `effective` (in force from),
`superseded_by` (the document that replaces it: it ranks below its successor and is labelled) and
`withdrawn` (from that day it is not retrieved). Front matter may carry the same keys.

Reading is bounded (front matter: the file's first 64 KiB; office core properties: one small zip
member; PDFs: the document information dictionary, after the parse worker has parsed the file).
A date that cannot be read, or lies in the future, is ignored with a note and never fails a build.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode

# Where a date came from (the `source` of `DocumentDates`).
ADMIN = "admin"  # the administrator's map, for this document
FRONT_MATTER = "front_matter"
PDF_METADATA = "pdf_metadata"
OFFICE_METADATA = "office_metadata"
ADMIN_DEFAULT = "admin_default"  # the map's date for documents that carry none
FILE = "file"  # the file's modification time: the last resort
NONE = ""

OWN_SOURCES = (FRONT_MATTER, PDF_METADATA, OFFICE_METADATA)

# Front matter keys read as the document's date, in order of preference (latest change first).
FRONT_MATTER_DATE_KEYS = (
    "last_modified",
    "last_modified_at",
    "last_updated",
    "lastmod",
    "updated",
    "modified",
    "date_updated",
    "date_modified",
    "date_approved",
    "date",
    "published",
    "created",
)
MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_CORE_XML_BYTES = 64 * 1024
_OFFICE_SUFFIXES = (".docx", ".pptx", ".xlsx")
_MARKDOWN_SUFFIXES = (".md", ".markdown")
_EARLIEST = date(1900, 1, 1)
_Day = date  # `DocumentDates.date` shadows the type inside the class


class DateMapInvalid(EngineError):
    exit_code = ExitCode.USAGE

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"The date map {path} is invalid: {reason}.",
            "Fix the file (see docs/retrieval.md, 'Document dates') and build again.",
        )


@dataclass(frozen=True)
class DocumentDates:
    """One document's dates (ISO `YYYY-MM-DD` strings) and where its `date` came from."""

    date: str | None = None
    source: str = NONE
    detail: str = ""  # the field or entry it was read from, e.g. "updated", "ModDate", a glob
    effective: str | None = None
    superseded_by: str | None = None  # the relative path of the successor
    withdrawn: str | None = None
    notes: tuple[str, ...] = ()  # dates that were ignored, and why

    def label(self) -> str:
        return date_label(self.date, self.source, self.detail)

    def is_withdrawn(self, today: _Day) -> bool:
        return self.withdrawn is not None and self.withdrawn <= today.isoformat()


_CREATED = frozenset({"created", "CreationDate", "published", "date"})


def date_label(when: str | None, source: str, detail: str = "") -> str:
    """How a source's date reads: "Updated 2024-03-05" (a creation or approval date says so),
    "file date 2026-12-01" or "no date"."""
    if not when:
        return "no date"
    if source == FILE:
        return f"file date {when}"
    if source == ADMIN_DEFAULT:
        return f"dated {when} (administrator)"
    if source in OWN_SOURCES and detail in _CREATED:
        return f"Dated {when}" if detail == "date" else f"Created {when}"
    if source in OWN_SOURCES and detail == "date_approved":
        return f"Approved {when}"
    return f"Updated {when}"


def status_label(
    superseded_by: str | None, withdrawn: str | None, effective: str | None, today: date
) -> str:
    """What a reader must know about a document's standing, or ""."""
    parts = []
    if superseded_by:
        parts.append(f"superseded by {superseded_by}")
    if withdrawn:
        parts.append(
            f"withdrawn {withdrawn}"
            if withdrawn <= today.isoformat()
            else f"withdrawn from {withdrawn}"
        )
    if effective and effective > today.isoformat():
        parts.append(f"in effect from {effective}")
    return "; ".join(parts)


# -- reading one value -------------------------------------------------------------------------


def parse_date(value: Any) -> date | None:
    """A date from YAML/TOML values, ISO strings (date or date-time) or PDF `D:YYYYMMDD...`."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    pdf = re.fullmatch(r"D:(\d{4})(\d{2})?(\d{2})?(?:\d{2}){0,3}(?:[Z+\-](?:\d{2}'?){0,2})?", text)
    if pdf:
        try:
            return date(int(pdf[1]), int(pdf[2] or 1), int(pdf[3] or 1))
        except ValueError:
            return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).date() if parsed.tzinfo else parsed.date()


def _checked(
    value: Any, what: str, today: date, notes: list[str], *, future_ok: bool = False
) -> str | None:
    """`value` as an ISO date, or None with a note saying why it was ignored."""
    if value is None or value == "":
        return None
    parsed = parse_date(value)
    if parsed is None:
        notes.append(f"{what} ignored: {str(value)[:40]!r} is not a date")
        return None
    if parsed < _EARLIEST:
        notes.append(f"{what} ignored: {parsed.isoformat()} is before {_EARLIEST.year}")
        return None
    if not future_ok and parsed > today + timedelta(days=1):
        notes.append(f"{what} ignored: {parsed.isoformat()} is in the future")
        return None
    return parsed.isoformat()


# -- the document's own metadata ----------------------------------------------------------------


def front_matter_dates(path: Path, today: date) -> DocumentDates:
    """Dates from a Markdown file's YAML front matter (the first 64 KiB only)."""
    from desktop.engine.knowledge.parsers import _load_front_matter, _split_front_matter

    with open(path, "rb") as handle:
        head = handle.read(MAX_FRONT_MATTER_BYTES)
    front = _split_front_matter(head.decode("utf-8", errors="replace").replace("\r\n", "\n"))
    if front is None:
        return DocumentDates()
    meta, ignored = _load_front_matter(front[0])
    notes = [ignored] if ignored else []
    found = DocumentDates()
    for key in FRONT_MATTER_DATE_KEYS:
        if key in meta:
            when = _checked(meta[key], f"front matter {key}", today, notes)
            if when:
                found = DocumentDates(when, FRONT_MATTER, key)
                break
    return replace(
        found,
        effective=_checked(
            meta.get("effective"), "front matter effective", today, notes, future_ok=True
        ),
        superseded_by=_successor(meta.get("superseded_by")),
        withdrawn=_checked(
            meta.get("withdrawn"), "front matter withdrawn", today, notes, future_ok=True
        ),
        notes=tuple(notes),
    )


def pdf_dates(path: Path, today: date) -> DocumentDates:
    """ModDate, else CreationDate, from a PDF's document information dictionary."""
    from pypdf import PdfReader

    notes: list[str] = []
    try:
        info: Mapping[str, Any] = PdfReader(str(path), strict=False).metadata or {}
        raw = {key: info.get(key) for key in ("/ModDate", "/CreationDate")}
    except Exception as exc:  # a damaged PDF's metadata is noted, never fatal
        return DocumentDates(notes=(f"PDF metadata ignored: {type(exc).__name__}",))
    for key, value in raw.items():
        when = _checked(str(value) if value is not None else None, f"PDF {key[1:]}", today, notes)
        if when:
            return DocumentDates(when, PDF_METADATA, key[1:], notes=tuple(notes))
    return DocumentDates(notes=tuple(notes))


def office_dates(path: Path, today: date) -> DocumentDates:
    """dcterms:modified, else dcterms:created, from an Office file's docProps/core.xml."""
    notes: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            member = archive.getinfo("docProps/core.xml")
            if member.file_size > MAX_CORE_XML_BYTES:
                return DocumentDates(notes=("core properties ignored: too large",))
            with archive.open(member) as handle:
                xml = handle.read(MAX_CORE_XML_BYTES).decode("utf-8", errors="replace")
    except KeyError:
        return DocumentDates()
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as exc:
        return DocumentDates(notes=(f"core properties ignored: {type(exc).__name__}",))
    for name in ("modified", "created"):
        found = re.search(rf"<dcterms:{name}\b[^>]*>([^<]{{1,64}})</dcterms:{name}>", xml)
        when = _checked(found[1] if found else None, f"core property {name}", today, notes)
        if when:
            return DocumentDates(when, OFFICE_METADATA, name, notes=tuple(notes))
    return DocumentDates(notes=tuple(notes))


def own_dates(path: Path, today: date) -> DocumentDates:
    """What the file says about itself, by its kind; nothing for kinds that carry no dates."""
    suffix = path.suffix.lower()
    if suffix in _MARKDOWN_SUFFIXES:
        return front_matter_dates(path, today)
    if suffix == ".pdf":
        return pdf_dates(path, today)
    if suffix in _OFFICE_SUFFIXES:
        return office_dates(path, today)
    return DocumentDates()


def _successor(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip().lstrip("/")[:500]
    return None


# -- the administrator's map --------------------------------------------------------------------


@dataclass(frozen=True)
class DateEntry:
    glob: str
    date: str | None = None
    effective: str | None = None
    superseded_by: str | None = None
    withdrawn: str | None = None


@dataclass(frozen=True)
class DateMap:
    """The administrator's dates (`dates.toml`): `default` for documents that carry none, and
    `[[document]]` entries (first matching glob or path wins) that override the document's own.

    `file_times` is the folder whose files' modification times are the last resort, when the
    builder indexes a copy (a pack's shards are built from copies, which carry the copy's time).
    """

    default: str | None = None
    entries: tuple[DateEntry, ...] = ()
    file_times: Path | None = None

    @classmethod
    def load(cls, path: Path, *, file_times: Path | None = None) -> DateMap:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DateMapInvalid(path, str(exc)) from None
        return cls.from_dict(data, path, file_times=file_times)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], origin: Path, *, file_times: Path | None = None
    ) -> DateMap:
        def one(value: Any, what: str) -> str | None:
            if value is None:
                return None
            parsed = parse_date(value)
            if parsed is None:
                raise DateMapInvalid(origin, f"{what} = {value!r} is not a date (YYYY-MM-DD)")
            return parsed.isoformat()

        unknown = set(data) - {"default", "document"}
        if unknown:
            raise DateMapInvalid(origin, f"unknown key(s) {', '.join(sorted(unknown))}")
        entries = []
        raw_entries = data.get("document", [])
        if not isinstance(raw_entries, list):
            raise DateMapInvalid(origin, "[[document]] must be a list of tables")
        for i, raw in enumerate(raw_entries, start=1):
            if not isinstance(raw, dict) or not isinstance(raw.get("glob"), str):
                raise DateMapInvalid(origin, f'document {i} needs glob = "path or pattern"')
            extra = set(raw) - {"glob", "date", "effective", "superseded_by", "withdrawn"}
            if extra:
                raise DateMapInvalid(
                    origin, f"document {i}: unknown key(s) {', '.join(sorted(extra))}"
                )
            successor = raw.get("superseded_by")
            if successor is not None and not isinstance(successor, str):
                raise DateMapInvalid(origin, f"document {i}: superseded_by must be a path")
            entries.append(
                DateEntry(
                    glob=raw["glob"],
                    date=one(raw.get("date"), f"document {i} date"),
                    effective=one(raw.get("effective"), f"document {i} effective"),
                    superseded_by=_successor(successor),
                    withdrawn=one(raw.get("withdrawn"), f"document {i} withdrawn"),
                )
            )
        return cls(one(data.get("default"), "default"), tuple(entries), file_times)

    def entry_for(self, relative: str) -> DateEntry | None:
        for entry in self.entries:
            if relative == entry.glob or fnmatch.fnmatch(relative, entry.glob):
                return entry
        return None


# -- putting it together ------------------------------------------------------------------------


def document_dates(
    path: Path, relative: str, date_map: DateMap | None = None, *, today: date | None = None
) -> DocumentDates:
    """The date of the file at `path` (pack-relative name `relative`), and where it came from."""
    today = today or datetime.now(UTC).date()
    date_map = date_map or DateMap()
    try:
        found = own_dates(path, today)
    except OSError as exc:
        found = DocumentDates(notes=(f"metadata unreadable: {exc.strerror}",))
    notes = list(found.notes)
    entry = date_map.entry_for(relative)
    if entry is not None:
        if entry.date:
            found = replace(found, date=entry.date, source=ADMIN, detail=entry.glob)
        found = replace(
            found,
            effective=entry.effective or found.effective,
            superseded_by=entry.superseded_by or found.superseded_by,
            withdrawn=entry.withdrawn or found.withdrawn,
        )
    if found.date is None and date_map.default:
        found = replace(found, date=date_map.default, source=ADMIN_DEFAULT, detail="default")
    if found.date is None:
        timed = date_map.file_times / relative if date_map.file_times else path
        try:
            stamp = datetime.fromtimestamp(timed.stat().st_mtime, UTC).date()
        except (OSError, ValueError, OverflowError):
            stamp = None
        when = _checked(stamp, "file date", today, notes)
        if when:
            found = replace(found, date=when, source=FILE, detail="mtime")
    return replace(found, notes=tuple(notes))
