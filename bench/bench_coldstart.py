"""B14: cold start to a usable window with the default chat model and the installed packs, vs a
raw load of the same models in a fresh process.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_coldstart.py [--reps 3] [--model ID]

Needs the demo set up (`python -m desktop demo <handbook>`) and, on a machine without an OS keyring,
the same `ENCLAVE_KEYRING=cryptfile ENCLAVE_KEYRING_PASSPHRASE=...` it was set up with. Every run
is a fresh Python process, timed by the parent from just before it is spawned (interpreter start
and imports included; files in the page cache, a warm start; a cold disk adds the same read to
both sides):
- ours: `run_gui`'s sequence (`ChatSession`, `build_window`, `show`, `start_loading`); "window"
  is when the window is exposed and takes input, "ready" when `model_ready` is set (the chat model
  loaded and the packs this user may read opened, both on the engine worker);
- raw: `import llama_cpp`, then `Llama(chat model)` and `Llama(embedder, embedding=True)`, the two
  loads the app cannot skip (the demo pack's vector index is a few MB, see bench_packs for 100k).
Sides alternate (ABAB), medians of --reps. Targets: window < 1 s (issue 12; BENCHMARKS.md says
1.5 s), ready / raw printed for information.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OURS = r"""
import sys, time
from PySide6.QtWidgets import QApplication
from desktop.app import ChatSession
from desktop.ui.launch import build_window
app = QApplication(sys.argv)
session = ChatSession()
window = build_window(session)
window.show()
window.start_loading()
while not window.windowHandle() or not window.windowHandle().isExposed():
    app.processEvents()
app.processEvents()
visible = time.time()
while not window.model_ready and window.model_problem is None:
    app.processEvents()
    time.sleep(0.002)
ready = time.time()
problem = window.model_problem
window.shutdown()
session.close()
print(f"{visible:.6f} {ready:.6f} {'ok' if problem is None else type(problem).__name__}")
"""

RAW = r"""
import sys, time
import llama_cpp
chat = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=4096, verbose=False)
embed = llama_cpp.Llama(model_path=sys.argv[2], embedding=True, verbose=False)
print(f"{time.time():.6f}")
"""


def model_paths(model_id: str) -> tuple[str, str]:
    from desktop.engine.runtime import modelfiles
    from desktop.engine.runtime.catalog import Catalog

    catalog = Catalog.load()
    chat = catalog.get(model_id) if model_id else catalog.default("chat")
    return str(modelfiles.verify(chat)), str(modelfiles.verify(catalog.default("embedding")))


def spawn(code: str, *args: str, env: dict[str, str]) -> tuple[float, list[str]]:
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return started, out.stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--model", default="", help="chat model id (default: the catalog's)")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.model:
        env["ENCLAVE_CHAT_MODEL"] = args.model
    chat, embed = model_paths(args.model)
    print(f"chat model {Path(chat).name}; load average {os.getloadavg()[0]:.2f}", flush=True)
    windows, readies, raws = [], [], []
    for _ in range(max(1, args.reps)):
        started, out = spawn(OURS, env=env)
        if out[2] != "ok":
            raise SystemExit(f"the model did not load in the window: {out[2]}")
        windows.append(float(out[0]) - started)
        readies.append(float(out[1]) - started)
        started, out = spawn(RAW, chat, embed, env=env)
        raws.append(float(out[0]) - started)
    window, ready, raw = (statistics.median(x) for x in (windows, readies, raws))
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("| side | median s | runs |")
    print("|---|---:|---|")
    print(f"| ours: window usable | {window:.2f} | {', '.join(f'{x:.2f}' for x in windows)} |")
    print(f"| ours: model + packs ready | {ready:.2f} | {', '.join(f'{x:.2f}' for x in readies)} |")
    print(f"| raw: llama_cpp import + both models loaded | {raw:.2f} | "
          f"{', '.join(f'{x:.2f}' for x in raws)} |")  # fmt: skip
    print(f"\nB14 window {window:.2f} s (target < 1 s); ready / raw {ready / raw:.2f}x; "
          f"window / raw {window / raw:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
