"""OCR quality on the scanned public-domain fixture: character error rate against its text layer.

    .venv/bin/python bench/eval_ocr.py [--data tests/data/scanned]

Each scanned fixture (the PNG and the PDF with no text layer, made by
tests/data/scanned/make_scanned.py) goes through the same parser a pack build uses
(`parsers.parse_file`, so Tesseract through `knowledge/ocr.py`); the text that comes back is
compared with the source text (`tts-history.txt`) by edit distance over characters, whitespace
runs folded to one space on both sides (line wrapping is layout, not text). CER = (substitutions +
insertions + deletions) / characters of the source. Target: <= 5 %.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.engine.knowledge.errors import FileRejected  # noqa: E402
from desktop.engine.knowledge.ocr import tesseract  # noqa: E402
from desktop.engine.knowledge.parsers import parse_file  # noqa: E402

DATA = ROOT / "tests" / "data" / "scanned"
TARGET = 0.05


def fold(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit costs), two rows at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = fold(reference), fold(hypothesis)
    return edit_distance(ref, hyp) / max(len(ref), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if tesseract() is None:
        print("tesseract is not installed: nothing to measure (see docs/tables-and-ocr.md)")
        return 2
    reference = (args.data / "tts-history.txt").read_text(encoding="utf-8")
    worst = 0.0
    print(f"{'fixture':<24} {'CER':>7} {'chars':>6} {'seconds':>8}  build-report note")
    for name in ("tts-history-scan.png", "tts-history-scan.pdf"):
        started = time.perf_counter()
        try:
            doc = parse_file(args.data / name)
        except FileRejected as rejected:
            print(f"{name:<24} refused: {rejected.status}: {rejected.reason}")
            return 1
        seconds = time.perf_counter() - started
        text = "\n\n".join(b.text for b in doc.blocks)
        rate = cer(reference, text)
        worst = max(worst, rate)
        print(f"{name:<24} {rate:7.2%} {len(fold(text)):6d} {seconds:8.1f}  {'; '.join(doc.notes)}")
    verdict = "PASS" if worst <= TARGET else "FAIL"
    print(f"worst CER {worst:.2%} (target <= {TARGET:.0%}): {verdict}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
