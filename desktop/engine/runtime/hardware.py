"""What this machine offers llama.cpp: physical cores, CPU features, GPU offload.

llama-cpp-python defaults to `cpu_count() // 2` threads, which on a 2-vCPU machine is one thread and
41 % slower generation. We take physical cores for generation and all logical CPUs for prompt
evaluation (batch), both overridable in settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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


def gpu_offload_supported() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def default_gpu_layers(requested: int | None = None) -> int:
    """All layers when the build can offload, none otherwise; a setting overrides."""
    if requested is not None and requested >= 0:
        return requested
    return -1 if gpu_offload_supported() else 0
