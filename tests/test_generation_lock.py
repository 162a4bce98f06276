"""The machine-wide generation lock, with real processes: Enclave processes queue, never overlap."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.engine.core import paths
from desktop.engine.core.errors import Cancelled
from desktop.engine.runtime import hardware
from desktop.engine.runtime.generation_lock import GenerationLock
from desktop.engine.runtime.model_manager import ModelManager

ROOT = Path(__file__).resolve().parents[1]

# Takes the lock `times` times, holding it `hold` s each, and prints the (start, end) of each hold.
HOLDER = """
import json, sys, time
from pathlib import Path
from desktop.engine.runtime.generation_lock import GenerationLock
path, times, hold = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
spans = []
for _ in range(times):
    lock = GenerationLock(path)
    lock.acquire()
    start = time.time()
    print("held", flush=True)
    time.sleep(hold)
    end = time.time()
    lock.release()
    spans.append((start, end))
    time.sleep(0.005)
print(json.dumps(spans), flush=True)
"""


def _holder(path: Path, times: int, hold: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(times), str(hold)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _wait_until_held(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"


def test_two_processes_never_hold_the_lock_at_once(tmp_path: Path) -> None:
    path = tmp_path / "generation.lock"
    procs = [_holder(path, 5, 0.05) for _ in range(2)]
    spans: list[tuple[float, float]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        spans += [tuple(s) for s in json.loads(out.strip().splitlines()[-1])]
    spans.sort()
    assert len(spans) == 10
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans


def test_a_waiting_acquire_ends_on_cancel(tmp_path: Path) -> None:
    path = tmp_path / "generation.lock"
    proc = _holder(path, 1, 30)
    try:
        _wait_until_held(proc)
        cancel = threading.Event()
        threading.Timer(0.2, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            GenerationLock(path).acquire(cancel.is_set)
        assert time.monotonic() - started < 2
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "generation.lock"
    proc = _holder(path, 1, 30)
    _wait_until_held(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = GenerationLock(path)
    done = threading.Event()
    threading.Timer(5, done.set).start()
    lock.acquire(done.is_set)  # raises Cancelled if still held after 5 s
    assert lock.held
    lock.release()
    assert not lock.held


def test_a_generation_queued_behind_another_process_can_be_cancelled(
    chat_manager: ModelManager,
) -> None:
    proc = _holder(paths.base_data_dir() / "generation.lock", 1, 30)
    try:
        _wait_until_held(proc)
        generation = chat_manager.stream_prompt("Hello", max_tokens=4)
        threading.Timer(0.2, chat_manager.cancel_current).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            generation.text()
        assert time.monotonic() - started < 2
    finally:
        proc.kill()
        proc.wait()
    # The queue is free again and the manager still answers.
    assert chat_manager.stream_prompt("Hello", max_tokens=4).text()


def test_a_generation_releases_the_lock_when_closed_early(chat_manager: ModelManager) -> None:
    generation = chat_manager.stream_prompt("Count to twenty:", max_tokens=32)
    next(iter(generation))
    path = paths.base_data_dir() / "generation.lock"
    assert not _acquired_within(path, 0.1)
    generation.close()
    assert _acquired_within(path, 2)


def _acquired_within(path: Path, seconds: float) -> bool:
    lock = GenerationLock(path)
    deadline = time.monotonic() + seconds
    try:
        lock.acquire(lambda: time.monotonic() > deadline)
    except Cancelled:
        return False
    lock.release()
    return True


def test_threads_fit_the_cores_other_processes_leave() -> None:
    plan = hardware.ThreadPlan(n_threads=2, n_threads_batch=2, physical_cores=2, logical_cpus=2)
    assert hardware.fit_to_load(plan, 0.3) == plan
    assert hardware.fit_to_load(plan, 0.9).n_threads == 1
    assert hardware.fit_to_load(plan, 0.9).n_threads_batch == 1
    assert hardware.fit_to_load(plan, 5.0).n_threads == 1


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="Linux /proc/stat")
def test_cpu_load_sees_a_busy_process_and_not_ourselves() -> None:
    # Our own work does not count: over the same window, the reading is the whole machine's busy
    # cores less ours (whatever else this shared machine runs meanwhile).
    machine_before, own_before, started = hardware._busy_jiffies(), os.times(), time.monotonic()
    load = hardware.CpuLoad()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        pass
    other = load.other_busy_cores()
    machine_after, own_after, wall = (
        hardware._busy_jiffies(),
        os.times(),
        time.monotonic() - started,
    )
    assert machine_before is not None and machine_after is not None
    machine = (machine_after[0] - machine_before[0]) / wall
    own = (own_after.user + own_after.system - own_before.user - own_before.system) / wall
    assert own > 0.2  # we did spin
    assert abs(other - max(0.0, machine - own)) < 0.3, (other, machine, own)
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        load.other_busy_cores()
        time.sleep(0.4)
        assert load.other_busy_cores() > 0.6
    finally:
        spin.kill()
        spin.wait()
