"""Tables kept as tables: cleaned cells, Markdown text, and blocks of rows that repeat the header.

A table from any format (PDF, DOCX, XLSX, CSV, HTML) becomes `Table(header, rows)` with bounded
size: cells are single-line, `|` escaped, at most `MAX_CELL_CHARS`; at most `MAX_COLUMNS` columns
and `MAX_ROWS` rows per table (the rest is cut with a note). A missing or empty header row gets
"Column N" names, so every chunk still says what each column means.

`table_blocks` cuts a table into groups of consecutive rows, each rendered as a complete Markdown
table (header, separator, rows) whose heading ends with its row range, e.g. "Table 2, rows 11-20".
The chunker keeps each group whole (a heading is a chunk boundary) as long as it fits the chunk
budget; groups are sized by characters, conservatively, because the parser runs in a worker
process that has no tokenizer. A single row longer than a chunk is split by the chunker like any
long paragraph, and its pieces keep the row locator in their heading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop.engine.knowledge.parsers import Block

MAX_CELL_CHARS = 400
MAX_COLUMNS = 40
MAX_ROWS = 20_000
# One chunk's Markdown: ~600 characters is ~150-200 embedding tokens for tabular text (numbers and
# pipes tokenize densely), under the chunker's default budget of 200 tokens with the title prefix.
GROUP_CHARS = 600
GROUP_ROWS = 12


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numbers: tuple[
        int, ...
    ] = ()  # each row's number as the reader counts it (data rows, sheet rows)
    truncated: bool = False

    def number(self, index: int) -> int:
        return self.numbers[index] if index < len(self.numbers) else index + 1


def clean_cell(value: object) -> str:
    """One cell as single-line Markdown-safe text."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text.replace("|", "\\|")


def make_table(
    raw_rows: Iterable[Sequence[object]],
    *,
    sheet_rows: bool = False,
    max_rows: int = MAX_ROWS,
) -> Table | None:
    """A table from raw rows (first non-empty row is the header; a lone row is a header with no
    rows), or None if every row is empty.

    Empty rows and columns are dropped; rows are padded or cut to the header's width. Reads at
    most `max_rows` + 1 non-empty rows from `raw_rows`, so an endless sheet costs a bounded time.
    Data rows are numbered 1, 2, ... or, with `sheet_rows`, by their raw row number (a sheet's own
    row numbers, which is how a reader finds them).
    """
    rows: list[list[str]] = []
    numbers: list[int] = []
    truncated = False
    for number, raw in enumerate(raw_rows, start=1):
        cells = [clean_cell(c) for c in list(raw)[:MAX_COLUMNS]]
        if not any(cells):
            continue
        if len(rows) > max_rows:
            truncated = True
            break
        rows.append(cells)
        numbers.append(number)
    if not rows:
        return None
    width = max(len(r) for r in rows)
    used = [c for c in range(width) if any(c < len(r) and r[c] for r in rows)]
    rows = [[r[c] if c < len(r) else "" for c in used] for r in rows]
    header = tuple(name or f"Column {i}" for i, name in enumerate(rows[0], start=1))
    body = tuple(tuple(r) for r in rows[1:])
    kept = tuple(numbers[1:]) if sheet_rows else tuple(range(1, len(body) + 1))
    return Table(header, body, kept, truncated)


def markdown_lines(table: Table) -> tuple[str, str, list[str]]:
    """(header line, separator line, one line per row)."""
    head = "| " + " | ".join(table.header) + " |"
    sep = "|" + "|".join("---" for _ in table.header) + "|"
    lines = ["| " + " | ".join(r) + " |" for r in table.rows]
    return head, sep, lines


def row_label(first: int, last: int) -> str:
    return f"row {first}" if first == last else f"rows {first}-{last}"


def table_blocks(
    table: Table,
    name: str,
    heading_path: tuple[str, ...] = (),
    page: int | None = None,
    *,
    group_chars: int = GROUP_CHARS,
    group_rows: int = GROUP_ROWS,
) -> list[Block]:
    """The table as blocks of whole rows, each a full Markdown table under "<name>, rows a-b".

    The row range is the locator (blocks carry no line: the repeated header would shift it).
    """
    head, sep, lines = markdown_lines(table)
    if not lines:  # a lone row: kept as it is, under the table's name
        return [Block(head, (*heading_path, name) if name else heading_path, page, None)]
    fixed = len(head) + len(sep) + 2
    blocks: list[Block] = []
    start = 0
    while start < len(lines):
        end = start + 1
        size = fixed + len(lines[start]) + 1
        while end < len(lines) and end - start < group_rows:
            size += len(lines[end]) + 1
            if size > group_chars:
                break
            end += 1
        rows = row_label(table.number(start), table.number(end - 1))
        label = f"{name}, {rows}" if name else rows.capitalize()
        text = "\n".join([head, sep, *lines[start:end]])
        blocks.append(Block(text, (*heading_path, label), page, None))
        start = end
    return blocks
