"""Malformed inputs generated at test time (nothing big is checked in)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def write_malformed(folder: Path) -> dict[str, tuple[str, str]]:
    """Write bad files into `folder`; returns name -> (expected status, reason fragment)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.md").write_text("# Fine\n\nThis file is perfectly fine.\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "junk.pdf").write_bytes(bytes(range(256)) * 64)
    with open(folder / "huge.txt", "wb") as fh:
        line = b"all work and no play makes a very large file " * 20 + b"\n"
        for _ in range((50 * 1024 * 1024) // len(line) + 1):
            fh.write(line)
    (folder / "latin.txt").write_bytes("na\u00efve caf\u00e9 r\u00e9sum\u00e9".encode("cp1252"))
    (folder / "garbage.md").write_bytes(bytes(range(128, 256)) * 50)
    (folder / "utf16.txt").write_bytes("hello from utf-16".encode("utf-16"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (300 * 1024 * 1024))
    (folder / "bomb.docx").write_bytes(buffer.getvalue())
    return {
        "empty.txt": ("skipped", "empty"),
        "junk.pdf": ("failed", "not a PDF"),
        "huge.txt": ("skipped", "too large"),
        "latin.txt": ("indexed", "Windows-1252"),
        "garbage.md": ("failed", "undecodable"),
        "utf16.txt": ("indexed", ""),
        "bomb.docx": ("failed", "zip bomb"),
    }
