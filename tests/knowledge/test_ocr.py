"""Scanned pages: OCR'd with Tesseract at build, or skipped with how to install it; never empty."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from desktop.engine.core import prereqs
from desktop.engine.knowledge import build
from desktop.engine.knowledge.errors import FileRejected
from desktop.engine.knowledge.ocr import OcrOptions, page_ranges, parse_tsv
from desktop.engine.knowledge.parse_worker import ParseBudget, ParseWorker
from desktop.engine.knowledge.parsers import parse_file
from desktop.engine.runtime.embedder import Embedder

SCANNED = Path(__file__).resolve().parents[1] / "data" / "scanned"
TABLES = Path(__file__).resolve().parents[1] / "data" / "tables"
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="Tesseract is not installed (sudo apt-get install -y tesseract-ocr): OCR not tested",
)


@pytest.fixture
def no_tesseract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_tesseract_tsv_becomes_lines_paragraphs_and_confidences() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t96.5\tThe",
        "5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t90\troots",
        "5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t80\treach",
        "5\t1\t1\t2\t1\t1\t0\t0\t1\t1\t70\tback",
        "5\t1\t1\t2\t1\t2\t0\t0\t1\t1\t-1\t ",
        "5\t1\t2\t1\t1\t1\t0\t0\t1\t1\tx\tbad",
    ]
    text, confidences = parse_tsv("\n".join([header, *rows]))
    assert text == "The roots\nreach\n\nback"
    assert confidences == [96.5, 90.0, 80.0, 70.0]
    assert page_ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"


def test_install_hint_names_the_package_for_each_family() -> None:
    for family, package in (
        ("apt", "tesseract-ocr"),
        ("dnf", "tesseract tesseract-langpack-eng"),
        ("pacman", "tesseract tesseract-data-eng"),
        ("zypper", "tesseract-ocr tesseract-ocr-traineddata-english"),
    ):
        hint = prereqs.ocr_install_hint(prereqs.Distro("x", "X", family))
        assert hint == f"{prereqs.INSTALL_COMMANDS[family]} {package}"
    unknown = prereqs.ocr_install_hint(prereqs.Distro("", "", None))
    assert "apt-get install -y tesseract-ocr" in unknown and "brew install tesseract" in unknown
    debian = prereqs.Distro("debian", "Debian", "apt")
    assert prereqs.ocr_missing(debian, which=lambda _name: None)[0].package == "tesseract-ocr"
    assert prereqs.ocr_missing(debian, which=lambda name: f"/usr/bin/{name}") == []
    report = prereqs.Prereqs(debian, tuple(prereqs.ocr_missing(debian, which=lambda _n: None)))
    assert "OCR of scanned pages" in prereqs.describe(report)
    assert report.install_command() == "sudo apt-get install -y tesseract-ocr"


@pytest.mark.usefixtures("no_tesseract")
def test_without_tesseract_scans_are_skipped_with_the_install_command(tmp_path: Path) -> None:
    for name in ("tts-history-scan.png", "tts-history-scan.pdf"):
        with pytest.raises(FileRejected) as caught:
            parse_file(SCANNED / name)
        assert caught.value.status == "skipped"
        assert "Tesseract is not installed" in caught.value.reason
        assert prereqs.ocr_install_hint() in caught.value.reason
    # a PDF with text on some pages and scans on others: the text is indexed, the scans named
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(TABLES / "tts-operations-tables.pdf"))
    writer.append(PdfReader(SCANNED / "tts-history-scan.pdf"))
    mixed = tmp_path / "mixed.pdf"
    with open(mixed, "wb") as fh:
        writer.write(fh)
    doc = parse_file(mixed)
    assert {b.page for b in doc.blocks} == {1, 2}
    assert any("page(s) 3 have no text layer and were not OCR'd" in n for n in doc.notes)


def test_broken_and_oversized_images_are_refused(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "cut.png").write_bytes((SCANNED / "tts-history-scan.png").read_bytes()[:5000])
    with pytest.raises(FileRejected) as caught:
        parse_file(tmp_path / "cut.png")
    assert caught.value.status == "failed"
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000), 1).save(buffer, format="PNG")  # 81 M pixels in ~10 kB
    (tmp_path / "huge.png").write_bytes(buffer.getvalue())
    with pytest.raises(FileRejected) as caught:
        parse_file(tmp_path / "huge.png")
    assert caught.value.status == "skipped" and "too large to OCR" in caught.value.reason


@needs_tesseract
def test_scanned_image_and_pdf_are_read_with_their_confidence(tmp_path: Path) -> None:
    from PIL import Image

    source = (SCANNED / "tts-history.txt").read_text()
    Image.open(SCANNED / "tts-history-scan.png").save(tmp_path / "scan.jpg", quality=85)
    for path in (
        SCANNED / "tts-history-scan.png",
        SCANNED / "tts-history-scan.pdf",
        tmp_path / "scan.jpg",
    ):
        doc = parse_file(path)
        text = " ".join(" ".join(b.text for b in doc.blocks).split())
        assert "Technology Transformation Services reach back to 1966" in text
        assert "Presidential Innovation Fellows (PIF)" in text
        assert all(b.page == 1 for b in doc.blocks)
        (note,) = doc.notes
        assert note.startswith("OCR: page(s) 1, mean word confidence ")
        assert len(text) > 0.9 * len(" ".join(source.split()))


@needs_tesseract
def test_worker_gives_each_scanned_page_its_own_budget(tmp_path: Path) -> None:
    """The parse worker's heartbeat: a one-second file budget still lets a page be OCR'd (the
    page has its own), and a page over its own OCR time is named in the reason."""
    with ParseWorker(ParseBudget(seconds=1.0, ocr_page_seconds=120.0)) as worker:
        doc = worker.parse(SCANNED / "tts-history-scan.pdf", 20 * 1024 * 1024)
    assert doc.notes[0].startswith("OCR: page(s) 1")
    with (
        ParseWorker(ParseBudget(ocr_page_seconds=0.001)) as worker,
        pytest.raises(FileRejected) as caught,
    ):
        worker.parse(SCANNED / "tts-history-scan.png", 20 * 1024 * 1024)
    assert caught.value.status == "skipped"
    assert "OCR of page 1 took over 0.001 s" in caught.value.reason


@needs_tesseract
def test_max_pages_bounds_a_long_scan(tmp_path: Path) -> None:
    from PIL import Image

    page = Image.open(SCANNED / "tts-history-scan.png")
    frames = [page.copy() for _ in range(3)]
    frames[0].save(tmp_path / "scan.tiff", save_all=True, append_images=frames[1:])
    doc = parse_file(tmp_path / "scan.tiff", ocr=OcrOptions(max_pages=2))
    assert {b.page for b in doc.blocks} == {1, 2}
    assert "OCR: page(s) 1-2" in doc.notes[0] and "OCR stopped after 2 pages" in doc.notes[0]


@needs_tesseract
def test_build_reports_ocr_pages_and_indexes_their_text(tmp_path: Path, embedder: Embedder) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(SCANNED / "tts-history-scan.pdf", source / "history.pdf")
    steps = [s for s in build(source, tmp_path / "kb", embedder) if s.kind == "file"]
    (step,) = steps
    assert step.status == "indexed" and step.chunks > 0
    assert "OCR: page(s) 1, mean word confidence" in step.reason


@pytest.mark.usefixtures("no_tesseract")
def test_build_without_tesseract_reports_the_scan_as_skipped(
    tmp_path: Path, embedder: Embedder
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(SCANNED / "tts-history-scan.png", source / "scan.png")
    (step,) = [s for s in build(source, tmp_path / "kb", embedder) if s.kind == "file"]
    assert step.status == "skipped" and "Tesseract is not installed" in step.reason


@pytest.mark.usefixtures("no_tesseract")
def test_doctor_says_how_to_install_tesseract() -> None:
    from desktop.engine import doctor

    info = doctor._system_info()
    assert info["ocr_missing"] == [prereqs.OCR_TOOL]
    lines = doctor._system_lines(info)
    assert any(prereqs.ocr_install_hint() in line and "scanned pages" in line for line in lines)


class _Kept:
    """The module's embedder, which the CLI's `close()` must not close."""

    def __init__(self, real: Embedder) -> None:
        self.real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def close(self) -> None:
        pass


@needs_tesseract
def test_admin_build_names_the_ocr_pages_and_their_confidence(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from desktop.cli import main as cli
    from desktop.engine.packs.workspace import Workspace

    monkeypatch.setattr("desktop.engine.runtime.embedder.Embedder", lambda *a, **k: _Kept(embedder))
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(SCANNED / "tts-history-scan.pdf", source / "history.pdf")
    args = ["admin", "build", str(source), "--workspace", str(workspace.root), "--pack-id", "scan"]
    assert cli([*args, "--title", "Scans"]) == 0
    assert "ocr      history.pdf: OCR: page(s) 1, mean word confidence" in capsys.readouterr().err
