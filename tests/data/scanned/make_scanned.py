"""Make the scanned-page fixtures from a real 18F handbook page (public domain).

    .venv/bin/python tests/data/scanned/make_scanned.py [--handbook DIR]

The page's prose (about-us/tts-history.md, Markdown markup removed; the whole paragraphs that fit on
one page) is written to `tts-history.txt` (the text layer the OCR is scored against), typeset at 200 dpi on a US Letter
page (DejaVu Serif 11 pt), then "scanned": rotated 0.4 degrees, blurred slightly, with speckle
noise, all from a fixed seed. The results: `tts-history-scan.png` (the image) and
`tts-history-scan.pdf` (that image as a PDF page with no text layer, written by Pillow).
"""

from __future__ import annotations

import argparse
import random
import re
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
HANDBOOK = HERE.parents[3] / "shared" / "corpora" / "18f-handbook"
PAGE = "about-us/tts-history.md"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
DPI = 200
MAX_WORDS = 400


def page_text(handbook: Path) -> str:
    """The page's paragraphs as plain text: front matter, Liquid, links and emphasis removed."""
    source = (handbook / PAGE).read_text(encoding="utf-8")
    source = re.sub(r"\A---\n.*?\n---\n", "", source, flags=re.S)
    source = re.sub(r"\{%.*?%\}", "", source)
    source = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", source)
    paragraphs: list[str] = []
    words = 0
    for block in re.split(r"\n\s*\n", source):
        text = " ".join(block.replace("**", "").split())
        text = re.sub(r"^#+ ", "", text).removeprefix("- ")
        if not text:
            continue
        paragraphs.append(text)
        words += len(text.split())
        if words >= MAX_WORDS:
            break
    return "\n\n".join(paragraphs) + "\n"


WIDTH, HEIGHT = int(8.5 * DPI), int(11 * DPI)
LINE_HEIGHT = int(11 * DPI / 72 * 1.45)


def fit(text: str) -> str:
    """The whole paragraphs of `text` that fit on the page between one-inch margins."""
    kept: list[str] = []
    y = DPI
    for paragraph in text.strip().split("\n\n"):
        lines = len(textwrap.wrap(paragraph, width=78))
        if y + lines * LINE_HEIGHT > HEIGHT - DPI:
            break
        kept.append(paragraph)
        y += lines * LINE_HEIGHT + LINE_HEIGHT // 2
    return "\n\n".join(kept) + "\n"


def render(text: str) -> object:
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    width, height = WIDTH, HEIGHT
    font = ImageFont.truetype(str(FONT), int(11 * DPI / 72))
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    x, y = DPI, DPI
    for paragraph in text.strip().split("\n\n"):
        for line in textwrap.wrap(paragraph, width=78):
            draw.text((x, y), line, font=font, fill=20)
            y += LINE_HEIGHT
        y += LINE_HEIGHT // 2
    rng = random.Random(17)
    page = page.rotate(0.4, resample=Image.Resampling.BICUBIC, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    pixels = page.load()
    for _ in range(width * height // 150):  # speckle: dark dots on the paper, light in the ink
        px, py = rng.randrange(width), rng.randrange(height)
        pixels[px, py] = rng.choice((60, 110, 230))  # type: ignore[index]
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handbook", type=Path, default=HANDBOOK)
    args = parser.parse_args()
    text = fit(page_text(args.handbook))
    (HERE / "tts-history.txt").write_text(text, encoding="utf-8")
    image = render(text)
    image.save(HERE / "tts-history-scan.png", optimize=True)  # type: ignore[attr-defined]
    image.save(HERE / "tts-history-scan.pdf", resolution=DPI)  # type: ignore[attr-defined]
    for name in ("tts-history.txt", "tts-history-scan.png", "tts-history-scan.pdf"):
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
