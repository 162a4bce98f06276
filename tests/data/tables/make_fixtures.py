"""Render real 18F handbook tables (public domain) into the PDF, DOCX and XLSX table fixtures.

    .venv/bin/python tests/data/tables/make_fixtures.py [--handbook DIR]

The handbook's Markdown tables are read as they are (links, Liquid tags, bold and HTML markup
dropped from the cells), and written unchanged in content: a PDF with ruled tables (reportlab),
a DOCX with Word tables under headings (python-docx), and an XLSX with one table per sheet
(openpyxl). The outputs are committed; this script records how they were made. See README.md.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
HANDBOOK = HERE.parents[3] / "shared" / "corpora" / "18f-handbook"

# (output, section heading, handbook page, index of the table on that page)
PDF_TABLES = [
    ("Utilization targets for supervisors", "about-us/tts-consulting/operations/tock.md", 1),
    ("Tock project codes for nonbillable work", "about-us/tts-consulting/operations/tock.md", 3),
    ("GitHub organizations", "tools/github.md", 0),
]
DOCX_TABLES = [
    ("Timeline for an incoming detail", "hiring-staying-or-changing-jobs/external-details.md", 0),
    ("Timeline for an outgoing detail", "hiring-staying-or-changing-jobs/external-details.md", 1),
]
XLSX_TABLES = [
    ("FY25 mid-year", "performance-management/dates.md", 0),
    ("FY25 end of year", "performance-management/dates.md", 1),
    ("18F meetings", "about-us/tts-consulting/operations/internal-communications.md", 2),
]
# The held-out set: made, and its lookups written, after the parsers were frozen (README.md).
HELD_OUT = {
    "tts-classes-and-offices.pdf": [
        ("Required onboarding classes", "getting-started/classes.md", 0),
        ("First-week classes", "getting-started/classes.md", 1),
        ("PeopleOps and operations classes", "getting-started/classes.md", 3),
        ("GSA office locations", "general-information-and-resources/general-contacts.md", 0),
    ],
    "research-and-meetings.docx": [
        ("PRA roles", "training-and-development/pra-for-user-research.md", 0),
        ("PRA clearance phases", "training-and-development/pra-for-user-research.md", 1),
        ("TTSC meetings", "about-us/tts-consulting/operations/internal-communications.md", 0),
        ("CoE meetings", "about-us/tts-consulting/operations/internal-communications.md", 1),
    ],
    "benefits-and-resources.xlsx": [
        (
            "Benefits links",
            "general-information-and-resources/employee-resources-policies/benefits-links.md",
            0,
        ),
        ("Shared resources", "about-us/tts-consulting/operations/shared-resources.md", 0),
        ("Slack channel names", "tools/slack/guidelines.md", 0),
    ],
}


def clean(cell: str) -> str:
    """A handbook cell as plain text: Liquid, links, HTML tags and emphasis dropped."""
    cell = re.sub(r"\{%.*?%\}", "", cell)
    cell = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", cell)
    cell = re.sub(r"<(https?://[^>]+)>", r"\1", cell)
    cell = re.sub(r"<br\s*/?>", " ", cell)
    cell = re.sub(r"<sup>.*?</sup>", "", cell)
    cell = re.sub(r"<[^>]+>", "", cell)
    cell = cell.replace("\\[", "[").replace("\\]", "]").replace("\\>", ">")
    cell = cell.replace("**", "").replace("*", "").replace("`", "")
    return " ".join(cell.split())


def markdown_tables(page: Path) -> list[list[list[str]]]:
    """Every GFM table on a handbook page: rows of cleaned cells, header first."""
    found: list[list[list[str]]] = []
    current: list[str] = []
    for line in [*page.read_text(encoding="utf-8").splitlines(), ""]:
        if line.lstrip().startswith("|"):
            current.append(line.strip())
            continue
        if len(current) >= 3 and set(current[1]) <= set("|-: "):
            rows = [current[0], *current[2:]]
            found.append([[clean(c) for c in row.strip("|").split("|")] for row in rows])
        current = []
    return found


def table(handbook: Path, page: str, index: int) -> list[list[str]]:
    return markdown_tables(handbook / page)[index]


def write_pdf(handbook: Path, out: Path, specs: list[tuple[str, str, int]], title: str) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    cell = styles["BodyText"]
    cell.fontSize, cell.leading = 8, 10
    story: list[object] = [Paragraph(title, styles["Title"])]
    for heading, page, index in specs:
        rows = table(handbook, page, index)
        story.append(Paragraph(heading, styles["Heading2"]))
        story.append(Paragraph(f"From the TTS Handbook page {page}.", styles["BodyText"]))
        data = [[Paragraph(c, cell) for c in row] for row in rows]
        grid = Table(data, repeatRows=1)
        grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
        story += [grid, Spacer(1, 12)]
    doc = SimpleDocTemplate(str(out), pagesize=letter, title=title)
    doc.build(story)  # type: ignore[arg-type]


def write_docx(handbook: Path, out: Path, specs: list[tuple[str, str, int]], title: str) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=1)
    for heading, page, index in specs:
        rows = table(handbook, page, index)
        document.add_heading(heading, level=2)
        document.add_paragraph(f"From the TTS Handbook page {page}.")
        grid = document.add_table(rows=len(rows), cols=len(rows[0]))
        grid.style = "Table Grid"
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
    document.save(str(out))


def write_xlsx(handbook: Path, out: Path, specs: list[tuple[str, str, int]]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for sheet_name, page, index in specs:
        sheet = book.create_sheet(sheet_name)
        for row in table(handbook, page, index):
            sheet.append(row)
    book.save(str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handbook", type=Path, default=HANDBOOK)
    args = parser.parse_args()
    hb = args.handbook
    write_pdf(hb, HERE / "tts-operations-tables.pdf", PDF_TABLES, "TTS operations tables")
    write_docx(hb, HERE / "detail-timelines.docx", DOCX_TABLES, "Detail timelines")
    write_xlsx(hb, HERE / "performance-dates.xlsx", XLSX_TABLES)
    held = HELD_OUT
    pdf, docx_name, xlsx = (
        "tts-classes-and-offices.pdf",
        "research-and-meetings.docx",
        ("benefits-and-resources.xlsx"),
    )
    write_pdf(hb, HERE / pdf, held[pdf], "TTS classes and offices")
    write_docx(hb, HERE / docx_name, held[docx_name], "User research and meetings")
    write_xlsx(hb, HERE / xlsx, held[xlsx])
    for name in sorted(p.name for p in HERE.iterdir() if p.suffix in (".pdf", ".docx", ".xlsx")):
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
