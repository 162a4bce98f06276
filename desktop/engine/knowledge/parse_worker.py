"""Parse each source file in a child process under a time and a memory budget.

Source files are hostile input, and parser libraries run in C or in regular expressions that no
thread can interrupt. So files are parsed in one worker process (`python -c`, not `multiprocessing`,
so the parent's main script is never re-run): a file that takes longer than the budget gets the
worker killed (and a fresh one for the next file); where the OS supports it (`RLIMIT_AS`, Linux),
the worker's address space is capped at its size before the file plus the memory budget, so a
decompression or YAML-alias bomb ends in a `MemoryError` in the worker, not in the build. Either way
the file is "skipped: too complex ..." and the build goes on. Results come back as length-prefixed
JSON frames (never pickles) of bounded size.

Scanned pages take longer (OCR, `ocr.py`): before each one the worker sends a heartbeat frame, and
the parent gives that page its own budget (`ocr_page_seconds`), for at most `ocr_max_pages` pages.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from desktop.engine.knowledge.errors import FileRejected
from desktop.engine.knowledge.ocr import OcrOptions
from desktop.engine.knowledge.parsers import Block, ParsedDocument, parse_file

TOO_COMPLEX = "too complex"
MAX_RESULT_BYTES = 256 * 1024 * 1024
_MAX_REQUEST_BYTES = 1 << 20
_START_SECONDS = 120.0  # starting Python and importing the parsers: not part of any file's budget
_READY = b"ready"
_OVERSIZE = b""  # what the reader thread queues for a frame over the limit
_PAGE = b"page"  # the worker's heartbeat: it starts to OCR one more scanned page
_FRAME = struct.Struct(">Q")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # the folder that holds `desktop/`


@dataclass(frozen=True)
class ParseBudget:
    """What one file may cost: seconds of parsing, and bytes of memory beyond the worker's own."""

    seconds: float = 60.0
    memory_bytes: int = 2 * 1024 * 1024 * 1024
    # Scanned pages: each page the worker starts to OCR gives the file this much more time, for at
    # most this many pages (`ocr.OcrOptions`); the worker announces each page with a heartbeat.
    ocr_page_seconds: float = 60.0
    ocr_max_pages: int = 200


class ParseWorker:
    """One child process that parses files one at a time; started on first use, restarted after a
    file that broke a budget or killed it."""

    def __init__(self, budget: ParseBudget | None = None) -> None:
        self.budget = budget or ParseBudget()
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._replies: queue.Queue[bytes | None] = queue.Queue()

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def parse(self, path: Path, max_bytes: int) -> ParsedDocument:
        """`parsers.parse_file(path)` in the worker, or `FileRejected` (budget, crash, refusal)."""
        request = json.dumps(
            {
                "path": str(path),
                "max_bytes": max_bytes,
                "ocr_page_seconds": self.budget.ocr_page_seconds,
                "ocr_max_pages": self.budget.ocr_max_pages,
            }
        ).encode()
        process = self._ensure_started()
        try:
            _write_frame(process.stdin, request)
        except OSError:  # it died since the last file: one fresh start
            self._stop()
            process = self._ensure_started()
            _write_frame(process.stdin, request)
        wait, pages = self.budget.seconds, 0
        while True:
            try:
                reply = self._replies.get(timeout=wait)
            except queue.Empty:
                self._stop()
                what = f"OCR of page {pages}" if pages else "parsing"
                raise FileRejected(
                    "skipped", f"{TOO_COMPLEX}: {what} took over {wait:g} s"
                ) from None
            if reply != _PAGE or pages > self.budget.ocr_max_pages:
                break
            pages += 1  # one more scanned page started: it gets its own time
            wait = self.budget.ocr_page_seconds + 5.0  # Tesseract's own timeout, plus rendering
        if reply is None:
            code = self._stop()
            raise FileRejected(
                "failed", f"the parser stopped unexpectedly on this file (exit code {code})"
            )
        if reply == _OVERSIZE:
            self._stop()
            raise FileRejected("skipped", f"{TOO_COMPLEX}: it holds far too much text")
        try:
            message = json.loads(reply)
            if "rejected" in message:
                status, reason = message["rejected"]
                if message.get("restart"):
                    self._stop()
                raise FileRejected(str(status), str(reason))
            return _document_from(message["document"])
        except (ValueError, KeyError, TypeError):
            self._stop()
            raise FileRejected("failed", "the parser process answered nonsense") from None

    def close(self) -> None:
        self._stop()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        code = "from desktop.engine.knowledge.parse_worker import main; main()"
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(self.budget.memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        self._process = process
        self._replies = queue.Queue()
        self._reader = threading.Thread(
            target=_read_frames,
            args=(process.stdout, self._replies),
            name="enclave-parse-replies",
            daemon=True,
        )
        self._reader.start()
        try:
            ready = self._replies.get(timeout=_START_SECONDS)
        except queue.Empty:
            ready = None
        if ready != _READY:
            self._stop()
            raise RuntimeError("the document parser process did not start")
        return process

    def _stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        code = process.wait()
        if self._reader is not None:  # it sees the end of the dead worker's output and returns
            self._reader.join(10)
            self._reader = None
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return code


def _write_frame(stream: IO[bytes] | None, payload: bytes) -> None:
    if stream is None:
        raise OSError("no pipe to the parser process")
    stream.write(_FRAME.pack(len(payload)) + payload)
    stream.flush()


def _read_frame(stream: IO[bytes], limit: int) -> bytes | None:
    """One frame; None at the end of the stream; `_OVERSIZE` for a frame over `limit`."""
    header = stream.read(_FRAME.size)
    if len(header) < _FRAME.size:
        return None
    (length,) = _FRAME.unpack(header)
    if length > limit:
        return _OVERSIZE
    payload = stream.read(length)
    return payload if len(payload) == length else None


def _read_frames(stream: IO[bytes], replies: queue.Queue[bytes | None]) -> None:
    """The parent's reader thread: frames into `replies` until the worker's output ends."""
    while True:
        try:
            frame = _read_frame(stream, MAX_RESULT_BYTES)
        except (OSError, ValueError):
            frame = None
        replies.put(frame)
        if frame is None or frame is _OVERSIZE:
            return


def _document_from(data: dict[str, Any]) -> ParsedDocument:
    blocks = [
        Block(str(text), tuple(str(h) for h in heading), page, line)
        for text, heading, page, line in data["blocks"]
    ]
    return ParsedDocument(
        str(data["title"]),
        blocks,
        [str(k) for k in data["keywords"]],
        [str(n) for n in data["notes"]],
    )


def _document_json(doc: ParsedDocument) -> bytes:
    blocks = [[b.text, list(b.heading_path), b.page, b.line] for b in doc.blocks]
    document = {"title": doc.title, "blocks": blocks, "keywords": doc.keywords, "notes": doc.notes}
    return json.dumps({"document": document}, ensure_ascii=False).encode("utf-8")


def _address_space() -> int | None:
    """This process's virtual size in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class _MemoryCap:
    """`RLIMIT_AS` at the current size + a budget while one file is parsed (where supported)."""

    def __init__(self, extra: int) -> None:
        self.extra = extra
        self.original: tuple[int, int] | None = None
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            self.original = resource.getrlimit(resource.RLIMIT_AS)

    def __enter__(self) -> None:
        now = _address_space()
        if self.original is None or now is None:
            return  # no RLIMIT_AS here (Windows, some BSDs): the time budget still applies
        import resource

        soft, hard = self.original
        limit = now + self.extra
        for bound in (soft, hard):
            if bound != resource.RLIM_INFINITY:
                limit = min(limit, bound)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    def __exit__(self, *_exc: object) -> None:
        if self.original is not None:
            import resource

            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_AS, self.original)


def main() -> None:
    """The worker process: the protocol runs on private copies of stdin/stdout, and fd 1 goes to
    stderr, so nothing a parser library prints can corrupt a reply."""
    memory_bytes = int(sys.argv[1])
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(requests, replies, memory_bytes)


def _serve(requests: IO[bytes], replies: IO[bytes], memory_bytes: int) -> None:
    """Parse one file per request until the parent closes the pipe."""
    cap = _MemoryCap(memory_bytes)
    _write_frame(replies, _READY)
    while True:
        frame = _read_frame(requests, _MAX_REQUEST_BYTES)
        if not frame:
            return
        request = json.loads(frame)
        out_of_memory = False
        try:
            ocr = OcrOptions(
                page_seconds=float(request.get("ocr_page_seconds", 60.0)),
                max_pages=int(request.get("ocr_max_pages", 200)),
                on_page=lambda: _write_frame(replies, _PAGE),
            )
            with cap:
                doc = parse_file(
                    Path(request["path"]), max_bytes=int(request["max_bytes"]), ocr=ocr
                )
                reply = _document_json(doc)
                del doc
            if len(reply) > MAX_RESULT_BYTES:
                raise FileRejected("skipped", f"{TOO_COMPLEX}: it holds far too much text")
        except FileRejected as rejected:
            reply = json.dumps({"rejected": [rejected.status, rejected.reason]}).encode()
        except MemoryError:
            out_of_memory = True
        if out_of_memory:  # outside the handler: the traceback's frames are gone, memory is free
            megabytes = memory_bytes // (1024 * 1024)
            reason = f"{TOO_COMPLEX}: parsing needs more than {megabytes} MiB of memory"
            reply = json.dumps({"rejected": ["skipped", reason], "restart": True}).encode()
        _write_frame(replies, reply)
        if out_of_memory:
            return  # a fresh worker for the next file
