"""What this machine offers llama.cpp: physical cores, CPU features, GPU offload.

llama-cpp-python defaults to `cpu_count() // 2` threads, which on a 2-vCPU machine is one thread and
41 % slower generation. We take physical cores for generation and all logical CPUs for prompt
evaluation (batch), both overridable in settings.

On a busy machine that is too many: with as many threads as cores and another process on one of
them, every barrier in llama.cpp's OpenMP graph waits for a descheduled thread (SmolLM2 fell from
~100 to 1.3-36 tokens/s; one thread kept 40-50). `CpuLoad` measures how many cores other processes
keep busy, and `fit_to_load` takes those cores away from the plan before each generation.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class ThreadPlan:
    n_threads: int
    n_threads_batch: int
    physical_cores: int
    logical_cpus: int


def logical_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Distinct (physical id, core id) pairs from /proc/cpuinfo; falls back to logical CPUs."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return logical_cpus()
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in cpuinfo.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            physical = value
        elif key == "core id":
            core = value
        elif not line.strip():
            if core:
                cores.add((physical, core))
            physical = core = ""
    if core:
        cores.add((physical, core))
    # Inside a container or affinity mask we may see fewer CPUs than the package has cores.
    return max(1, min(len(cores) or logical_cpus(), logical_cpus()))


def plan_threads(n_threads: int | None = None, n_threads_batch: int | None = None) -> ThreadPlan:
    logical = logical_cpus()
    physical = physical_cores()
    return ThreadPlan(
        n_threads=n_threads if n_threads and n_threads > 0 else physical,
        n_threads_batch=n_threads_batch if n_threads_batch and n_threads_batch > 0 else logical,
        physical_cores=physical,
        logical_cpus=logical,
    )


def fit_to_load(plan: ThreadPlan, other_busy_cores: float) -> ThreadPlan:
    """The plan less the cores other processes keep busy (rounded), never below one thread."""
    busy = int(other_busy_cores + 0.5)
    if busy <= 0:
        return plan
    return replace(
        plan,
        n_threads=max(1, min(plan.n_threads, plan.logical_cpus - busy)),
        n_threads_batch=max(1, min(plan.n_threads_batch, plan.logical_cpus - busy)),
    )


def _busy_jiffies() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat (Linux only)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    tick = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
    return (sum(values) - idle) / tick, sum(values) / tick


class CpuLoad:
    """How many cores other processes keep busy, from /proc/stat less this process's own CPU time
    (`os.times`), so our own generation does not count against us.

    A reading covers the time since the previous one. During and between back-to-back answers that
    is recent and free; after an idle spell (a user reading the last answer) it would describe the
    past, so `other_busy_cores` then measures a fresh `MIN_WINDOW_S` (50 ms) before the answer. Where /proc/stat is
    missing (macOS, Windows) it reports 0: the plan as is.
    """

    MIN_WINDOW_S = 0.05
    MAX_WINDOW_S = 1.0

    def __init__(self) -> None:
        self._last = self._sample()
        self._busy = 0.0

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        machine = _busy_jiffies()
        if machine is None:
            return None
        own = os.times()
        return time.monotonic(), machine[0], own.user + own.system

    def window_s(self) -> float:
        return time.monotonic() - self._last[0] if self._last is not None else 0.0

    def start_window(self) -> None:
        """Begin a fresh reading now if the current one is stale, so that a generation starting
        later (after retrieval) finds a recent window and need not sleep for one."""
        if self._last is not None and self.window_s() > self.MAX_WINDOW_S:
            self._last = self._sample()

    def other_busy_cores(self, *, may_wait: bool = True) -> float:
        """Cores other processes kept busy; `may_wait=False` (inside a generation, whose own
        window is recent) never sleeps for a fresh window."""
        if self._last is None:
            return 0.0
        if may_wait and self.window_s() > self.MAX_WINDOW_S:
            self._last = self._sample()
            time.sleep(self.MIN_WINDOW_S)
        now, last = self._sample(), self._last
        if now is None or last is None:
            return 0.0
        wall = now[0] - last[0]
        if wall < self.MIN_WINDOW_S:
            return self._busy  # too short a window to tell: keep the previous reading
        others = (now[1] - last[1]) - (now[2] - last[2])
        self._busy = max(0.0, others / wall)
        self._last = now
        return self._busy


def cpu_features() -> list[str]:
    """The SIMD features that matter for llama.cpp speed, as the kernel reports them."""
    wanted = (
        "avx",
        "avx2",
        "avx512f",
        "avx512_bf16",
        "avx512_vnni",
        "fma",
        "f16c",
        "neon",
        "asimd",
    )
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return []
    for line in cpuinfo.read_text(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = set(value.split())
            return [f for f in wanted if f in flags]
    return []


@functools.cache
def amx_build() -> bool:
    """Whether this llama.cpp build carries Intel AMX kernels. They crash the first inference on
    some AMX CPUs (llama.cpp issue 20824: a segfault in `ggml_backend_amx_mul_mat`, seen here with
    Qwen2.5 Q4_K_M and SmolLM2 Q4_1), so `open_llama` loads such a build without its extra buffer
    types (plain CPU kernels, no weight repacking); `installer/build_llama.sh` compiles without AMX."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return "AMX_INT8 = 1" in info


def gpu_offload_supported() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def default_gpu_layers(requested: int | None = None) -> int:
    """All layers when the build can offload, none otherwise; a setting overrides."""
    if requested is not None and requested >= 0:
        return requested
    return -1 if gpu_offload_supported() else 0
