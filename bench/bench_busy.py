"""B15: generation on a busy machine, ours against plain llama-cpp-python, in the same run.

One background process keeps one core busy (a pure-Python spin loop) while we measure decode
tokens/s (first to last token, stalls included: they are what a user sees) and time to first
token for:

  ours busy        `ModelManager.stream_prompt` (threads fitted to the free cores, see hardware.py)
  raw default      `Llama` with llama-cpp-python's default `n_threads` (`cpu_count() // 2`)
  raw cores        `Llama` with `n_threads = n_threads_batch = cores`
  ours quiet       `ModelManager`, no background process

Same model, prompt text, greedy sampling and answer length on every side; each repetition uses a
fresh prompt prefix so no side reuses the KV cache. Sides alternate within a repetition; medians.
Targets: ours_busy / ours_quiet >= 0.45 and ours_busy / raw_cores_busy >= 2.

`--processes N` instead starts N `enclave ask` processes at once (with the spinner unless
`--no-busy`) and reports the wall time until all have answered.

    ENCLAVE_CHAT_MODEL=smollm2-135m-instruct .venv/bin/python bench/bench_busy.py [--reps 5]
    .venv/bin/python bench/bench_busy.py --processes 12
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llama_cpp

from desktop.engine.runtime import hardware, modelfiles
from desktop.engine.runtime.catalog import CHAT_MODEL_ENV, Catalog, ModelEntry
from desktop.engine.runtime.chat_model import REPEAT_PENALTY, ModelSettings
from desktop.engine.runtime.model_manager import ModelManager

SMALL = "smollm2-135m-instruct"
NOTES = (
    "The harbour council met on Tuesday. The northern ferry was repaired and the market reopened. "
    "Lamps were counted at the railway, and the orchard permits were reviewed by the mill. "
)
Run = tuple[float, float]  # (time to first token s, decode tokens/s)


def prompt_for(mm: ModelManager, rep: int, side: str) -> str:
    return mm.render(
        [
            {"role": "system", "content": f"Session {rep}-{side}. You are a helpful assistant."},
            {
                "role": "user",
                "content": NOTES * 6
                + "\nWrite the numbers from 1 to 300, separated by commas, without stopping.",
            },
        ]
    )


def rate(stamps: list[float]) -> float:
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return 0.0
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def ours(mm: ModelManager, prompt: str, max_tokens: int) -> Run:
    started = time.perf_counter()
    stamps = [time.perf_counter() for _ in mm.stream_prompt(prompt, max_tokens=max_tokens)]
    return stamps[0] - started, rate(stamps)


def raw(llm: Any, prompt: str, max_tokens: int) -> Run:
    started = time.perf_counter()
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    llm.reset()
    stamps: list[float] = []
    for token_id in llm.generate(tokens, top_k=1, temp=0.0, repeat_penalty=REPEAT_PENALTY):
        llm.detokenize([token_id])
        stamps.append(time.perf_counter())
        if len(stamps) >= max_tokens:
            break
    return stamps[0] - started, rate(stamps)


@contextmanager
def spinner(enabled: bool = True) -> Iterator[None]:
    """One other process keeping one core busy, as a compiler or a browser tab would."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        yield
    finally:
        proc.kill()
        proc.wait()


def chat_entry() -> ModelEntry:
    os.environ.setdefault(CHAT_MODEL_ENV, SMALL)
    return Catalog.load().default("chat")


def median_run(runs: list[Run]) -> Run:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def bench_sides(args: argparse.Namespace) -> int:
    entry = chat_entry()
    path = modelfiles.verify(entry)
    cores = hardware.logical_cpus()
    default_threads = max((os.cpu_count() or 1) // 2, 1)
    mm = ModelManager()
    mm.load(entry, ModelSettings(n_ctx=2048))

    def open_raw(n: int | None) -> Any:
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=2048,
            n_threads=n,
            n_threads_batch=n,
            verbose=False,
        )

    raws = {"raw default": open_raw(None), "raw cores": open_raw(cores)}
    sides: dict[str, Callable[[str], Run]] = {
        "ours busy": lambda p: ours(mm, p, args.max_tokens),
        "raw default": lambda p: raw(raws["raw default"], p, args.max_tokens),
        "raw cores": lambda p: raw(raws["raw cores"], p, args.max_tokens),
    }
    results: dict[str, list[Run]] = {name: [] for name in [*sides, "ours quiet"]}
    threads_seen: dict[str, set[int]] = {"ours busy": set(), "ours quiet": set()}
    print(f"model {entry.id}, {cores} cores, {args.max_tokens}-token answers, {args.reps} reps")
    print(f"raw default n_threads = {default_threads}; raw cores n_threads = {cores}")
    ours(mm, prompt_for(mm, -1, "warm"), 8)
    for rep in range(args.reps):
        results["ours quiet"].append(ours(mm, prompt_for(mm, rep, "quiet"), args.max_tokens))
        assert mm.threads_now is not None
        threads_seen["ours quiet"].add(mm.threads_now.n_threads)
        with spinner():
            ours(mm, prompt_for(mm, rep, "warm"), 4)  # lets the load reading see the spinner
            for name, side in sides.items():
                results[name].append(side(prompt_for(mm, rep, name.replace(" ", "-"))))
                if name == "ours busy":
                    assert mm.threads_now is not None
                    threads_seen[name].add(mm.threads_now.n_threads)
        print(
            f"  rep {rep}: "
            + ", ".join(f"{n} {r[-1][1]:.1f} tok/s {r[-1][0]:.2f} s" for n, r in results.items()),
            flush=True,
        )
    med = {name: median_run(runs) for name, runs in results.items()}
    print()
    print("| side | decode tok/s | first token s | threads |")
    print("|---|---|---|---|")
    for name, (ttft, tps) in med.items():
        threads = threads_seen.get(name) or {default_threads if name == "raw default" else cores}
        print(f"| {name} | {tps:.1f} | {ttft:.3f} | {'/'.join(map(str, sorted(threads)))} |")
    busy_quiet = med["ours busy"][1] / med["ours quiet"][1]
    busy_raw = med["ours busy"][1] / med["raw cores"][1]
    busy_default = med["ours busy"][1] / med["raw default"][1]
    ttft_raw = med["raw cores"][0] / med["ours busy"][0]
    print()
    print(
        f"ours_busy / ours_quiet tok/s  = {busy_quiet:.2f} (target >= 0.45): "
        f"{'PASS' if busy_quiet >= 0.45 else 'FAIL'}"
    )
    print(
        f"ours_busy / raw_cores_busy    = {busy_raw:.2f} (target >= 2): "
        f"{'PASS' if busy_raw >= 2 else 'FAIL'}"
    )
    print(f"ours_busy / raw_default_busy  = {busy_default:.2f} (information)")
    print(f"raw_cores / ours first token  = {ttft_raw:.2f}x (information)")
    mm.close()
    for llm in raws.values():
        llm.close()
    return 0


def bench_processes(args: argparse.Namespace) -> int:
    entry = chat_entry()
    env = {**os.environ, CHAT_MODEL_ENV: entry.id}
    enclave = Path(sys.executable).with_name("enclave")
    with tempfile.TemporaryDirectory() as data, spinner(not args.no_busy):
        env.setdefault("ENCLAVE_MODELS_DIR", str(entry.path.parent))
        env["ENCLAVE_DATA_DIR"] = data
        command = [str(enclave), "ask", "--model", entry.id, "--max-tokens", str(args.max_tokens)]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [*command, "--json", f"Question {i}: what is a harbour?"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for i in range(args.processes)
        ]
        ends = []
        for proc in procs:
            proc.wait(timeout=args.timeout)
            ends.append(time.perf_counter() - started)
        failed = [p.returncode for p in procs if p.returncode != 0]
    print(
        f"{args.processes} x `enclave ask --max-tokens {args.max_tokens}` at once "
        f"({'quiet' if args.no_busy else 'one core kept busy'}): all done in {max(ends):.1f} s, "
        f"first in {min(ends):.1f} s, {len(failed)} failed"
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per side (5)")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per answer (64)")
    parser.add_argument("--processes", type=int, default=0, help="N `enclave ask` at once")
    parser.add_argument("--no-busy", action="store_true", help="--processes without the spinner")
    parser.add_argument("--timeout", type=float, default=600, help="--processes: seconds each")
    args = parser.parse_args(argv)
    return bench_processes(args) if args.processes else bench_sides(args)


if __name__ == "__main__":
    sys.exit(main())
