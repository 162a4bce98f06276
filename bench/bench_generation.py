"""Generation speed: our `ModelManager` against plain llama-cpp-python, in the same run.

Measures the targets B1-B4 of /work/shared/BENCHMARKS.md on the default chat model (and, with
`--model-path`, B1/B4 on a second, bigger GGUF such as a random-weight model of a real shape):

  B1  streaming decode tokens/s reaching the caller: `ModelManager.stream_chat` (greedy) vs a plain
      `Llama.generate` loop that detokenizes each token, same prompt tokens, threads and n_ctx.
      B1c (information) compares with `create_completion(stream=True)`, which `_run` wraps.
  B2  cold time to first token of a ~1,024-token prompt: ours (render, tokenize, prefill, first
      token) vs raw `eval` + `sample` of the same tokens on a reset context.
  B3  follow-up time to first token with the first turn (~1,000 tokens) in the KV cache vs the cold
      time to first token of the same final prompt.
  B4  decode tokens/s with `hardware.plan_threads()` vs `n_threads = os.cpu_count()`.
      B4d (information) compares with llama-cpp-python's default, `cpu_count() // 2`.

Method: sides alternate (ABAB) for `--reps` repetitions after one untimed warm-up, the median is
reported, and the ratio ours/raw decides. Timed assertions don't belong in tests; this prints.

    .venv/bin/python bench/bench_generation.py [--quick] [--model-path BIG.gguf]
"""

from __future__ import annotations

import argparse
import codecs
import itertools
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp

from desktop.engine.runtime import hardware, modelfiles
from desktop.engine.runtime.catalog import Catalog, ModelEntry
from desktop.engine.runtime.chat_model import ModelSettings
from desktop.engine.runtime.model_manager import ModelManager

Messages = list[dict[str, str]]

# A prompt a small model answers at length without an end-of-turn, so both sides decode max_tokens.
LONG_ANSWER: Messages = [
    {"role": "system", "content": "You are a helpful assistant."},
    {
        "role": "user",
        "content": "Write the numbers from 1 to 300, separated by commas, without stopping.",
    },
]
WORDS = {
    "adj": "northern quiet annual seasonal coastal larger wooden rural public early",
    "noun": "harbour library council bridge orchard railway market school mill ferry",
    "place": "Avonmere Kestrel Bay Lowfield Marrow Hill Tarn Cross Pellham Oakridge",
    "verb": "reported repaired counted opened moved recorded reviewed closed built sold",
    "thing": "boats books lamps tickets crates permits benches barrels maps ledgers",
}


@dataclass
class Row:
    id: str
    what: str
    ours: float
    raw: float
    unit: str
    target: str
    check: Callable[[float, float], bool] | None  # None: information only
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.ours / self.raw if self.raw else float("nan")

    @property
    def verdict(self) -> str:
        if self.check is None:
            return "info"
        return "PASS" if self.check(self.ours, self.raw) else "FAIL"


@dataclass
class Stream:
    stamps: list[float]
    text: str
    clock: DecodeClock

    @property
    def n(self) -> int:
        return len(self.stamps)

    @property
    def rate(self) -> float:
        """Decode tokens/s as the consumer sees them: 1 / the median gap between token arrivals.
        The median keeps a burst of load from another process (a shared 2-vCPU machine) out."""
        gaps = [b - a for a, b in itertools.pairwise(self.stamps)]
        gap = statistics.median(gaps) if gaps else 0.0
        return 1.0 / gap if gap > 0 else 0.0

    @property
    def mean_rate(self) -> float:
        """Decode tokens/s from the first to the last token arrival."""
        if self.n < 2 or self.stamps[-1] <= self.stamps[0]:
            return 0.0
        return (self.n - 1) / (self.stamps[-1] - self.stamps[0])

    def per_token_ms(self) -> tuple[float, float]:
        """Between the first and last token: ms per token in llama_decode, and outside it
        (Python, sampling, detokenizing, our wrapper)."""
        if self.n < 2:
            return 0.0, 0.0
        window = self.stamps[-1] - self.stamps[0]
        inside = self.clock.inside(self.stamps[0], self.stamps[-1])
        return 1e3 * inside / (self.n - 1), 1e3 * (window - inside) / (self.n - 1)


class DecodeClock:
    """Wraps a `Llama`'s `_ctx.decode` to record when llama.cpp's decode ran."""

    def __init__(self, llm: Any) -> None:
        self.spans: list[tuple[float, float]] = []
        ctx = llm._ctx
        inner = ctx.decode

        def timed(batch: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(batch)
            finally:
                self.spans.append((started, time.perf_counter()))

        ctx.decode = timed

    def inside(self, start: float, end: float) -> float:
        """Seconds of decode that ran wholly within [start, end]."""
        return sum(b - a for a, b in self.spans if a >= start and b <= end)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- the two sides ------------------------------------------------------------------------------


def ours_stream(
    mm: ModelManager, clock: DecodeClock, messages: Messages, max_tokens: int
) -> Stream:
    stamps: list[float] = []
    parts: list[str] = []
    for token in mm.stream_chat(messages, max_tokens=max_tokens, temperature=0.0):
        stamps.append(time.perf_counter())
        parts.append(token.text)
    return Stream(stamps, "".join(parts), clock)


def raw_generate(llm: Any, clock: DecodeClock, tokens: list[int], max_tokens: int) -> Stream:
    """The plain loop: generate greedily, stop at end-of-generation, detokenize each token."""
    stamps: list[float] = []
    parts: list[str] = []
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    vocab = llm._model.vocab
    for token in llm.generate(tokens, top_k=1, temp=0.0, repeat_penalty=1.0):
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        text = decoder.decode(llm.detokenize([token]))
        stamps.append(time.perf_counter())
        parts.append(text)
        if len(stamps) >= max_tokens:
            break
    return Stream(stamps, "".join(parts), clock)


def raw_completion(llm: Any, clock: DecodeClock, tokens: list[int], max_tokens: int) -> Stream:
    """llama-cpp-python's own streaming completion, the call `ModelManager._run` wraps."""
    stamps: list[float] = []
    parts: list[str] = []
    for chunk in llm.create_completion(
        tokens, max_tokens=max_tokens, temperature=0.0, top_k=1, stream=True
    ):
        text = chunk["choices"][0]["text"]
        if text:
            stamps.append(time.perf_counter())
            parts.append(text)
    return Stream(stamps, "".join(parts), clock)


def ours_ttft(mm: ModelManager, messages: Messages) -> tuple[float, int]:
    """Seconds from the call to the first token, and how many prompt tokens were reused."""
    started = time.perf_counter()
    generation = mm.stream_chat(messages, max_tokens=1, temperature=0.0)
    first = None
    for _token in generation:
        if first is None:
            first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the model produced no token")
    return first, generation.stats.reused_prefix_tokens


def raw_cold_ttft(llm: Any, tokens: list[int]) -> float:
    """Raw prefill + 1 token on a fresh context: reset, eval the prompt, sample, detokenize."""
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    token = llm.sample(top_k=1, temp=0.0)
    llm.detokenize([token])
    return time.perf_counter() - started


# --- prompts --------------------------------------------------------------------------------------


def notes_text(mm: ModelManager, frame: Callable[[str], Messages], target_tokens: int) -> str:
    """Deterministic prose, grown one sentence at a time until frame(text) renders to the target."""
    rng = random.Random(7)
    sentences: list[str] = []
    text = ""
    while True:
        w = {key: rng.choice(words.split()) for key, words in WORDS.items()}
        sentences.append(
            f"In {rng.randint(1901, 1999)} the {w['adj']} {w['noun']} of {w['place']} "
            f"{w['verb']} {rng.randint(2, 900)} {w['thing']}."
        )
        candidate = " ".join(sentences)
        if mm.count_tokens(mm.render(frame(candidate))) > target_tokens:
            return text or candidate
        text = candidate


def notes_question(session: str, notes: str) -> Messages:
    return [
        {"role": "system", "content": f"Session {session}. Answer from the notes only."},
        {"role": "user", "content": f"Notes:\n{notes}\n\nWhich harbour is mentioned first?"},
    ]


def notes_summary(notes: str) -> Messages:
    return [
        {"role": "system", "content": "Answer from the notes only."},
        {"role": "user", "content": f"Notes:\n{notes}\n\nSummarise in one line."},
    ]


# --- the benchmarks ------------------------------------------------------------------------------


def open_raw(path: Path, n_ctx: int, n_threads: int, n_threads_batch: int) -> Any:
    return llama_cpp.Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads_batch,
        n_batch=512,
        seed=0,
        verbose=False,
    )


def bench_b1(
    tag: str, mm: ModelManager, raw: Any, reps: int, max_tokens: int, say: Callable[[str], None]
) -> list[Row]:
    ours_clock = DecodeClock(mm._llama)
    raw_clock = DecodeClock(raw)
    tokens = mm.tokenize(mm.render(LONG_ANSWER))
    sides: dict[str, Callable[[], Stream]] = {
        "ours": lambda: ours_stream(mm, ours_clock, LONG_ANSWER, max_tokens),
        "generate": lambda: raw_generate(raw, raw_clock, tokens, max_tokens),
        "completion": lambda: raw_completion(raw, raw_clock, tokens, max_tokens),
    }
    for run in sides.values():  # warm-up: page the weights in, spin up the thread pools
        run()
    runs: dict[str, list[Stream]] = {name: [] for name in sides}
    for _ in range(reps):
        for name, run in sides.items():
            runs[name].append(run())
    split: dict[str, tuple[float, float]] = {}
    for name, streams in runs.items():
        parts = [s.per_token_ms() for s in streams]
        split[name] = (median([p[0] for p in parts]), median([p[1] for p in parts]))
        say(
            f"B1 {tag} {name:10s} tok/s {[round(s.rate, 1) for s in streams]} "
            f"(first-to-last {[round(s.mean_rate, 1) for s in streams]}), "
            f"{streams[-1].n} tokens; per token {split[name][0]:.2f} ms in llama_decode, "
            f"{split[name][1]:.3f} ms outside"
        )
    ours_text = runs["ours"][0].text
    same = all(s.text == ours_text for streams in runs.values() for s in streams)
    counts = sorted({s.n for streams in runs.values() for s in streams})
    note = f"{counts} tokens, identical text: {same}"
    rate = {name: median([s.rate for s in streams]) for name, streams in runs.items()}
    return [
        Row(
            f"B1 {tag}",
            "stream tok/s vs generate loop",
            rate["ours"],
            rate["generate"],
            "tok/s",
            ">= 0.95",
            lambda o, r: o >= 0.95 * r,
            [
                note,
                "ms/token in llama_decode + outside: "
                + ", ".join(f"{k} {v[0]:.2f} + {v[1]:.3f}" for k, v in split.items()),
            ],
        ),
        Row(
            f"B1c {tag}",
            "stream tok/s vs create_completion",
            rate["ours"],
            rate["completion"],
            "tok/s",
            "(info)",
            None,
        ),
    ]


def bench_b2_b3(mm: ModelManager, raw: Any, reps: int, say: Callable[[str], None]) -> list[Row]:
    # B2: a cold ~1,024-token prompt. A per-repetition session id near the start keeps our cache
    # from matching beyond the chat template's first tokens; raw gets the same tokens, reset.
    notes = notes_text(mm, lambda text: notes_question("000", text), 1024)
    ours_b2: list[float] = []
    raw_b2: list[float] = []
    reused_b2: list[int] = []
    n_prompt = 0
    for rep in range(reps):  # B1 ran before: weights are paged in, thread pools warm
        messages = notes_question(f"{rep:03d}", notes)
        tokens = mm.tokenize(mm.render(messages))
        n_prompt = len(tokens)
        ours_s, reused = ours_ttft(mm, messages)
        ours_b2.append(ours_s)
        reused_b2.append(reused)
        raw_b2.append(raw_cold_ttft(raw, tokens))
    say(f"B2 ours s {[round(x, 3) for x in ours_b2]}, raw s {[round(x, 3) for x in raw_b2]}")

    # B3: first turn ~1,000 tokens, its answer, then a short follow-up. Each repetition replays the
    # first turn (its prefix is cached, so this is cheap) to put exactly that turn in the KV cache.
    first_turn = notes_summary(notes_text(mm, notes_summary, 1000))
    answer = "".join(t.text for t in mm.stream_chat(first_turn, max_tokens=24, temperature=0.0))
    follow_up = [
        *first_turn,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Which year is mentioned last?"},
    ]
    final_tokens = mm.tokenize(mm.render(follow_up))
    warm: list[float] = []
    cold: list[float] = []
    reused_b3: list[int] = []
    for _ in range(reps):
        mm.stream_chat(first_turn, max_tokens=24, temperature=0.0).text()
        seconds, reused = ours_ttft(mm, follow_up)
        warm.append(seconds)
        reused_b3.append(reused)
        cold.append(raw_cold_ttft(raw, final_tokens))
    first_tokens = len(mm.tokenize(mm.render(first_turn)))
    say(f"B3 warm s {[round(x, 4) for x in warm]}, cold s {[round(x, 3) for x in cold]}")
    return [
        Row(
            "B2",
            f"cold TTFT, {n_prompt}-token prompt",
            median(ours_b2),
            median(raw_b2),
            "s",
            "<= 1.10x + 50 ms",
            lambda o, r: o <= 1.10 * r + 0.050,
            [f"reused prefix tokens (ours): {sorted(set(reused_b2))}"],
        ),
        Row(
            "B3",
            f"follow-up TTFT, {len(final_tokens)} tok",
            median(warm),
            median(cold),
            "s",
            "<= 0.05x",
            lambda o, r: o <= 0.05 * r,
            [
                f"first turn {first_tokens} tokens; reused {sorted(set(reused_b3))} of "
                f"{len(final_tokens)}, so {len(final_tokens) - min(reused_b3)} evaluated warm"
            ],
        ),
    ]


def bench_b4(
    tag: str,
    path: Path,
    tokens: list[int],
    n_ctx: int,
    reps: int,
    max_tokens: int,
    with_default: bool,
    say: Callable[[str], None],
) -> list[Row]:
    plan = hardware.plan_threads()
    cpus = os.cpu_count() or 1
    configs = {
        "plan": (plan.n_threads, plan.n_threads_batch),
        "cpu_count": (cpus, cpus),
    }
    if with_default:
        configs["default"] = (max(1, cpus // 2), cpus)  # llama-cpp-python's defaults
    llms = {name: open_raw(path, n_ctx, *threads) for name, threads in configs.items()}
    clocks = {name: DecodeClock(llm) for name, llm in llms.items()}
    for name, llm in llms.items():
        raw_generate(llm, clocks[name], tokens, max_tokens)
    rates: dict[str, list[float]] = {name: [] for name in llms}
    for _ in range(reps):
        for name, llm in llms.items():
            rates[name].append(raw_generate(llm, clocks[name], tokens, max_tokens).rate)
    for name, values in rates.items():
        say(f"B4 {tag} {name:9s} threads {configs[name]} tok/s {[round(v, 1) for v in values]}")
    for llm in llms.values():
        llm.close()
    same = configs["plan"] == configs["cpu_count"]
    rows = [
        Row(
            f"B4 {tag}",
            f"threads {configs['plan']} vs {configs['cpu_count']}",
            median(rates["plan"]),
            median(rates["cpu_count"]),
            "tok/s",
            ">= 0.95",
            lambda o, r: o >= 0.95 * r,
            ["same configuration on this machine: the ratio is the noise floor"] if same else [],
        )
    ]
    if with_default:
        rows.append(
            Row(
                f"B4d {tag}",
                f"threads {configs['plan']} vs default {configs['default']}",
                median(rates["plan"]),
                median(rates["default"]),
                "tok/s",
                "(info)",
                None,
            )
        )
    return rows


def entry_for(path: Path) -> ModelEntry:
    """A catalog entry for an arbitrary GGUF (pinned to its own sha256) so ModelManager loads it."""
    path = path.resolve()
    return ModelEntry(
        id=f"bench-{path.stem}",
        role="chat",
        file=str(path),  # absolute: models_dir() / file is then the file itself
        sha256=modelfiles.sha256_file(path),
        size=0,
        license="benchmark only",
        context_length=0,
    )


def run_model(
    tag: str,
    entry: ModelEntry,
    n_ctx: int,
    args: argparse.Namespace,
    full: bool,
    say: Callable[[str], None],
) -> list[Row]:
    mm = ModelManager()
    info = mm.load(entry, ModelSettings(n_ctx=n_ctx))
    say(
        f"{tag}: {info.path.name} ({info.path.stat().st_size / 1e6:.0f} MB), n_ctx {info.n_ctx}, "
        f"threads {info.threads.n_threads}/{info.threads.n_threads_batch}, "
        f"loaded in {info.load_s:.2f} s"
    )
    raw = open_raw(info.path, info.n_ctx, info.threads.n_threads, info.threads.n_threads_batch)
    max_tokens = args.max_tokens if full else max(16, args.max_tokens // 4)
    tokens = mm.tokenize(mm.render(LONG_ANSWER))
    rows = bench_b1(tag, mm, raw, args.reps, max_tokens, say)
    if full:
        rows += bench_b2_b3(mm, raw, args.reps, say)
    raw.close()
    mm.close()
    rows += bench_b4(tag, info.path, tokens, info.n_ctx, args.reps, max_tokens, full, say)
    return rows


def write_random_model(out: Path, source: Path) -> None:
    """A random-weight Q4_0 GGUF of a Llama-3.2-1B-like shape (hidden 2048, 16 layers, 32/8 heads,
    FFN 8192) with `source`'s tokenizer and chat template. Speed depends on shapes and the quant
    type, not on weight values (BENCHMARKS.md); its text is gibberish."""
    import gguf
    import numpy as np

    hidden, layers, heads, kv_heads, ffn = 2048, 16, 32, 8, 8192
    reader = gguf.GGUFReader(source)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    writer = gguf.GGUFWriter(out, "llama")
    writer.add_name("random-llama-1B-shape")
    writer.add_context_length(8192)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_rope_freq_base(100000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    array, string = gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING
    for key, fld in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        kind = fld.types[0]
        if kind == array:
            sub = fld.types[1]
            items = [fld.parts[i] for i in fld.data]
            value: Any = [bytes(p).decode() if sub == string else p[0].item() for p in items]
            writer.add_key_value(key, value, kind, sub_type=sub)
        elif kind == string:
            writer.add_key_value(key, bytes(fld.parts[fld.data[0]]).decode(), kind)
        else:
            writer.add_key_value(key, fld.parts[fld.data[0]][0].item(), kind)
    rng = np.random.default_rng(0)
    scale = np.frombuffer(np.float16(0.004).tobytes(), dtype=np.uint8)
    q4_0 = gguf.GGMLQuantizationType.Q4_0

    def blocks(rows: int, cols: int) -> Any:  # 32 weights a block: fp16 scale + 16 nibble bytes
        data = rng.integers(0, 256, size=(rows * cols // 32, 18), dtype=np.uint8)
        data[:, :2] = scale
        return data.reshape(rows, cols // 32 * 18)

    kv = hidden // heads * kv_heads
    writer.add_tensor("token_embd.weight", blocks(vocab, hidden), raw_dtype=q4_0)
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    for i in range(layers):
        for name in ("attn_norm", "ffn_norm"):
            writer.add_tensor(f"blk.{i}.{name}.weight", np.ones(hidden, dtype=np.float32))
        for name, (rows, cols) in {
            "attn_q": (hidden, hidden),
            "attn_k": (kv, hidden),
            "attn_v": (kv, hidden),
            "attn_output": (hidden, hidden),
            "ffn_gate": (ffn, hidden),
            "ffn_up": (ffn, hidden),
            "ffn_down": (hidden, ffn),
        }.items():
            writer.add_tensor(f"blk.{i}.{name}.weight", blocks(rows, cols), raw_dtype=q4_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, short answers")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per side (3)")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens per B1/B4 run")
    parser.add_argument(
        "--model-path", type=Path, default=None, help="also run B1/B4 on this (bigger) GGUF"
    )
    parser.add_argument("--quiet", action="store_true", help="only the table")
    parser.add_argument(
        "--write-random-model",
        type=Path,
        metavar="OUT",
        help="write a random-weight ~1B-shaped Q4_0 GGUF (about 600 MB) for --model-path, then exit",
    )
    args = parser.parse_args(argv)
    if args.write_random_model is not None:
        write_random_model(args.write_random_model, Catalog.load().default("chat").path)
        print(f"wrote {args.write_random_model}")
        return 0
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.quick:
        args.max_tokens = min(args.max_tokens, 48)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    plan = hardware.plan_threads()
    say(
        f"machine: {cpu_name()}, {hardware.logical_cpus()} logical CPUs, "
        f"{plan.physical_cores} physical cores; llama-cpp-python {llama_cpp.__version__}; "
        f"reps {args.reps} (ABAB, median)"
    )
    started = time.perf_counter()
    rows = run_model("small", Catalog.load().default("chat"), 4096, args, True, say)
    if args.model_path is not None:
        rows += run_model("big", entry_for(args.model_path), 1024, args, False, say)

    print()
    print(
        f"{'id':10s} {'what':36s} {'ours':>9s} {'raw':>9s} {'unit':5s} {'ratio':>6s} "
        f"{'target':16s} result"
    )
    for row in rows:
        print(
            f"{row.id:10s} {row.what:36s} {row.ours:9.4g} {row.raw:9.4g} {row.unit:5s} "
            f"{row.ratio:6.3f} {row.target:16s} {row.verdict}"
        )
        for note in row.notes:
            print(f"{'':10s}   {note}")
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
