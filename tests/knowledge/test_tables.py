"""Tables kept as tables: Markdown rows with the header in every chunk, cited by row range."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest

from desktop.engine.knowledge import Retriever, build
from desktop.engine.knowledge.parsers import Block, parse_file
from desktop.engine.knowledge.tables import MAX_CELL_CHARS, MAX_COLUMNS, make_table, table_blocks
from desktop.engine.runtime.embedder import Embedder

TABLES = Path(__file__).resolve().parents[1] / "data" / "tables"
_LABEL = re.compile(r"(?:Table (\d+), )?[Rr]ows? (\d+)(?:-(\d+))?$")


def _table_blocks(blocks: list[Block]) -> list[tuple[Block, str, int, int]]:
    """(block, table name, first row, last row) for each block whose heading ends in a row range."""
    out = []
    for block in blocks:
        match = _LABEL.search(block.heading_path[-1]) if block.heading_path else None
        if match:
            first = int(match.group(2))
            last = int(match.group(3) or first)
            out.append((block, block.heading_path[-1].rsplit(",", 1)[0], first, last))
    return out


def _assert_groups_cover(groups: list[tuple[Block, str, int, int]], header: str, rows: int) -> None:
    """Every group repeats `header` and the groups' row ranges run 1..rows without a gap."""
    expected = 1
    for block, _name, first, last in groups:
        lines = block.text.split("\n")
        assert lines[0] == header and set(lines[1]) <= set("|-")
        assert len(lines) - 2 == last - first + 1
        assert first == expected
        expected = last + 1
    assert expected == rows + 1


def test_pdf_tables_are_markdown_with_the_header_in_every_group() -> None:
    doc = parse_file(TABLES / "tts-operations-tables.pdf")
    groups = _table_blocks(doc.blocks)
    codes = [g for g in groups if g[1] == "Table 2"]
    assert len(codes) > 1  # 18 rows: more than one group, each with the header
    _assert_groups_cover(codes, "| Work type | CoE feds | 18F |", 18)
    assert all(g[0].heading_path[0] == "Tock project codes for nonbillable work" for g in codes)
    assert all(g[0].page == 1 for g in codes)
    business = next(g[0] for g in codes if "| Business development | 1434 | 1811 |" in g[0].text)
    assert business.heading_path[-1] == "Table 2, rows 1-12"
    github = [g for g in groups if g[1] == "Table 3"]
    assert {g[0].page for g in github} == {2}
    _assert_groups_cover(github, "| Organization | Government-owned | TTS-managed |", 14)
    # the page's own text is still there, outside the tables
    assert any("From the TTS Handbook page tools/github.md" in b.text for b in doc.blocks)


def test_docx_tables_keep_document_order_and_their_section() -> None:
    doc = parse_file(TABLES / "detail-timelines.docx")
    groups = _table_blocks(doc.blocks)
    incoming = [g for g in groups if g[1] == "Table 1"]
    outgoing = [g for g in groups if g[1] == "Table 2"]
    _assert_groups_cover(incoming, "| ACTION | OWNER | TIME |", 15)
    _assert_groups_cover(outgoing, "| ACTION | OWNER | TIME |", 14)
    assert incoming[0][0].heading_path[:2] == (
        "Detail timelines",
        "Timeline for an incoming detail",
    )
    assert outgoing[0][0].heading_path[:2] == (
        "Detail timelines",
        "Timeline for an outgoing detail",
    )
    order = [b.heading_path[1] for b in doc.blocks]
    assert order.index("Timeline for an outgoing detail") > order.index(
        "Timeline for an incoming detail"
    )


def test_xlsx_sheets_are_cited_by_their_own_row_numbers() -> None:
    doc = parse_file(TABLES / "performance-dates.xlsx")
    by_sheet: dict[str, list[tuple[Block, str, int, int]]] = {}
    for group in _table_blocks(doc.blocks):
        by_sheet.setdefault(group[1], []).append(group)
    assert set(by_sheet) == {"FY25 mid-year", "FY25 end of year", "18F meetings"}
    first = by_sheet["FY25 mid-year"][0]
    assert first[2] == 2  # the header is sheet row 1: the data starts at row 2
    assert "| October 1, 2024 | FY25 performance cycle begins |" in first[0].text
    last = by_sheet["FY25 end of year"][-1]
    assert last[3] == 10 and "December 10, 2025" in last[0].text


def test_large_csv_repeats_its_header_and_numbers_rows_as_lines(tmp_path: Path) -> None:
    lines = ["Code,Office,Budget"] + [f"{n},Office {n},{n * 1000}" for n in range(1, 101)]
    path = tmp_path / "budgets.csv"
    path.write_text("\n".join(lines) + "\n")
    groups = _table_blocks(parse_file(path).blocks)
    assert len(groups) > 5
    for block, _name, first, last in groups:
        assert block.text.startswith("| Code | Office | Budget |\n|---|---|---|\n")
        assert f"| {first - 1} | Office {first - 1} |" in block.text  # line 2 holds code 1
        assert f"| {last - 1} | Office {last - 1} |" in block.text
    assert groups[0][2] == 2 and groups[-1][3] == 101


def test_html_tables_with_spans_captions_and_nesting(tmp_path: Path) -> None:
    (tmp_path / "rates.html").write_text(
        "<html><body><h1>Travel</h1><p>Rates below.</p>"
        "<table><caption>Per diem</caption>"
        "<tr><th>City</th><th>Season</th><th>Lodging</th></tr>"
        "<tr><td rowspan='2'>Boston</td><td>Summer</td><td>$300</td></tr>"
        "<tr><td>Winter</td><td>$200</td></tr>"
        "<tr><td colspan='2'>Anywhere else</td><td>$110<table><tr><td>inner</td></tr></table>"
        "</td></tr></table><p>After the table.</p></body></html>"
    )
    doc = parse_file(tmp_path / "rates.html")
    texts = [b.text for b in doc.blocks]
    assert texts[0] == "Rates below." and texts[1] == "Per diem" and texts[-1] == "After the table."
    table = doc.blocks[2]
    assert table.heading_path == ("Travel", "Table 1, rows 1-3")
    assert table.text.split("\n") == [
        "| City | Season | Lodging |",
        "|---|---|---|",
        "| Boston | Summer | $300 |",
        "| Boston | Winter | $200 |",  # rowspan carried down
        "| Anywhere else | Anywhere else | $110 inner |",  # colspan repeated; nested table flat
    ]


def test_hostile_tables_are_bounded() -> None:
    assert make_table([]) is None and make_table([[], ["", None]]) is None
    lone = make_table([["only", "a header"]])
    assert lone is not None and lone.rows == ()
    assert [b.text for b in table_blocks(lone, "Table 1")] == ["| only | a header |"]
    # empty leading rows and an empty header cell; empty columns dropped; ragged rows padded
    table = make_table(
        [[], ["", ""], ["Name", "", None, "Cost"], ["Pen", "", "", "2", "x"], ["Ink"]]
    )
    assert table is not None
    assert table.header == ("Name", "Cost", "Column 3")
    assert table.rows == (("Pen", "2", "x"), ("Ink", "", ""))
    wide = make_table([[f"h{i}" for i in range(500)], ["v" * 10_000, "a|b\nc"]])
    assert wide is not None and len(wide.header) == MAX_COLUMNS
    assert len(wide.rows[0][0]) == MAX_CELL_CHARS and wide.rows[0][1] == "a\\|b c"
    endless = ([str(n), "x"] for n in range(10**9))  # a generator that never ends
    cut = make_table(endless, max_rows=50)
    assert cut is not None and cut.truncated and len(cut.rows) == 50


def test_xlsx_merged_cells_and_huge_sheets_stay_bounded(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Rates"
    sheet.append([None, None])  # an empty first row
    sheet.append(["Region", "Q1", None])
    sheet.merge_cells("B2:C2")  # a merged header cell: its value sits in the first cell
    sheet.append(["East", 10, 11])
    big = book.create_sheet("Log")
    big.append(["n", "value"])
    for n in range(25_000):
        big.append([n, n * 2])
    path = tmp_path / "rates.xlsx"
    book.save(str(path))
    doc = parse_file(path)
    rates = next(b for b in doc.blocks if b.heading_path[0].startswith("Rates"))
    assert rates.heading_path == ("Rates, row 3",)
    assert rates.text.split("\n")[0] == "| Region | Q1 | Column 3 |"
    assert any("cut at 20,000 rows" in note for note in doc.notes)
    log = [b for b in doc.blocks if b.heading_path[0].startswith("Log")]
    assert log[-1].heading_path[0].endswith("-20001")  # header: row 1; 20,000 rows: 2..20001


def test_docx_merged_cells_repeat_their_text(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    grid = document.add_table(rows=3, cols=3)
    for c, name in enumerate(("Team", "Lead", "Room")):
        grid.cell(0, c).text = name
    grid.cell(1, 0).merge(grid.cell(2, 0)).text = "Design"
    grid.cell(1, 1).text, grid.cell(1, 2).text = "Ana", "4A"
    grid.cell(2, 1).text, grid.cell(2, 2).text = "Bo", "4B"
    box = document.add_table(rows=1, cols=1)  # a one-cell "table" around a note: kept as text
    box.cell(0, 0).text = "Doors close at 6 pm."
    buffer = io.BytesIO()
    document.save(buffer)
    (tmp_path / "teams.docx").write_bytes(buffer.getvalue())
    block, note = parse_file(tmp_path / "teams.docx").blocks
    assert block.text.split("\n")[2:] == ["| Design | Ana | 4A |", "| Design | Bo | 4B |"]
    assert (note.text, note.heading_path) == ("| Doors close at 6 pm. |", ("Table 2",))


def test_a_cell_question_retrieves_the_right_rows(tmp_path: Path, embedder: Embedder) -> None:
    """Real build (parse worker, chunker, embedder, FTS5, FAISS): table groups stay whole chunks,
    and questions about single cells retrieve the row that holds the answer."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("tts-operations-tables.pdf", "detail-timelines.docx", "performance-dates.xlsx"):
        shutil.copy(TABLES / name, source / name)
    steps = list(build(source, tmp_path / "kb", embedder))
    assert all(s.status == "indexed" for s in steps if s.kind == "file")
    golden = json.loads((TABLES / "golden.json").read_text())["lookups"]
    asked = [g for g in golden if g["id"] in (1, 15, 27, 37)]  # one per table kind, from the set
    retriever = Retriever.open(tmp_path / "kb", embedder)
    try:
        chunks = retriever.store.fetch_chunks([int(i) for i in retriever.index.ids()])
        tabular = [c for c in chunks.values() if "rows" in c.heading or "row " in c.heading]
        assert tabular and all(c.text.startswith("| ") for c in tabular)  # never cut mid-table
        for lookup in asked:
            hits = retriever.search(lookup["question"], 4)
            rows = [
                line
                for h in hits
                if h.chunk.document_path == lookup["file"] and lookup["table"] in h.chunk.heading
                for line in h.chunk.text.split("\n")
            ]
            wanted = [r for r in rows if r.startswith(f"| {lookup['row']}")]
            assert any(f"| {lookup['answer']} |" in r for r in wanted), lookup["question"]
    finally:
        retriever.close()


def test_a_pdf_table_runs_on_over_a_page_break() -> None:
    """pdfplumber finds one table per page; a page's first table under no heading of its own,
    as wide as the previous page's last, continues it: same number, section and row count."""
    groups = _table_blocks(parse_file(TABLES / "tts-classes-and-offices.pdf").blocks)
    assert [g[1] for g in groups].count("Table 4") == 1 and "Table 5" not in {g[1] for g in groups}
    first_week = [g for g in groups if g[1] == "Table 2"]
    assert {g[0].page for g in first_week} == {1, 2}
    assert all(g[0].heading_path[0] == "First-week classes" for g in first_week)
    _assert_groups_cover(first_week, "| Name | Description | Format | Guidance | Resource(s) |", 7)
    assert "| Slack 101 |" in first_week[-1][0].text


def test_held_out_docx_parses_into_four_tables() -> None:
    groups = _table_blocks(parse_file(TABLES / "research-and-meetings.docx").blocks)
    assert len({g[1] for g in groups}) == 4


def test_a_long_ruled_pdf_is_searched_for_tables_on_a_bounded_number_of_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    from desktop.engine.knowledge import parsers

    monkeypatch.setattr(parsers, "MAX_TABLE_PAGES", 2)
    path = tmp_path / "ruled.pdf"
    pdf = canvas.Canvas(str(path), pagesize=letter)
    for page in range(4):
        pdf.drawString(72, 720, f"Page {page + 1} of a report with ruled tables everywhere.")
        for row in range(4):  # a 3 x 2 grid of cells: 4 horizontal and 3 vertical rules
            pdf.line(72, 600 - 20 * row, 372, 600 - 20 * row)
        for col in range(3):
            pdf.line(72 + 150 * col, 600, 72 + 150 * col, 540)
        for row in range(3):
            for col in range(2):
                pdf.drawString(80 + 150 * col, 585 - 20 * row, f"r{row} c{col} p{page + 1}")
        pdf.showPage()
    pdf.save()
    doc = parse_file(path)
    tabular = {b.page for b in doc.blocks if b.heading_path}
    assert tabular == {1, 2}
    assert any("page(s) 3-4 kept as text only" in note for note in doc.notes)
    assert {b.page for b in doc.blocks} == {1, 2, 3, 4}
