"""Turn one source file into plain-text blocks that keep where they came from.

A block is a paragraph-sized run of text with its heading path, page (PDF, slides) and first source
line, so a citation can open the exact place. Parsing refuses, with a reason, anything that is too
large, is not what its extension claims, is a zip bomb, or does not decode to text.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.engine.core import prereqs
from desktop.engine.knowledge import ocr as _ocr
from desktop.engine.knowledge.errors import FileRejected
from desktop.engine.knowledge.ocr import OcrOptions

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100.0
MAX_ZIP_MEMBERS = 10_000


@dataclass(frozen=True)
class Block:
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    line: int | None = None


@dataclass
class ParsedDocument:
    title: str
    blocks: list[Block]
    keywords: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Parser = Callable[[Path, bytes], ParsedDocument]
ScannedParser = Callable[[Path, bytes, OcrOptions], ParsedDocument]


def supported_suffixes() -> frozenset[str]:
    return frozenset(_PARSERS) | frozenset(_SCANNED_PARSERS)


def parse_file(
    path: Path, *, max_bytes: int = MAX_FILE_BYTES, ocr: OcrOptions | None = None
) -> ParsedDocument:
    """Parse `path` or raise `FileRejected` with status skipped/failed and a reason.

    Scanned pages (images, PDF pages without a text layer) are read with Tesseract under `ocr`
    (default `OcrOptions()`); without Tesseract they are skipped with the install command."""
    suffix = path.suffix.lower()
    parser = _PARSERS.get(suffix)
    scanned = _SCANNED_PARSERS.get(suffix)
    if parser is None and scanned is None:
        raise FileRejected("skipped", f"unsupported file type '{suffix or path.name}'")
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("skipped", "empty file (0 bytes)")
    if size > max_bytes:
        raise FileRejected("skipped", f"too large ({size:,} bytes > limit {max_bytes:,})")
    with path.open("rb") as handle:  # bounded: the file may have grown since stat
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRejected("skipped", f"too large (over the limit of {max_bytes:,} bytes)")
    try:
        if scanned is not None:
            doc = scanned(path, data, ocr or OcrOptions())
        else:
            assert parser is not None
            doc = parser(path, data)
    except (FileRejected, MemoryError):  # over the memory budget: the parse worker reports it
        raise
    except Exception as exc:  # a parser library's own error: this file only, never the build
        raise FileRejected("failed", f"cannot parse {suffix}: {type(exc).__name__}: {exc}") from exc
    doc.blocks = [b for b in doc.blocks if b.text.strip()]
    if not doc.blocks:
        raise FileRejected("skipped", "no text found")
    return doc


# -- text decoding -----------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str | None]:
    """Decode bytes as UTF-8 (BOMs honoured), else cp1252; refuse binary. Returns (text, note)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), None
    if b"\x00" in data[:8192]:
        raise FileRejected("failed", "binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    bad = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\r\n\f"))
    if bad > max(8, len(text) // 50):
        raise FileRejected("failed", "undecodable text (not UTF-8 or Windows-1252)")
    return text, "not UTF-8: decoded as Windows-1252"


def _check_zip(data: bytes) -> zipfile.ZipFile:
    """Open an Office file's zip only after checking it cannot expand into a bomb."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise FileRejected("failed", "not a valid Office file (bad zip container)") from exc
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise FileRejected("failed", f"suspicious archive: {len(infos)} members")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise FileRejected("failed", f"zip bomb guard: expands to {total:,} bytes")
    for info in infos:
        if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
            raise FileRejected(
                "failed", f"zip bomb guard: {info.filename} compresses {MAX_ZIP_RATIO:.0f}x+"
            )
    return archive


# -- Markdown and plain text ---------------------------------------------------------------------

# Source text is hostile input: every pattern here runs in linear time (no nested or adjacent
# quantifiers that can trade characters), and the delimited spans (Liquid, comments, links, heading
# closers) are found with `str.find` scans instead of lazy `.*?` regexes, which go quadratic on
# openers that never close and cubic on a long heading.
_FRONT_MATTER_OPEN = re.compile(r"---[ \t]*\n")
_FRONT_MATTER_CLOSE = re.compile(r"\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)")
MAX_FRONT_MATTER_CHARS = 64 * 1024
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_LIQUID_DELIMITERS = (("{%", "%}"), ("{{", "}}"))
_COMMENT_DELIMITERS = (("<!--", "-->"),)


def _blank_out_delimited(text: str, delimiters: tuple[tuple[str, str], ...]) -> str:
    """Remove every `open ... close` span (shortest, left to right) but keep its newlines.

    Same result as the lazy regex `open.*?close`, in one pass: an opener whose closer never comes
    retires that delimiter pair for the rest of the text instead of rescanning it.
    """
    live = dict(delimiters)
    out: list[str] = []
    pos = 0
    while live:
        found = [(text.find(o, pos), o) for o in live]
        found = [(at, o) for at, o in found if at >= 0]
        if not found:
            break
        at, opener = min(found)
        end = text.find(live[opener], at + len(opener))
        if end < 0:
            del live[opener]
            continue
        end += len(live[opener])
        out.append(text[pos:at])
        out.append("\n" * text.count("\n", at, end))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _blank_out(pattern: re.Pattern[str], text: str) -> str:
    """Remove matches but keep their newlines, so line numbers still point into the source."""
    return pattern.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _heading(line: str) -> tuple[int, str] | None:
    """An ATX heading's level and text (closing `#`s dropped), in linear time."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or not line[level : level + 1].isspace():
        return None
    return level, line[level:].strip().rstrip("#").rstrip()


def _strip_links(text: str) -> str:
    """`[label](target)` and `![alt](src)` -> label, as `!?\\[([^\\]]*)\\]\\([^)]*\\)` would, linearly."""
    out: list[str] = []
    pos = 0
    search = 0
    while (start := text.find("[", search)) >= 0:
        close = text.find("]", start + 1)
        if close < 0:
            break  # no later `[` has a `]` either
        if not text.startswith("(", close + 1):
            search = close + 1  # every `[` before `close` fails the same way
            continue
        paren = text.find(")", close + 2)
        if paren < 0:
            break  # no later link can find its `)` either
        begin = start - 1 if start > pos and text[start - 1] == "!" else start
        out.append(text[pos:begin])
        out.append(text[start + 1 : close])
        pos = search = paren + 1
    out.append(text[pos:])
    return "".join(out)


def _split_front_matter(text: str) -> tuple[str, str] | None:
    """(front matter, whole block) when `text` opens with a `---` block of bounded size."""
    opening = _FRONT_MATTER_OPEN.match(text)
    if opening is None:
        return None
    window = text[: opening.end() + MAX_FRONT_MATTER_CHARS + 8]
    closing = _FRONT_MATTER_CLOSE.search(window, opening.end())
    if closing is not None and closing.end() == len(window):  # `\Z` may be the window's edge
        closing = _FRONT_MATTER_CLOSE.match(text, closing.start())
    if closing is None:
        return None
    return text[opening.end() : closing.start()], text[: closing.end()]


def _load_front_matter(source: str) -> tuple[dict[str, Any], str | None]:
    """YAML front matter as a dict, or ({}, why it was ignored). Aliases are refused before any
    node is built (a few hundred bytes of nested aliases expand to gigabytes)."""
    import yaml

    try:
        for event in yaml.parse(source, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                return {}, "front matter ignored: YAML aliases are not accepted"
        loaded = yaml.safe_load(source)
    except (yaml.YAMLError, RecursionError):
        return {}, "front matter ignored: not valid YAML"
    return (loaded if isinstance(loaded, dict) else {}), None


def _parse_markdown(path: Path, data: bytes) -> ParsedDocument:
    text, note = decode_text(data)
    text = text.replace("\r\n", "\n")
    meta: dict[str, Any] = {}
    notes = [note] if note else []
    front = _split_front_matter(text)
    if front is not None:
        meta, ignored = _load_front_matter(front[0])
        notes += [ignored] if ignored else []
        text = "\n" * front[1].count("\n") + text[len(front[1]) :]
    text = _blank_out_delimited(text, _LIQUID_DELIMITERS)
    text = _blank_out_delimited(text, _COMMENT_DELIMITERS)
    text = _blank_out(_HTML_TAG, text)
    title = str(meta.get("title") or "").strip()
    keywords = meta.get("keywords") or []
    if isinstance(keywords, str):
        keywords = [k.strip() for k in keywords.split(",")]
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    para: list[str] = []
    para_line = 0
    in_fence = False

    def flush() -> None:
        if para:
            body = _strip_links("\n".join(para))
            blocks.append(Block(body, tuple(h for _, h in headings), None, para_line))
            para.clear()

    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else _heading(line)
        if heading:
            flush()
            level = heading[0]
            headings = [(lv, h) for lv, h in headings if lv < level]
            headings.append((level, _strip_links(heading[1])))
            if not title and level == 1:
                title = headings[-1][1]
        elif not line.strip():
            flush()
        else:
            if not para:
                para_line = lineno
            para.append(line)
    flush()
    return ParsedDocument(
        title or _title_from(path),
        blocks,
        [str(k) for k in keywords if k],
        notes,
    )


def _parse_text(path: Path, data: bytes) -> ParsedDocument:
    text, note = decode_text(data)
    text = text.replace("\r\n", "\n")
    blocks: list[Block] = []
    para: list[str] = []
    start = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not para:
                start = lineno
            para.append(line)
        elif para:
            blocks.append(Block("\n".join(para), (), None, start))
            para = []
    if para:
        blocks.append(Block("\n".join(para), (), None, start))
    return ParsedDocument(_title_from(path), blocks, [], [note] if note else [])


def _title_from(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip() or path.name


# -- HTML ----------------------------------------------------------------------------------------

_HTML_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_HTML_BLOCKS = ("p", "li", "pre", "td", "th", "blockquote", "dd", "dt", "figcaption")


def _parse_html(path: Path, data: bytes) -> ParsedDocument:
    from bs4 import BeautifulSoup

    if b"\x00" in data[:8192]:
        raise FileRejected("failed", "binary content (NUL bytes) in an HTML file")
    soup = BeautifulSoup(data, "html.parser")
    for junk in soup(["script", "style", "noscript", "template", "nav"]):
        junk.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    from desktop.engine.knowledge import tables

    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    count = 0
    for el, text in _outermost_text(soup):
        if el.name == "table":
            caption = el.find("caption")
            if caption is not None and caption.get_text(strip=True):
                label = caption.get_text(" ", strip=True)
                blocks.append(Block(label, tuple(h for _, h in headings), None, el.sourceline))
            table = tables.make_table(_html_rows(el))
            if table is not None:
                count += 1
                path_now = tuple(h for _, h in headings)
                blocks += tables.table_blocks(table, f"Table {count}", path_now)
            elif text:
                blocks.append(Block(text, tuple(h for _, h in headings), None, el.sourceline))
            continue
        if el.name in _HTML_HEADINGS:
            level = _HTML_HEADINGS[el.name]
            headings = [(lv, h) for lv, h in headings if lv < level]
            headings.append((level, text))
            title = title or text
        else:
            blocks.append(Block(text, tuple(h for _, h in headings), None, el.sourceline))
    if not blocks:
        body = soup.get_text("\n", strip=True)
        blocks = [Block(p, (), None, None) for p in body.split("\n") if p.strip()]
    return ParsedDocument(title or _title_from(path), blocks)


def _html_rows(table: Any) -> Iterator[list[str]]:
    """The rows of one HTML table (not of tables nested in its cells), with `colspan` repeated
    across its columns and `rowspan` carried down, both bounded."""
    from bs4 import Tag

    from desktop.engine.knowledge.tables import MAX_COLUMNS, MAX_ROWS

    rows: list[Any] = []
    stack = [c for c in reversed(table.contents) if isinstance(c, Tag)]
    while stack:
        node = stack.pop()
        if node.name == "tr":
            rows.append(node)
        elif node.name != "table":
            stack.extend(c for c in reversed(node.contents) if isinstance(c, Tag))
    carry: dict[int, tuple[str, int]] = {}
    for tr in rows:
        cells = iter([c for c in tr.contents if isinstance(c, Tag) and c.name in ("td", "th")])
        row: list[str] = []
        while len(row) < MAX_COLUMNS:
            col = len(row)
            if col in carry:
                text, left = carry.pop(col)
                row.append(text)
                if left > 1:
                    carry[col] = (text, left - 1)
                continue
            cell = next(cells, None)
            if cell is None:
                break
            text = cell.get_text(" ", strip=True)
            down = _span(cell.get("rowspan"), MAX_ROWS)
            for _ in range(_span(cell.get("colspan"), MAX_COLUMNS)):
                if down > 1:
                    carry[len(row)] = (text, down - 1)
                row.append(text)
        yield row


def _span(value: object, limit: int) -> int:
    try:
        return max(1, min(int(str(value)), limit))
    except ValueError:
        return 1


def _outermost_text(soup: Any) -> Iterator[tuple[Any, str]]:
    """Headings not inside a heading and blocks not inside a block, in document order, with text.

    One walk with an explicit stack: each element's text is read once by its outermost heading
    and once by its outermost block, so deeply nested markup costs linear time, not quadratic
    (and no recursion limit).
    """
    from bs4 import Tag

    stack: list[tuple[Any, bool, bool]] = [(soup, False, False)]
    while stack:
        node, in_block, in_heading = stack.pop()
        name = node.name
        if name == "table" and not in_block and not in_heading:
            yield node, node.get_text(" ", strip=True)  # a table is one unit: its rows, whole
            continue
        if name in _HTML_HEADINGS and not in_heading:
            in_heading = True
            text = node.get_text(" ", strip=True)
            if text:
                yield node, text
        elif name in _HTML_BLOCKS and not in_block:
            in_block = True
            text = node.get_text(" ", strip=True)
            if text:
                yield node, text
        children = [c for c in node.contents if isinstance(c, Tag)]
        stack.extend((child, in_block, in_heading) for child in reversed(children))


# -- PDF, Office, mail, tables --------------------------------------------------------------------


def _parse_pdf(path: Path, data: bytes, ocr: OcrOptions) -> ParsedDocument:
    """Text per page (pypdf); ruled tables as tables (pdfplumber, on pages that draw a grid);
    pages without a text layer through OCR."""
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise FileRejected("failed", "not a PDF (no %PDF- header)")
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise FileRejected("skipped", "encrypted PDF")
    blocks: list[Block] = []
    scanned: list[int] = []
    plumber: Any = None
    seen = _PdfTables()
    looked = 0
    unexamined: list[int] = []
    try:
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if not _ocr.has_text_layer(text):
                scanned.append(number)
                continue
            found: list[tuple[tuple[float, float, float, float], Any]] = []
            if _draws_a_grid(page):
                looked += 1
                if looked > MAX_TABLE_PAGES:
                    unexamined.append(number)
                else:
                    if plumber is None:
                        import pdfplumber

                        plumber = pdfplumber.open(io.BytesIO(data))
                    layout = plumber.pages[number - 1]
                    found = _pdf_tables(layout)
                    if found:
                        blocks += _pdf_page_with_tables(layout, number, found, seen)
                    layout.close()  # its parsed objects: memory stays per page, not per file
            if not found:
                blocks += _paragraph_blocks(text, number)
    finally:
        if plumber is not None:
            plumber.close()
    notes: list[str] = []
    if unexamined:
        notes.append(
            f"tables looked for on the first {MAX_TABLE_PAGES} pages that draw rules; "
            f"page(s) {_ocr.page_ranges(unexamined)} kept as text only"
        )
    if scanned:
        ocr_blocks, note = _ocr_pdf_pages(data, scanned, ocr, have_text=bool(blocks))
        blocks += ocr_blocks
        blocks.sort(key=lambda b: b.page or 0)  # stable: each page's own order is kept
        notes.append(note)
    meta_title = ""
    if reader.metadata is not None and reader.metadata.title:
        meta_title = str(reader.metadata.title)
    return ParsedDocument(meta_title or _title_from(path), blocks, [], [n for n in notes if n])


def _paragraph_blocks(text: str, page: int | None) -> list[Block]:
    return [Block(p.strip(), (), page, None) for p in re.split(r"\n\s*\n", text) if p.strip()]


# A path operator after its numbers: `x y w h re` (rectangle) or `x y l` (line). A ruled table
# draws many (a grid of n rows is 2n+ segments or n+ cell rectangles); a page with fewer than
# MIN_RULES draws at most a rule or a box, and pdfplumber (slow: it lays out every character, ~0.3-
# 0.8 s a page) is not run on it. Past MAX_TABLE_PAGES such pages a PDF's pages stay text only
# (noted), so a long PDF stays within the parse budget.
_PATH_OPERATOR = re.compile(rb"[\d.]\s+(?:re|l)\s")
MIN_RULES = 6
MAX_TABLE_PAGES = 40


def _draws_a_grid(page: Any) -> bool:
    try:
        contents = page.get_contents()
        raw = contents.get_data() if contents is not None else b""
    except Exception:  # an odd content stream: let pdfplumber decide
        return True
    for count, _match in enumerate(_PATH_OPERATOR.finditer(raw), start=1):
        if count >= MIN_RULES:
            return True
    return False


def _pdf_tables(page: Any) -> list[tuple[tuple[float, float, float, float], Any]]:
    """(bounding box, Table) for every ruled table pdfplumber finds on the page, top to bottom."""
    from desktop.engine.knowledge import tables

    out = []
    for found in page.find_tables():
        table = tables.make_table(found.extract())
        if table is not None and table.rows:  # a lone boxed line stays in the page's text
            out.append((tuple(found.bbox), table))
    out.sort(key=lambda item: item[0][1])
    return out


@dataclass
class _PdfTables:
    """The tables met so far in a PDF: how many, and the last one (to continue it on the next
    page)."""

    count: int = 0
    last_page: int = 0
    last_section: tuple[str, ...] = ()
    last_header: tuple[str, ...] = ()
    last_row: int = 0


def _continued(table: Any, state: _PdfTables, number: int, first_on_page: bool) -> Any | None:
    """`table` as the rest of the previous page's last table, or None when it starts a new one:
    a page's first table, under no heading of its own, as wide as the table the previous page
    ended with; its first row is that table's header repeated, or already a data row."""
    from dataclasses import replace

    if not first_on_page or state.last_page != number - 1 or not state.last_header:
        return None
    if len(table.header) != len(state.last_header):
        return None
    rows = table.rows if table.header == state.last_header else (table.header, *table.rows)
    numbers = tuple(range(state.last_row + 1, state.last_row + 1 + len(rows)))
    return replace(table, header=state.last_header, rows=tuple(rows), numbers=numbers)


def _pdf_page_with_tables(
    page: Any,
    number: int,
    found: list[tuple[tuple[float, float, float, float], Any]],
    state: _PdfTables,
) -> list[Block]:
    """The page's text outside its tables, in reading order around them, and the tables (a
    table that runs on from the previous page keeps its number, section and row count)."""
    from desktop.engine.knowledge import tables

    boxes = [box for box, _ in found]

    def outside(obj: dict[str, Any]) -> bool:
        x = (float(obj.get("x0", 0)) + float(obj.get("x1", 0))) / 2
        y = (float(obj.get("top", 0)) + float(obj.get("bottom", 0))) / 2
        return not any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)

    rest = page.filter(outside)
    headings = _pdf_heading_lines(rest)
    blocks: list[Block] = []
    top = 0.0
    for index, ((_x0, y0, _x1, y1), table) in enumerate(found):
        if y0 > top:
            above = rest.crop((0, top, page.width, y0), strict=False).extract_text() or ""
            blocks += _paragraph_blocks(above, number)
        section = tuple(text for bottom, text in headings if bottom <= y0)[-1:]
        going_on = None if section else _continued(table, state, number, index == 0)
        if going_on is not None:
            table, section = going_on, state.last_section
        else:
            state.count += 1
        blocks += tables.table_blocks(table, f"Table {state.count}", section, number)
        state.last_page, state.last_section, state.last_header = number, section, table.header
        state.last_row = table.number(len(table.rows) - 1)
        top = max(top, y1)
    if top < page.height:
        below = rest.crop((0, top, page.width, page.height), strict=False).extract_text() or ""
        blocks += _paragraph_blocks(below, number)
    return blocks


_BOLD = re.compile(r"bold|black|heavy|semibold", re.IGNORECASE)


def _pdf_heading_lines(page: Any) -> list[tuple[float, str]]:
    """(bottom, text) of the page's heading-like lines, top to bottom: short lines set larger
    than the page's body text, or all in a bold face. A table's section is the last one above it
    (PDFs carry no heading structure; DOCX and HTML tables get theirs from the document)."""
    lines = page.extract_text_lines()
    sizes = sorted(float(c.get("size", 0)) for line in lines for c in line["chars"])
    if not sizes:
        return []
    body = sizes[len(sizes) // 2]
    found = []
    for line in lines:
        chars = [c for c in line["chars"] if str(c.get("text", "")).strip()]
        text = " ".join(str(line["text"]).split())
        if not chars or not 2 <= len(text) <= 120:
            continue
        size = sum(float(c.get("size", 0)) for c in chars) / len(chars)
        bold = all(_BOLD.search(str(c.get("fontname", ""))) for c in chars)
        if size >= body * 1.15 or bold:
            found.append((float(line["bottom"]), text))
    return found


def _ocr_pdf_pages(
    data: bytes, numbers: list[int], ocr: OcrOptions, *, have_text: bool
) -> tuple[list[Block], str]:
    """OCR the PDF pages without a text layer: their blocks and the build report's note."""
    listed = _ocr.page_ranges(numbers)
    if _ocr.tesseract() is None:
        if not have_text:
            raise _ocr.OcrUnavailable(f"this scanned PDF ({len(numbers)} page(s), no text layer)")
        hint = prereqs.ocr_install_hint()
        return [], (
            f"page(s) {listed} have no text layer and were not OCR'd: Tesseract is not "
            f"installed (install it with: {hint})"
        )
    renders = ((n, lambda n=n: _ocr.render_pdf_page(data, n)) for n in numbers)
    blocks, pages, problems = _ocr_each_page(renders, ocr)
    if not blocks and not have_text:
        why = "; ".join(problems) or "OCR found no text"
        raise FileRejected("skipped", f"scanned PDF: {why}")
    return blocks, "; ".join(x for x in (_ocr.ocr_note(pages), *problems) if x)


def _ocr_each_page(
    renders: Iterable[tuple[int, Callable[[], bytes]]], ocr: OcrOptions
) -> tuple[list[Block], list[_ocr.OcrPage], list[str]]:
    """OCR (page number, PNG maker) pairs, at most `ocr.max_pages`: the pages' blocks, their
    OCR records and what went wrong with the others (a page that fails is named and skipped;
    Tesseract missing stops everything)."""
    blocks: list[Block] = []
    pages: list[_ocr.OcrPage] = []
    problems: list[str] = []
    for count, (number, render) in enumerate(renders, start=1):
        if count > ocr.max_pages:
            problems.append(f"OCR stopped after {ocr.max_pages} pages")
            break
        if ocr.on_page is not None:
            ocr.on_page()
        try:
            page = _ocr.ocr_png(render(), number, ocr)
        except FileRejected as rejected:
            if isinstance(rejected, _ocr.OcrUnavailable):
                raise
            problems.append(f"page {number} not OCR'd: {rejected.reason}")
            continue
        pages.append(page)
        blocks += _paragraph_blocks(page.text, number)
    return blocks, pages, problems


def _parse_image(path: Path, data: bytes, ocr: OcrOptions) -> ParsedDocument:
    """A scanned page (PNG, JPEG, TIFF; every frame of a multi-page TIFF) through OCR."""
    image = _ocr.open_image(data)
    if _ocr.tesseract() is None:
        raise _ocr.OcrUnavailable("this image")
    frames = ((n, lambda png=png: png) for n, png in _ocr.image_pages(image, ocr.max_pages + 1))
    blocks, pages, problems = _ocr_each_page(frames, ocr)
    if not blocks:
        raise FileRejected("skipped", "; ".join(problems) or "OCR found no text in this image")
    note = "; ".join(x for x in (_ocr.ocr_note(pages), *problems) if x)
    return ParsedDocument(_title_from(path), blocks, [], [note])


def _parse_docx(path: Path, data: bytes) -> ParsedDocument:
    _check_zip(data)
    import docx
    from docx.table import Table as DocxTable

    from desktop.engine.knowledge import tables

    document = docx.Document(io.BytesIO(data))
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    title = (document.core_properties.title or "").strip()
    count = 0
    for item in document.iter_inner_content():  # paragraphs and tables in document order
        if isinstance(item, DocxTable):
            table = tables.make_table([cell.text for cell in row.cells] for row in item.rows)
            if table is not None:
                count += 1
                path_now = tuple(h for _, h in headings)
                blocks += tables.table_blocks(table, f"Table {count}", path_now)
            continue
        text = item.text.strip()
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if style == "Title":
            title = title or text
        elif style.startswith("Heading"):
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
            headings = [(lv, h) for lv, h in headings if lv < level]
            headings.append((level, text))
        else:
            blocks.append(Block(text, tuple(h for _, h in headings)))
    return ParsedDocument(title or _title_from(path), blocks)


def _parse_pptx(path: Path, data: bytes) -> ParsedDocument:
    _check_zip(data)
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    blocks: list[Block] = []
    for number, slide in enumerate(deck.slides, start=1):
        slide_title, title_id = "", None
        title_shape = slide.shapes.title  # a fresh proxy on every access: compare by shape_id
        if title_shape is not None and title_shape.has_text_frame:
            slide_title, title_id = title_shape.text_frame.text.strip(), title_shape.shape_id
        for shape in slide.shapes:
            if shape.has_text_frame and shape.shape_id != title_id:
                text = shape.text_frame.text.strip()
                if text:
                    heading = (slide_title,) if slide_title else ()
                    blocks.append(Block(text, heading, number))
    return ParsedDocument(_title_from(path), blocks)


def _parse_xlsx(path: Path, data: bytes) -> ParsedDocument:
    _check_zip(data)
    import openpyxl

    from desktop.engine.knowledge import tables

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    blocks: list[Block] = []
    notes: list[str] = []
    try:
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)  # streamed: a huge sheet stops at MAX_ROWS
            table = tables.make_table(rows, sheet_rows=True)
            if table is None:
                continue
            blocks += tables.table_blocks(table, str(sheet.title))
            if table.truncated:
                notes.append(f"sheet {sheet.title!r} cut at {tables.MAX_ROWS:,} rows")
    finally:
        book.close()
    return ParsedDocument(_title_from(path), blocks, [], notes)


def _parse_csv(path: Path, data: bytes) -> ParsedDocument:
    from desktop.engine.knowledge import tables

    text, note = decode_text(data)
    notes = [note] if note else []
    table = tables.make_table(csv.reader(io.StringIO(text)), sheet_rows=True)
    if table is None:
        raise FileRejected("skipped", "no text found")
    if table.truncated:
        notes.append(f"cut at {tables.MAX_ROWS:,} rows")
    return ParsedDocument(_title_from(path), tables.table_blocks(table, ""), [], notes)


def _parse_eml(path: Path, data: bytes) -> ParsedDocument:
    message = email.message_from_bytes(data, policy=email.policy.default)
    subject = str(message.get("subject") or "").strip()
    body_part = message.get_body(preferencelist=("plain", "html"))
    if body_part is None:
        raise FileRejected("skipped", "e-mail without a text body")
    body = body_part.get_content()
    if body_part.get_content_type() == "text/html":
        return _parse_html(path, body.encode("utf-8"))
    header = " | ".join(f"{k}: {message.get(k)}" for k in ("From", "To", "Date") if message.get(k))
    blocks = [Block(header, (), None, None)] if header else []
    blocks += [Block(p.strip()) for p in re.split(r"\n\s*\n", body) if p.strip()]
    return ParsedDocument(subject or _title_from(path), blocks)


def iter_source_files(root: Path) -> Iterator[Path]:
    """Every regular file under `root` in a stable order, hidden folders and links skipped."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.is_symlink():
            continue
        if path.is_file():
            yield path


_PARSERS: dict[str, Parser] = {
    ".md": _parse_markdown,
    ".markdown": _parse_markdown,
    ".txt": _parse_text,
    ".text": _parse_text,
    ".rst": _parse_text,
    ".html": _parse_html,
    ".htm": _parse_html,
    ".docx": _parse_docx,
    ".pptx": _parse_pptx,
    ".xlsx": _parse_xlsx,
    ".csv": _parse_csv,
    ".eml": _parse_eml,
}
# Formats that may hold scanned pages: these parsers also take the OCR options.
_SCANNED_PARSERS: dict[str, ScannedParser] = {
    ".pdf": _parse_pdf,
    ".png": _parse_image,
    ".jpg": _parse_image,
    ".jpeg": _parse_image,
    ".tif": _parse_image,
    ".tiff": _parse_image,
}
