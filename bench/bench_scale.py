"""Pack build and query figures at scale (issue 17, item 6): full build, incremental rebuild with
1 % of documents changed, pack size, open time, query p95 and the build's peak memory, on a
synthetic corpus made from the 18F handbook.

    .venv/bin/python bench/bench_scale.py --docs 10000 [--embedder real|hash] [--kill-after S]

The corpus: the handbook's pages split at their headings into sections, each document one section
with a document-specific first line and its sentences rotated by its copy number (deterministic),
so every document's text, hash and chunks differ and the build's embedding cache cannot dedupe
them (checked: the build's texts embedded must equal its chunks). Written once under --cache
(default ~/.cache/enclave-scale/docs-N), copied to a work folder for each run (never modified).

Each build runs in a child process (`plan_build` + `build_pack`, as `enclave admin build` calls
them, with the CLI's default `documents.*` rules); its time is the child's build call (the model
load, ~1 s, is not counted), its peak memory the child's VmHWM (`wait4`'s ru_maxrss: the largest
process of its tree). Then 1 % of documents get a new paragraph and v2 is built incrementally.

--embedder real: all-MiniLM-L6-v2 GGUF (what users get). --embedder hash: a deterministic
hash-to-vector function standing in for the embedding model, clearly labelled: it measures the
build machinery (parse, chunk with the real tokenizer, screen, store, FTS, index, seal, sign,
archive) without the model; the output then gives the real model's full-build time as an
ESTIMATE (machinery measured here + chunks / the real embedder's chunks/s measured on a sample of
this corpus), never as a measurement. Query latency over a hash-vector index uses the real model
for the query (same shapes; the ranking is meaningless and not reported).

--kill-after S: before the timed builds, start the real CLI (`python -m desktop admin build`) on
the corpus in a scratch workspace, SIGKILL it after S seconds, run the same command again and
report what it did (resumed, restarted, or refused), and what the killed build left behind, then
time the same build uninterrupted in another workspace (`--kill-only`: stop there).

Prints a Markdown table and the ratio incremental / full (target <= 0.05). The machine may be
shared: the load average is printed with the figures; a contended figure must be said to be.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HANDBOOK = Path("/work/shared/corpora/18f-handbook")
PACK = "scale"
CORPUS_VERSION = "1"  # bump when the generator changes: the cache is rebuilt
BODY_CHARS = 650  # ~150 tokens with the title: one chunk per document at the default 200
OFFICES = (
    "Atlanta",
    "Boston",
    "Chicago",
    "Denver",
    "Kansas City",
    "New York",
    "Philadelphia",
    "San Francisco",
    "Seattle",
    "Washington",
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_LIQUID = re.compile(r"\{%.*?%\}|\{\{.*?\}\}")


# -- the corpus ----------------------------------------------------------------------------------


def handbook_sections(handbook: Path) -> list[tuple[str, str, str]]:
    """(page title, heading, body) of every handbook section with enough prose."""
    found = []
    for page in sorted(handbook.rglob("*.md")):
        text = page.read_text(encoding="utf-8", errors="replace")
        title = page.stem.replace("-", " ").capitalize()
        if text.startswith("---"):
            front, _, text = text[3:].partition("\n---")
            for line in front.splitlines():
                if line.startswith("title:"):
                    title = line.split(":", 1)[1].strip().strip("\"'") or title
        heading, lines = title, list[str]()
        for line in (*text.splitlines(), "# end"):
            if line.startswith("#"):
                body = _LIQUID.sub("", " ".join(x.strip() for x in lines if x.strip()))
                if len(body) >= 200:
                    found.append((title, heading, body))
                heading, lines = line.lstrip("#").strip() or title, []
            else:
                lines.append(line)
    return found


def document_text(i: int, sections: list[tuple[str, str, str]]) -> str:
    """Document `i`: section i mod S, its sentences rotated by its copy number, cut near
    BODY_CHARS at a sentence, under a first line of its own."""
    title, heading, body = sections[i % len(sections)]
    copy = i // len(sections)
    sentences = _SENTENCE.split(body)
    shift = copy % len(sentences)
    rotated = sentences[shift:] + sentences[:shift]
    kept: list[str] = []
    for sentence in rotated:
        if kept and sum(len(s) + 1 for s in kept) + len(sentence) > BODY_CHARS:
            break
        kept.append(sentence[: BODY_CHARS * 2])
    office = OFFICES[i % len(OFFICES)]
    return (
        f"---\ntitle: {title}: {heading} (record {i})\n---\n"
        f"Record {i:06d}, {office} office, copy {copy}: {heading}.\n\n{' '.join(kept)}\n"
    )


def doc_path(root: Path, i: int) -> Path:
    return root / f"d{i // 1000:03d}" / f"r{i:06d}.md"


def ensure_corpus(cache: Path, n: int) -> Path:
    folder = cache / f"docs-{n}"
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == CORPUS_VERSION:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    sections = handbook_sections(HANDBOOK)
    for i in range(n):
        path = doc_path(folder / "docs", i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document_text(i, sections), encoding="utf-8")
    marker.write_text(CORPUS_VERSION)
    return folder


def changed_documents(n: int, percent: float) -> list[int]:
    count = max(1, round(n * percent / 100))
    step = n // count
    return [k * step + step // 2 for k in range(count)]


def queries(n: int) -> list[str]:
    sections = handbook_sections(HANDBOOK)
    step = max(1, len(sections) // n)
    return [f"What does the handbook say about {h.lower()}?" for _, h, _ in sections[::step][:n]]


# -- embedders -----------------------------------------------------------------------------------


class HashEmbedder:
    """NOT an embedding model: a deterministic vector per text (sha256 -> seeded normal, unit
    length) for timing the build machinery without the model. Token counts (chunking) come from
    the real model's tokenizer, so the chunks are the real build's."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.dimension = int(tokenizer.dimension)
        self.entry = SimpleNamespace(
            id="bench-hash-embedder (NOT a model)",
            sha256=hashlib.sha256(b"bench-hash-embedder-v1").hexdigest(),
        )

    def count_tokens(self, text: str) -> int:
        return int(self.tokenizer.count_tokens(text))

    def embed(self, texts: Any) -> Any:
        rows = np.empty((len(texts), self.dimension), np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dimension)
            rows[row] = vector / np.linalg.norm(vector)
        return rows


class CountingEmbedder:
    """Counts and times the texts the build embeds for its chunks (`builder.flush`), apart from
    those the `documents.*` screen embeds (sentences of request-like chunks)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.chunk_texts = self.screen_texts = 0
        self.embed_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def embed(self, texts: Any) -> Any:
        caller = sys._getframe(1).f_code.co_name
        started = time.perf_counter()
        rows = self.real.embed(texts)
        self.embed_s += time.perf_counter() - started
        if caller == "flush":
            self.chunk_texts += len(texts)
        else:
            self.screen_texts += len(texts)
        return rows


def load_embedder(kind: str) -> Any:
    from desktop.engine.runtime.catalog import Catalog
    from desktop.engine.runtime.embedder import Embedder

    real = Embedder(Catalog.load().default("embedding"))
    return real if kind == "real" else HashEmbedder(real)


# -- the child: one build ------------------------------------------------------------------------


def child_build(args: dict[str, Any]) -> dict[str, Any]:
    from desktop.engine.guard.documents import RULES
    from desktop.engine.knowledge.builder import BuildOptions
    from desktop.engine.packs.build import BuiltPack, build_pack, plan_build
    from desktop.engine.packs.workspace import Workspace
    from desktop.engine.policy.rules import DEFAULT_POLICY

    workspace = Workspace(Path(args["workspace"]))
    version = workspace.latest_version(PACK) + 1
    embedder = CountingEmbedder(load_embedder(args["embedder"]))
    options = BuildOptions(
        document_rules={rule: DEFAULT_POLICY.action(rule).value for rule in RULES}
    )
    started = time.perf_counter()
    plan = plan_build(
        workspace.packs_dir,
        pack_id=PACK,
        version=version,
        embedder=embedder,
        admin_key=workspace.signing_key(),
        options=options,
    )
    built, files, chunks, next_mark = None, 0, 0, 0.1
    for item in build_pack(
        Path(args["source"]),
        workspace.packs_dir,
        pack_id=PACK,
        title="Scale benchmark",
        version=version,
        audience_map=workspace.audience_map(),
        embedder=embedder,
        admin_key=workspace.signing_key(),
        options=options,
        plan=plan,
    ):
        if isinstance(item, BuiltPack):
            built = item
        elif item.kind == "file":
            files += 1
            chunks += item.chunks
            if item.total and item.done / item.total >= next_mark:
                print(
                    f"    {item.done}/{item.total} files, {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                next_mark += 0.1
    elapsed = time.perf_counter() - started
    assert built is not None
    return {
        "version": version,
        "plan": plan.reason,
        "seconds": elapsed,
        "files": files,
        "chunks": chunks,
        "chunk_texts_embedded": embedder.chunk_texts,
        "screen_texts_embedded": embedder.screen_texts,
        "embed_seconds": embedder.embed_s,
        "report": built.report,
        "archive": str(built.archive),
        "archive_bytes": built.archive.stat().st_size,
        "folder": str(built.folder),
        "folder_bytes": sum(p.stat().st_size for p in built.folder.rglob("*") if p.is_file()),
        "keys_file": str(built.keys_file),
    }


def child_query(args: dict[str, Any]) -> dict[str, Any]:
    from desktop.engine.packs import archive, shards
    from desktop.engine.packs.build import load_keys_file
    from desktop.engine.packs.signing import key_id, load_public_key
    from desktop.engine.packs.workspace import Workspace

    workspace = Workspace(Path(args["workspace"]))
    public = load_public_key(workspace.public_key_path.read_text(encoding="ascii"))
    trusted = {key_id(public): public}
    folder, keys_path = Path(args["folder"]), Path(args["keys_file"])
    embedder = CountingEmbedder(load_embedder("real"))  # queries: always the real model
    opens = []
    for _ in range(args["reps"] + 1):  # the first, untimed, warms the page cache
        started = time.perf_counter()
        manifest = archive.verify_folder(folder, trusted)
        _, _, keys = load_keys_file(keys_path)
        opened = [
            shards.Shard(folder / str(info["shard"]), keys[name], embedder)
            for name, info in sorted(manifest.audiences.items())
        ]
        opens.append(time.perf_counter() - started)
        for shard in opened[:-1]:
            shard.close()
        if len(opens) <= args["reps"]:
            opened[-1].close()
    shard = opened[-1]
    texts = queries(args["queries"])
    shard.retriever.search(texts[0], 5)  # warm-up, untimed
    times, searches = [], []  # whole query; without the query's embedding
    for text in texts:
        embedded = embedder.embed_s
        started = time.perf_counter()
        hits = shard.retriever.search(text, 5)
        times.append(time.perf_counter() - started)
        searches.append(times[-1] - (embedder.embed_s - embedded))
        assert hits, text
    shard.close()
    return {
        "open_s": statistics.median(opens[1:]),
        "query_p50_s": statistics.median(times),
        "query_p95_s": p95(times),
        "search_p50_s": statistics.median(searches),
        "search_p95_s": p95(searches),
        "queries": len(times),
    }


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def child_sample_rate(args: dict[str, Any]) -> dict[str, Any]:
    """The real embedder's chunks/s on `sample` chunk-sized texts of this corpus, batched as the
    build batches them (256 a call)."""
    sections = handbook_sections(HANDBOOK)
    texts = [document_text(i, sections) for i in range(args["sample"])]
    embedder = load_embedder("real")
    embedder.embed(texts[:8])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), 256):
        embedder.embed(texts[i : i + 256])
    elapsed = time.perf_counter() - started
    return {"chunks_per_s": len(texts) / elapsed, "sample": len(texts)}


def run_child(mode: str, args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one step in a child process; its result and its peak RSS (the tree's largest)."""
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, json.dumps(args)], stdout=out, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = out.read().splitlines()
    if process.returncode != 0:
        raise SystemExit(f"child {mode} failed ({process.returncode}): {lines[-5:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


# -- resumability --------------------------------------------------------------------------------


def kill_test(source: Path, work: Path, env: dict[str, str], after: float) -> list[str]:
    """SIGKILL the real CLI build part-way, run it again; what happened, as lines."""
    from desktop.engine.packs.workspace import Workspace

    scratch = work / "ws-kill"
    shutil.rmtree(scratch, ignore_errors=True)
    Workspace(scratch).init()
    command = [
        sys.executable,
        "-m",
        "desktop",
        "admin",
        "build",
        str(source),
        "--workspace",
        str(scratch),
        "--pack-id",
        PACK,
        "--title",
        "Scale benchmark",
    ]
    tmp = work / "tmp-kill"  # its own TMPDIR: what the killed build leaves there is its own
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    env = {**env, "TMPDIR": str(tmp)}
    lines = [f"kill test: `{' '.join(command[1:])}` (cwd {ROOT}), SIGKILL after {after:.0f} s"]
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        time.sleep(after)
        process.send_signal(signal.SIGKILL)
        process.wait()
        err.seek(0)
        progress = [x for x in re.split(r"[\r\n]", err.read()) if x.strip()]
    lines.append(f"  killed; its last progress line: {progress[-1].strip() if progress else '-'}")
    left = sorted(p.relative_to(scratch) for p in (scratch / "packs").rglob("*") if p.is_file())
    copies = [p for p in left if "enclave-shard-" in str(p)]
    named = [str(p) for p in left if p not in copies]
    if copies:
        named.append(f"{len(copies)} source copies under {copies[0].parents[-3]}/enclave-shard-*")
    lines.append(f"  left in the workspace: {', '.join(named) or 'nothing'}")
    stale = sorted(tmp.glob("enclave-shard-*"))
    for folder in stale:
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        copies = sum(1 for _ in (folder / "source").rglob("*.md"))
        lines.append(
            f"  left in {tmp}: {folder.name}, {size:,} bytes ({copies} plaintext source copies)"
        )
    started = time.perf_counter()
    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    rerun_s = time.perf_counter() - started
    said = [x.strip() for x in re.split(r"[\r\n]", rerun.stderr) if x.strip()]
    notes = [x for x in said if x.startswith("note")]
    lines.append(
        f"  rerun: exit {rerun.returncode} after {rerun_s:.1f} s; "
        f"its notes: {' / '.join(notes) or '-'}; it ended: {' / '.join(said[-2:])}"
    )
    fresh = work / "ws-kill-fresh"  # the same build uninterrupted, for comparison
    shutil.rmtree(fresh, ignore_errors=True)
    Workspace(fresh).init()
    started = time.perf_counter()
    whole = subprocess.run(
        [*command[:7], str(fresh), *command[8:]], cwd=ROOT, env=env, capture_output=True
    )
    whole_s = time.perf_counter() - started
    lines.append(
        f"  the same build uninterrupted: exit {whole.returncode} after {whole_s:.1f} s; "
        f"killed + rerun took {after + rerun_s:.1f} s ({(after + rerun_s) / whole_s:.2f}x), "
        f"the rerun alone {rerun_s / whole_s:.2f}x (load average {os.getloadavg()[0]:.2f})"
    )
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)  # the killed build's leftovers, and the rerun's
    shutil.rmtree(scratch, ignore_errors=True)
    return lines


# -- main ----------------------------------------------------------------------------------------


def change(source: Path, numbers: list[int]) -> None:
    for i in numbers:
        with doc_path(source, i).open("a", encoding="utf-8") as handle:
            handle.write(
                f"\nUpdated for the benchmark: this paragraph is new in v2 (record {i}).\n"
            )


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        step = {"build": child_build, "query": child_query, "rate": child_sample_rate}
        print(json.dumps(step[sys.argv[2]](json.loads(sys.argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--embedder", choices=("real", "hash"), default="real")
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "enclave-scale")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--reps", type=int, default=5, help="pack opens timed (median)")
    parser.add_argument("--sample", type=int, default=512, help="--embedder hash: real chunks/s")
    parser.add_argument("--kill-after", type=float, help="seconds: run the kill test first")
    parser.add_argument("--kill-only", action="store_true", help="only the kill test")
    args = parser.parse_args()
    from desktop.engine.packs.workspace import Workspace

    corpus = ensure_corpus(args.cache, args.docs)
    work = args.work or Path(tempfile.mkdtemp(prefix="enclave-bench-scale-"))
    shutil.rmtree(work / "source", ignore_errors=True)
    shutil.copytree(corpus / "docs", work / "source")
    source = work / "source"
    env = {**os.environ, "ENCLAVE_DATA_DIR": str(work / "data")}
    env.setdefault("ENCLAVE_MODELS_DIR", str(Path.home() / ".local/share/enclave/models"))
    loads = [os.getloadavg()[0]]
    print(f"{args.docs:,} documents from {corpus}; work folder {work}")
    print(f"embedder: {args.embedder}; cpus {os.cpu_count()}; load average {loads[0]:.1f}")
    if args.kill_after:
        for line in kill_test(source, work, env, args.kill_after):
            print(line, flush=True)
        if args.kill_only:
            return 0
    workspace = Workspace(work / "ws")
    shutil.rmtree(workspace.root, ignore_errors=True)
    workspace.init()
    print("v1 full build ...", flush=True)
    full = run_child("build", {"workspace": str(workspace.root), "source": str(source),
                               "embedder": args.embedder}, env)  # fmt: skip
    loads.append(os.getloadavg()[0])
    numbers = changed_documents(args.docs, args.changed_percent)
    change(source, numbers)
    print(f"v2 incremental build, {len(numbers)} documents changed ...", flush=True)
    incremental = run_child("build", {"workspace": str(workspace.root), "source": str(source),
                                      "embedder": args.embedder}, env)  # fmt: skip
    loads.append(os.getloadavg()[0])
    query = run_child("query", {"workspace": str(workspace.root), "folder": incremental["folder"],
                                "keys_file": incremental["keys_file"], "queries": args.queries,
                                "reps": args.reps}, env)  # fmt: skip
    loads.append(os.getloadavg()[0])
    rate = run_child("rate", {"sample": args.sample}, env) if args.embedder == "hash" else None
    for name, built in (("full", full), ("incremental", incremental)):
        print(
            f"{name}: {built['plan']}; {built['files']:,} files, {built['chunks']:,} chunks, "
            f"{built['chunk_texts_embedded']:,} chunk texts embedded "
            f"(+{built['screen_texts_embedded']:,} by the documents.* screen), "
            f"embedding {built['embed_seconds']:.1f} s of {built['seconds']:.1f} s; "
            f"report {json.dumps(built['report'], sort_keys=True)}"
        )
    if full["chunk_texts_embedded"] != full["chunks"]:
        print(f"WARNING: {full['chunk_texts_embedded']} texts embedded for {full['chunks']} chunks")
    ratio = incremental["seconds"] / full["seconds"]
    label = "real all-MiniLM-L6-v2" if args.embedder == "real" else "HASH stand-in (not a model)"
    print(f"\n| {args.docs:,} documents, embedder: {label} | measured |\n|---|---|")
    rows = [
        ("chunks", f"{full['chunks']:,}"),
        ("full build (v1)", f"{full['seconds']:.1f} s"),
        ("  of which embedding", f"{full['embed_seconds']:.1f} s"),
        (f"incremental rebuild, {len(numbers)} documents changed (v2)",
         f"{incremental['seconds']:.1f} s"),
        ("  of which embedding", f"{incremental['embed_seconds']:.1f} s"),
        ("ratio incremental / full", f"{ratio:.3f}"),
        ("pack archive (v2)", f"{incremental['archive_bytes'] / 2**20:.1f} MiB"),
        ("pack open (verify + unseal shard + index), median",
         f"{1000 * query['open_s']:.0f} ms"),
        (f"query p95 over {query['queries']} (hybrid, k=5, real query embedding)",
         f"{1000 * query['query_p95_s']:.0f} ms (p50 {1000 * query['query_p50_s']:.0f} ms)"),
        ("  of which search alone (without the query's embedding), p95",
         f"{1000 * query['search_p95_s']:.0f} ms (p50 {1000 * query['search_p50_s']:.0f} ms)"),
        ("peak RSS, full build", f"{full['peak_rss_mib']:.0f} MiB"),
        ("peak RSS, incremental build", f"{incremental['peak_rss_mib']:.0f} MiB"),
        ("load average (start, after v1, v2, queries)", " / ".join(f"{x:.1f}" for x in loads)),
    ]  # fmt: skip
    for name, value in rows:
        print(f"| {name} | {value} |")
    if rate is not None:  # texts: the chunks and the sentences the documents.* screen embeds
        speed = rate["chunks_per_s"]
        texts, inc_texts = (b["chunk_texts_embedded"] + b["screen_texts_embedded"]
                            for b in (full, incremental))  # fmt: skip
        machinery = full["seconds"] - full["embed_seconds"]
        estimate = machinery + texts / speed
        inc_machinery = incremental["seconds"] - incremental["embed_seconds"]
        inc_estimate = inc_machinery + inc_texts / speed
        print(
            f"\nESTIMATE, not measured: the real embedder ran {speed:.1f} texts/s on "
            f"{rate['sample']} documents of this corpus; a real full build = machinery "
            f"{machinery:.1f} s + {texts:,} texts / that = ~{estimate:.0f} s; incremental = "
            f"{inc_machinery:.1f} s + {inc_texts:,} / that = ~{inc_estimate:.0f} s; estimated "
            f"ratio ~{inc_estimate / estimate:.3f}"
        )
    print(f"\nratio {ratio:.3f} (target <= 0.05): {'met' if ratio <= 0.05 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
