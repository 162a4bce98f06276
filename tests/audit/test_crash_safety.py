"""kill -9 while records are being written: no acknowledged record is lost and the chain is never
broken, also with two writers appending at once (the window and an `enclave ask`)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.engine.audit.store import AuditStore

from .conftest import KEY

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("crash_writer.py")


def start_writer(path: Path, tag: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), KEY.hex(), tag],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    return writer


@pytest.mark.slow
def test_kill_9_during_writes_loses_no_acknowledged_record_and_keeps_the_chain(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261201)
    path = tmp_path / "audit.db"
    AuditStore(path, KEY).close()
    acknowledged: set[int] = set()
    for round_ in range(20):
        writers = [start_writer(path, f"{round_}-{w}") for w in range(1 + round_ % 2)]
        time.sleep(rng.uniform(0.0, 0.3))  # a random point in the writing, not a timed check
        for writer in writers:
            writer.send_signal(signal.SIGKILL)
        for writer in writers:
            out, _ = writer.communicate()
            acknowledged.update(int(line) for line in out.split() if line.isdigit())
        with AuditStore(path, KEY) as store:
            assert store.integrity_problems() == []
            report = store.verify()
            assert report.ok, report.problem
            stored = {r.position for r in store.records()}
            missing = acknowledged - stored
            assert not missing, f"lost acknowledged records: {sorted(missing)[:5]}"
            assert report.count == len(stored)
    assert len(acknowledged) > 20
