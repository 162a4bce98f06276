"""Full pack build against an incremental rebuild with ~1 % of documents changed, and the bytes a
delta ships for that change against the full archive (issue 17, items 1 and 2).

    .venv/bin/python bench/bench_incremental_build.py [SOURCE] [--changed N] [--work DIR]

SOURCE defaults to the 18F handbook (/work/shared/corpora/18f-handbook); it is copied to a work
folder and never modified. The same loaded embedder serves both builds (the CLI loads it once per
command, ~1 s, not counted in either). Prints both times, their ratio (target <= 0.05), the texts
each build embedded, and the delta's size against the full archive's. A timing taken while other
work shares the CPU is contended: say so with the figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.engine.knowledge import parsers
from desktop.engine.packs.build import BuiltPack, build_pack, plan_build
from desktop.engine.packs.delta import build_delta
from desktop.engine.packs.workspace import Workspace
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.embedder import Embedder

HANDBOOK = Path("/work/shared/corpora/18f-handbook")
PACK = "handbook"


class CountingEmbedder:
    def __init__(self, real: Any) -> None:
        self.real, self.texts = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def embed(self, texts: Any) -> Any:
        self.texts += len(texts)
        return self.real.embed(texts)


def _build(workspace: Workspace, source: Path, version: int, embedder: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    plan = plan_build(
        workspace.packs_dir,
        pack_id=PACK,
        version=version,
        embedder=embedder,
        admin_key=workspace.signing_key(),
    )
    built = None
    for item in build_pack(
        source,
        workspace.packs_dir,
        pack_id=PACK,
        title="18F handbook",
        version=version,
        audience_map=workspace.audience_map(),
        embedder=embedder,
        admin_key=workspace.signing_key(),
        plan=plan,
    ):
        if isinstance(item, BuiltPack):
            built = item
    elapsed = time.perf_counter() - start
    print(f"v{version}: {plan.reason}: {elapsed:.1f} s, {embedder.texts} texts embedded")
    return elapsed, built


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=HANDBOOK)
    parser.add_argument("--changed", type=int, help="documents to change (default: 1 %%, >= 1)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="enclave-bench-incremental-"))
    shutil.rmtree(work / "source", ignore_errors=True)
    shutil.copytree(args.source, work / "source")
    source = work / "source"
    shutil.rmtree(work / "ws", ignore_errors=True)
    workspace = Workspace(work / "ws")
    workspace.init()
    files = sorted(parsers.iter_source_files(source))
    changed = args.changed or max(1, round(len(files) / 100))
    print(f"{len(files)} files in {args.source}; changing {changed}; work folder {work}")
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start")
    embedder = CountingEmbedder(Embedder(Catalog.load().default("embedding")))
    try:
        full_s, full = _build(workspace, source, 1, embedder)
        full_texts = embedder.texts
        step = len(files) // changed
        for path in files[::step][:changed]:
            with path.open("a", encoding="utf-8") as handle:
                handle.write("\n\nUpdated for the benchmark: this paragraph is new in v2.\n")
            print(f"  changed {path.relative_to(source)}")
        embedder.texts = 0
        incremental_s, incremental = _build(workspace, source, 2, embedder)
    finally:
        embedder.real.close()
    ratio = incremental_s / full_s
    print(f"full build {full_s:.1f} s ({full_texts} texts embedded)")
    print(f"incremental rebuild {incremental_s:.1f} s ({embedder.texts} texts embedded)")
    print(f"ratio {ratio:.3f} (target <= 0.05): {'met' if ratio <= 0.05 else 'NOT met'}")
    assert full is not None and incremental is not None
    delta = build_delta(full.folder, incremental.folder, work, workspace.signing_key())
    print(
        f"delta v1->v2: {delta.delta_bytes:,} bytes, {len(delta.shipped)} files shipped, "
        f"{len(delta.reused)} reused; full v2 archive {delta.full_bytes:,} bytes "
        f"({100 * delta.delta_bytes / delta.full_bytes:.1f} %)"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
