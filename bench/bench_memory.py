"""B13: peak resident memory with the default chat model, the embedder and the demo pack open, vs
the bytes they are made of (model files + KV cache + vector index).

    .venv/bin/python bench/bench_memory.py [--model ID] [--question TEXT]

Needs the demo set up (`python -m desktop demo <handbook>`) and, on a machine without an OS keyring,
the same `ENCLAVE_KEYRING=cryptfile ENCLAVE_KEYRING_PASSPHRASE=...` it was set up with. In a fresh
process (so nothing else counts): `Assistant.open` + `load()` (chat model, embedder, every readable
shard of the installed packs) as the app does, then one grounded question answered to the end, so
the KV cache, the compute buffers and retrieval have all been used. Peak = the kernel's high-water
mark of resident memory (`VmHWM`), with the Python interpreter's own baseline (measured before any
import of the engine) printed beside it.

A second child does the same with plain llama-cpp-python and FAISS (both GGUFs at llama-cpp-python's
defaults, the same n_ctx, an index of as many vectors, ours' final messages answered): its peak is
what llama.cpp itself needs beyond the bytes, printed as a second ratio.

The "raw" sum is what the process cannot do without: the two GGUF files (mapped), the KV cache
(layers x context x KV heads x head size x 2 (K and V) x 2 bytes, f16) and the vector indexes
(vectors x dimension x 4 bytes + ids). The ratio is peak / sum; the target is <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys
def status(name):
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
baseline = status("VmRSS")
from desktop.engine.assistant import Assistant, AssistantOptions
model_id, question = sys.argv[1], sys.argv[2]
assistant = Assistant.open(AssistantOptions(chat_model=model_id), keep_history=False)
assistant.load()
after_load = status("VmRSS")
sent = []
real_stream = assistant.model.stream_chat
def stream_chat(messages, **kwargs):
    sent.append(list(messages))
    return real_stream(messages, **kwargs)
assistant.model.stream_chat = stream_chat
events = list(assistant.ask(None, question))
manager = assistant.model
info = manager.info
meta = manager._llama.metadata
arch = meta["general.architecture"]
layers = int(meta[f"{arch}.block_count"])
heads = int(meta[f"{arch}.attention.head_count"])
kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
width = int(meta[f"{arch}.embedding_length"])
key_len = int(meta.get(f"{arch}.attention.key_length", width // heads))
value_len = int(meta.get(f"{arch}.attention.value_length", width // heads))
kv_bytes = layers * info.n_ctx * kv_heads * (key_len + value_len) * 2
index_bytes = 0
vectors = 0
for shard in assistant.knowledge._shards if assistant.knowledge else []:
    index = shard.shard.retriever.index
    vectors += index.ntotal
    index_bytes += index.vectors().nbytes + index.ntotal * 8
print(json.dumps({
    "baseline": baseline, "after_load": after_load, "peak": status("VmHWM"),
    "model_file": info.path.stat().st_size, "model": info.entry.id, "n_ctx": info.n_ctx,
    "kv_bytes": kv_bytes, "index_bytes": index_bytes, "vectors": vectors,
    "embedder": assistant.catalog.default("embedding").file,
    "events": len(events), "messages": sent[-1] if sent else [],
    "chat_path": str(info.path), "threads": info.threads.n_threads,
}))
assistant.close()
"""


RAW = r"""
import json, sys
def status(name):
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
import faiss, llama_cpp, numpy as np
job = json.loads(sys.argv[1])
chat = llama_cpp.Llama(model_path=job["chat"], n_ctx=job["n_ctx"], n_threads=job["threads"],
                       verbose=False)
embedder = llama_cpp.Llama(model_path=job["embedder"], embedding=True, n_threads=job["threads"],
                           verbose=False)
index = faiss.IndexFlatIP(384)
index.add(np.random.default_rng(0).standard_normal((job["vectors"], 384)).astype("float32"))
query = np.asarray([embedder.embed(job["question"], normalize=True)], dtype="float32")
index.search(query, 8)
for _chunk in chat.create_chat_completion(messages=job["messages"], max_tokens=128, stream=True):
    pass
print(json.dumps({"peak": status("VmHWM")}))
"""


def raw_process_peak(result: dict[str, object], embed_file: Path, question: str) -> int | None:
    """VmHWM of plain llama-cpp-python + FAISS doing the same: both GGUFs, the same n_ctx, an
    index of as many vectors, the question embedded and searched, then ours' final messages
    answered (128 tokens at most)."""
    job = {
        "chat": result["chat_path"], "embedder": str(embed_file), "n_ctx": result["n_ctx"],
        "threads": result["threads"], "vectors": result["vectors"], "question": question,
        "messages": result["messages"],
    }  # fmt: skip
    if not result["messages"]:
        return None  # ours abstained: nothing to answer the same way
    out = subprocess.run(
        [sys.executable, "-c", RAW, json.dumps(job)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return int(json.loads(out.stdout.strip().splitlines()[-1])["peak"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="chat model id (default: the catalog's)")
    parser.add_argument(
        "--question",
        default="How much annual leave do I earn per pay period with fewer than 3 years of service?",
    )
    args = parser.parse_args()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, args.model, args.question],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return 1
    result = json.loads(out.stdout.strip().splitlines()[-1])
    from desktop.engine.core import paths

    embed_file = paths.models_dir() / result["embedder"]
    embed_bytes = embed_file.stat().st_size if embed_file.exists() else 0
    mb = 1 / 1e6
    total = result["model_file"] + embed_bytes + result["kv_bytes"] + result["index_bytes"]
    peak = result["peak"]
    print(f"model {result['model']}, n_ctx {result['n_ctx']}, {result['vectors']:,} vectors")
    print("| part | MB |")
    print("|---|---:|")
    print(f"| chat model file | {result['model_file'] * mb:.0f} |")
    print(f"| embedder file | {embed_bytes * mb:.0f} |")
    print(f"| KV cache (f16) | {result['kv_bytes'] * mb:.0f} |")
    print(f"| vector indexes | {result['index_bytes'] * mb:.1f} |")
    print(f"| **sum (raw)** | {total * mb:.0f} |")
    print(f"| Python interpreter before any import | {result['baseline'] * mb:.0f} |")
    print(f"| resident after load | {result['after_load'] * mb:.0f} |")
    print(f"| **peak resident (VmHWM) after one answer** | {peak * mb:.0f} |")
    raw_peak = raw_process_peak(result, embed_file, args.question)
    if raw_peak is not None:
        print(f"| raw process (llama-cpp-python + FAISS, same models and prompt), peak | "
              f"{raw_peak * mb:.0f} |")  # fmt: skip
    print(f"\nB13 peak / raw sum: {peak / total:.2f}x (target <= 1.3)")
    if raw_peak is not None:
        print(f"ours / the raw process doing the same: {peak / raw_peak:.2f}x; the raw process / "
              f"raw sum: {raw_peak / total:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
