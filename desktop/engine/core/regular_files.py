"""Opening a file that a user, an administrator or an attacker named: a regular file only, never a
device, a pipe or a socket (`/dev/zero` would be read until memory ran out, a FIFO would block),
and never more than the caller's limit. Packs, grants and audit exports are all read this way;
each caller turns the problem into its own error."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class NotRegularFile(OSError):
    """The path names a device, pipe, socket or folder."""


class FileTooLarge(OSError):
    """The file is longer than the caller's limit."""


@contextlib.contextmanager
def open_regular(path: Path) -> Iterator[IO[bytes]]:
    """`path` opened for reading, non-blocking (a FIFO cannot hang the open), and checked to be a
    regular file on the opened descriptor (no race with a swap). `FileNotFoundError`, other
    `OSError`s and `NotRegularFile` propagate."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        yield handle


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (`FileTooLarge` beyond it)."""
    with open_regular(path) as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise FileTooLarge(f"{path} is over {limit:,} bytes")
    return raw
