"""Read scanned pages with Tesseract: images and PDF pages that have no text layer.

Tesseract is a system program (`tesseract` on PATH), run once per page as a subprocess with a
timeout; the page goes in on stdin as a PNG and the words come back as TSV (one row per word with
its confidence, 0-100), so no temporary file holds document content. The PDF pages are rasterised
with pypdfium2 (PDFium, BSD/Apache; already installed as pdfplumber's renderer). Both run in the
parse worker, under its memory cap; the worker reports each page to the parent, which gives every
page its own time budget (`OcrOptions.page_seconds`) up to `max_pages` pages per file.

Pillow reads the images, with a pixel limit (decompression bombs), and every page is turned into
grayscale before Tesseract sees it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from desktop.engine.core import prereqs
from desktop.engine.knowledge.errors import FileRejected

RENDER_DPI = 300
MAX_PIXELS = 60_000_000  # a Letter page at 300 dpi is 8.4 M; A0 at 300 dpi ~140 M is refused
MIN_TEXT_LAYER_CHARS = 16  # a page with fewer non-space characters counts as having no text layer
_LANGUAGE = re.compile(r"[A-Za-z_]+(\+[A-Za-z_]+)*")


@dataclass(frozen=True)
class OcrOptions:
    """How scanned pages are read: the time one page may take, how many pages per file, the
    Tesseract languages, and what to call before each page (the parse worker's heartbeat)."""

    page_seconds: float = 60.0
    max_pages: int = 200
    languages: str = field(default_factory=lambda: os.environ.get("ENCLAVE_OCR_LANG", "eng"))
    on_page: Callable[[], None] | None = None


@dataclass(frozen=True)
class OcrPage:
    number: int
    text: str
    confidence: float | None  # the mean word confidence, 0-100; None when no word was found
    words: int


class OcrUnavailable(FileRejected):
    """Tesseract is not installed: the file is skipped with the command that installs it."""

    def __init__(self, what: str) -> None:
        hint = prereqs.ocr_install_hint()
        super().__init__(
            "skipped",
            f"{what} needs OCR, and Tesseract is not installed (install it with: {hint}; "
            "then build again)",
        )


def tesseract() -> str | None:
    return shutil.which("tesseract")


def has_text_layer(text: str) -> bool:
    return sum(1 for ch in text if not ch.isspace()) >= MIN_TEXT_LAYER_CHARS


def parse_tsv(tsv: str) -> tuple[str, list[float]]:
    """Tesseract's TSV as text (lines in order, a blank line between paragraphs) and the
    confidence of every word."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences: list[float] = []
    rows = tsv.splitlines()
    for row in rows[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":  # level 5: a word
            continue
        word = cols[11].strip()
        try:
            conf = float(cols[10])
            key = (int(cols[2]), int(cols[3]), int(cols[4]))
        except ValueError:
            continue
        if not word or conf < 0:
            continue
        confidences.append(conf)
        lines.setdefault(key, []).append(word)
    out: list[str] = []
    previous: tuple[int, int] | None = None
    for (block, par, _line), words in lines.items():
        if previous is not None and previous != (block, par):
            out.append("")
        out.append(" ".join(words))
        previous = (block, par)
    return "\n".join(out), confidences


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PNG")
    return buffer.getvalue()


def ocr_png(png: bytes, number: int, options: OcrOptions) -> OcrPage:
    """One page through Tesseract; a page over its time is refused with a reason (this page)."""
    binary = tesseract()
    if binary is None:
        raise OcrUnavailable("this page")
    languages = options.languages if _LANGUAGE.fullmatch(options.languages) else "eng"
    env = dict(
        os.environ, OMP_THREAD_LIMIT="1"
    )  # one page at a time, one thread: no oversubscribing
    try:
        result = subprocess.run(
            [binary, "stdin", "stdout", "-l", languages, "--psm", "3", "tsv"],
            input=png,
            capture_output=True,
            timeout=options.page_seconds,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise FileRejected(
            "skipped", f"OCR of page {number} took over {options.page_seconds:g} s"
        ) from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise FileRejected("failed", f"Tesseract failed on page {number}: {message[0][:200]}")
    text, confidences = parse_tsv(result.stdout.decode("utf-8", "replace"))
    return OcrPage(number, text, fmean(confidences) if confidences else None, len(confidences))


def open_image(data: bytes) -> Any:
    """The image in `data`, checked (structure, pixel limit), or `FileRejected`."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # larger: refused before any pixel is decoded
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.open(io.BytesIO(data)).verify()  # structure only; reopen to decode
            return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FileRejected("skipped", f"image too large to OCR ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FileRejected("failed", f"not a readable image ({exc})") from None


def image_pages(image: Any, max_pages: int) -> Iterator[tuple[int, bytes]]:
    """Each frame of an opened image (a TIFF may hold many) as grayscale PNG bytes."""
    from PIL import ImageSequence

    for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
        if number > max_pages:
            return
        width, height = frame.size
        if width * height > MAX_PIXELS:
            raise FileRejected(
                "skipped", f"image page {number} too large to OCR ({width}x{height})"
            )
        try:
            yield number, _png(frame)
        except (OSError, ValueError) as exc:  # truncated pixel data shows only when decoded
            raise FileRejected("failed", f"image page {number} cannot be decoded ({exc})") from None


def render_pdf_page(data: bytes, number: int) -> bytes:
    """PDF page `number` (1-based) at RENDER_DPI, scaled down to stay under MAX_PIXELS."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        page = document[number - 1]
        try:
            width, height = page.get_size()  # points (1/72 inch)
            scale = RENDER_DPI / 72
            if width * height * scale * scale > MAX_PIXELS:
                scale = (MAX_PIXELS / max(width * height, 1.0)) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True)
            return _png(bitmap.to_pil())
        finally:
            page.close()
    finally:
        document.close()


def ocr_note(pages: list[OcrPage]) -> str:
    """The build report's line: which pages were OCR'd and with what mean confidence."""
    if not pages:
        return ""
    numbers = page_ranges([p.number for p in pages])
    scored = [p for p in pages if p.confidence is not None]
    if not scored:
        return f"OCR: page(s) {numbers}: no text found"
    words = sum(p.words for p in scored)
    mean = sum(p.confidence * p.words for p in scored if p.confidence is not None) / max(words, 1)
    each = ", ".join(
        f"p{p.number} {p.confidence:.0f}" for p in pages[:20] if p.confidence is not None
    )
    more = ", ..." if len(pages) > 20 else ""
    return f"OCR: page(s) {numbers}, mean word confidence {mean:.1f}% ({each}{more})"


def page_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    out: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:]:
        if n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    out.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(out)
