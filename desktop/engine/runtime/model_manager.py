"""The local model runtime: one llama.cpp model at a time, one generation at a time.

`ModelManager` owns the single `Llama` behind a lock (`Llama` is not thread-safe). A new request
cancels the running stream first; loading another model closes the old one. Streaming is a plain
generator (`Generation`), iterated by whoever wants tokens (CLI, a Qt worker, a test); its `stats`
fill in as it runs. Cancellation is checked between tokens, and llama.cpp's abort callback stops a
long prompt evaluation as well.

Each generation first takes the machine-wide `GenerationLock` (Enclave processes queue instead of
sharing the cores), then fits its threads to the cores other processes leave free (`CpuLoad`), unless
the settings name a thread count.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import llama_cpp

from desktop.engine.core.errors import Cancelled, ContextTooLong, InvalidInput, ModelLoadFailed
from desktop.engine.runtime import hardware, modelfiles, speculative
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.chat_format import ChatFormat, Message, from_metadata
from desktop.engine.runtime.chat_model import (
    DEFAULT_SETTINGS,
    REPEAT_PENALTY,
    Generation,
    LoadedInfo,
    ModelSettings,
    Token,
)
from desktop.engine.runtime.generation_lock import GenerationLock

REFIT_EVERY = 16  # tokens
REFIT_WINDOW_S = 0.25
_ABORT_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)


class ModelManager:
    """Owns the one loaded chat model. Thread-safe: every llama.cpp call happens under `_lock`."""

    def __init__(self, generation_lock: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._generation_lock_path = generation_lock
        self._cpu_load = hardware.CpuLoad()
        self._adaptive_threads = True
        self._speculative_tokens = 0
        self.threads_now: hardware.ThreadPlan | None = None
        self._llama: Any = None
        self._format: ChatFormat | None = None
        self._info: LoadedInfo | None = None
        self._current: Generation | None = None
        self._abort_flag = threading.Event()
        self._abort_cb = _ABORT_CALLBACK_TYPE(lambda _data: self._abort_flag.is_set())

    @property
    def info(self) -> LoadedInfo | None:
        return self._info

    @property
    def chat_format(self) -> ChatFormat:
        if self._format is None:
            raise ModelLoadFailed("No chat model is loaded.", "Load a model first.")
        return self._format

    def load(self, entry: ModelEntry, settings: ModelSettings = DEFAULT_SETTINGS) -> LoadedInfo:
        """Verify and load `entry`, closing whatever was loaded before."""
        path = modelfiles.verify(entry)
        self.cancel_current()
        with self._lock:
            self._close_locked()
            threads = hardware.plan_threads(settings.n_threads, settings.n_threads_batch)
            gpu_layers = hardware.default_gpu_layers(settings.n_gpu_layers)
            n_ctx = (
                min(settings.n_ctx, entry.context_length)
                if entry.context_length
                else settings.n_ctx
            )
            started = time.perf_counter()
            self._llama = open_llama(
                path,
                n_ctx=n_ctx,
                n_threads=threads.n_threads,
                n_threads_batch=threads.n_threads_batch,
                n_gpu_layers=gpu_layers,
                n_batch=settings.n_batch,
                seed=settings.seed,
            )
            _install_abort_callback(self._llama, self._abort_cb)
            self._adaptive_threads = not (settings.n_threads and settings.n_threads > 0)
            self._speculative_tokens = max(0, settings.speculative_tokens)
            self._cpu_load = hardware.CpuLoad()
            self.threads_now = threads
            self._format = from_metadata(
                self._llama.metadata, _special_tokens(self._llama), settings.chat_format
            )
            self._info = LoadedInfo(
                entry=entry,
                path=path,
                n_ctx=n_ctx,
                threads=threads,
                n_gpu_layers=gpu_layers,
                chat_format=self._format.name,
                load_s=time.perf_counter() - started,
            )
            return self._info

    def close(self) -> None:
        self.cancel_current()
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._llama is not None:
            self._llama.close()
        self._llama = None
        self._format = None
        self._info = None

    def cancel_current(self) -> None:
        current = self._current
        if current is not None:
            current.cancel()
            self._abort_flag.set()

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        with self._lock:
            llama = self._require_llama()
            return list(llama.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the rendered chat prompt takes, as the model's own tokenizer counts them."""
        return len(self.tokenize(self.render(messages)))

    def n_ctx(self) -> int:
        with self._lock:
            return int(self._require_llama().n_ctx())

    def render(self, messages: Sequence[Message]) -> str:
        fmt = self.chat_format
        if fmt.merges_system_role():
            messages = _fold_system_prompt(messages)
        return fmt.render(messages)

    def expect_generation(self) -> None:
        """A generation is coming (a question was asked): start the CPU-load reading its thread
        plan needs now, during retrieval, instead of sleeping `CpuLoad.MIN_WINDOW_S` before the
        prefill for a fresh one."""
        self._cpu_load.start_window()

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        repeat_penalty: float = REPEAT_PENALTY,
    ) -> Generation:
        """Start answering `messages`; the returned `Generation` runs as it is iterated."""
        prompt = self.render(messages)
        return self.stream_prompt(
            prompt, max_tokens=max_tokens, temperature=temperature, repeat_penalty=repeat_penalty
        )

    def stream_prompt(
        self,
        prompt: str,
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        repeat_penalty: float = REPEAT_PENALTY,
    ) -> Generation:
        _check_text(prompt)
        self.cancel_current()
        generation = Generation(iter(()))
        generation._tokens = self._run(generation, prompt, max_tokens, temperature, repeat_penalty)
        self._current = generation
        return generation

    def _run(
        self,
        generation: Generation,
        prompt: str,
        max_tokens: int,
        temperature: float,
        repeat_penalty: float,
    ) -> Iterator[Token]:
        with self._lock:
            self._abort_flag.clear()
            if generation.cancelled:
                raise Cancelled()
            llama = self._require_llama()
            queue = GenerationLock(self._generation_lock_path)
            queue.acquire(lambda: generation.cancelled)
            try:
                if queue.waited_s > hardware.CpuLoad.MIN_WINDOW_S:
                    self._cpu_load = hardware.CpuLoad()  # the process we queued behind has finished
                self._fit_threads(llama)
                yield from self._generate_locked(
                    llama, generation, prompt, max_tokens, temperature, repeat_penalty
                )
            finally:
                queue.release()

    def _fit_threads(self, llama: Any, *, may_wait: bool = True) -> None:
        """Give this generation the cores other processes leave free (before it, and again every
        `REFIT_EVERY` tokens, so a long answer follows load that starts or stops meanwhile)."""
        info = self._info
        if info is None or not self._adaptive_threads:
            return
        plan = hardware.fit_to_load(
            info.threads, self._cpu_load.other_busy_cores(may_wait=may_wait)
        )
        if plan != self.threads_now:
            llama_cpp.llama_set_n_threads(llama._ctx.ctx, plan.n_threads, plan.n_threads_batch)
            self.threads_now = plan

    def _generate_locked(
        self,
        llama: Any,
        generation: Generation,
        prompt: str,
        max_tokens: int,
        temperature: float,
        repeat_penalty: float,
    ) -> Iterator[Token]:
        stats = generation.stats
        tokens = list(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
        n_ctx = llama.n_ctx()
        if len(tokens) + 1 > n_ctx:
            raise ContextTooLong(len(tokens) + 1, n_ctx)
        budget = max(1, min(max_tokens, n_ctx - len(tokens)))
        stats.prompt_tokens = len(tokens)
        stats.reused_prefix_tokens = _common_prefix(llama, tokens)
        started = time.perf_counter()
        # A plain generate loop with an incremental UTF-8 decoder: create_completion(stream=True)
        # re-detokenizes the whole answer at every token, a cost that grows with its length.
        sampling: dict[str, Any] = {
            "top_k": 1 if temperature == 0 else 40,
            "top_p": 0.95,
            "min_p": 0.05,
            "temp": temperature,
            "repeat_penalty": repeat_penalty,
        }
        if self._speculative_tokens:
            token_ids = speculative.generate(
                llama, tokens, draft_tokens=self._speculative_tokens, **sampling
            )
        else:
            token_ids = llama.generate(tokens, **sampling)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        loop_guard = LoopGuard()
        vocab = llama._model.vocab
        produced = 0
        try:
            for token_id in token_ids:
                if generation.cancelled:
                    stats.finish_reason = "cancelled"
                    break
                if llama_cpp.llama_vocab_is_eog(vocab, token_id):
                    stats.finish_reason = "stop"
                    break
                produced += 1
                if produced % REFIT_EVERY == 0 and self._cpu_load.window_s() >= REFIT_WINDOW_S:
                    self._fit_threads(llama, may_wait=False)
                text = decoder.decode(_token_bytes(vocab, token_id))
                if text:
                    if stats.time_to_first_token_s is None:
                        stats.time_to_first_token_s = time.perf_counter() - started
                    yield Token(text, produced - 1)
                    if loop_guard.looping(text):
                        stats.finish_reason = "repetition"
                        break
                if produced >= budget:
                    stats.finish_reason = "length"
                    break
            tail = decoder.decode(b"", final=True)
            if tail and not generation.cancelled:
                yield Token(tail, produced)
        except RuntimeError:
            if not generation.cancelled:
                raise
            _forget_kv_state(llama)
            stats.finish_reason = "cancelled"
        finally:
            token_ids.close()
            stats.total_s = time.perf_counter() - started
            stats.completion_tokens = produced
            if self._current is generation:
                self._current = None
            self._abort_flag.clear()

    def _require_llama(self) -> Any:
        if self._llama is None:
            raise ModelLoadFailed("No chat model is loaded.", "Load a model first.")
        return self._llama


_LOG = logging.getLogger("enclave.llama_cpp")
_LOG.addHandler(logging.NullHandler())  # kept for whoever configures logging, never on stderr
# ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the previous line)
_GGML_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _llama_log(level: int, text: bytes, _user_data: Any) -> None:
    """llama.cpp's own log lines go to Python logging, not straight to the user's terminal."""
    _LOG.log(_GGML_LEVELS.get(level, logging.DEBUG), text.decode("utf-8", "replace").rstrip())


class LoopGuard:
    """Stops an answer that keeps writing the same line: small models under greedy decoding fall
    into loops that a repeat penalty alone does not break (seen with SmolLM2-135M on the demo)."""

    def __init__(self, min_chars: int = 24, max_repeats: int = 2) -> None:
        self.min_chars = min_chars
        self.max_repeats = max_repeats
        self._line: list[str] = []
        self._seen: dict[str, int] = {}

    def looping(self, text: str) -> bool:
        """Feed streamed text; True once a substantial line has appeared more than allowed."""
        *complete, rest = text.split("\n")
        for part in complete:
            self._line.append(part)
            line = " ".join("".join(self._line).split()).lower()
            self._line = []
            if len(line) >= self.min_chars:
                self._seen[line] = self._seen.get(line, 0) + 1
                if self._seen[line] > self.max_repeats:
                    return True
        self._line.append(rest)
        return False


_LOAD_LOCK = threading.Lock()


def open_llama(path: Path, **kwargs: Any) -> Any:
    """Translate llama.cpp's load failures into `ModelLoadFailed`. A llama.cpp build with Intel AMX
    kernels loads with its extra buffer types off (`hardware.amx_build`)."""
    llama_cpp.llama_log_set(_llama_log, ctypes.c_void_p(0))
    try:
        loading = _without_extra_buffer_types() if hardware.amx_build() else nullcontext()
        with loading:
            return llama_cpp.Llama(model_path=str(path), verbose=False, **kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadFailed(
            f"llama.cpp could not load {path.name}: {exc}.",
            "Check the file with `enclave models verify`; it may be for a newer llama.cpp.",
        ) from None


@contextmanager
def _without_extra_buffer_types() -> Iterator[None]:
    """`Llama()` takes its model parameters from `llama_model_default_params()` and has no argument
    for `use_extra_bufts`, so the defaults are wrapped for one load (under a lock: it is global)."""
    module = llama_cpp.llama_cpp
    with _LOAD_LOCK:
        defaults = module.llama_model_default_params

        def without() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        module.llama_model_default_params = without
        try:
            yield
        finally:
            module.llama_model_default_params = defaults


def _install_abort_callback(llama: Any, callback: Any) -> None:
    import llama_cpp

    setter = getattr(llama_cpp, "llama_set_abort_callback", None)
    ctx = getattr(getattr(llama, "_ctx", None), "ctx", None)
    if setter is not None and ctx is not None:
        setter(ctx, callback, None)


def _token_bytes(vocab: Any, token_id: int) -> bytes:
    """The bytes of one token (a piece may end inside a multi-byte character)."""
    size = 64
    while True:
        buffer = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_token_to_piece(vocab, token_id, buffer, size, 0, False)
        if n >= 0:
            return buffer.raw[:n]
        size = -n


def _special_tokens(llama: Any) -> dict[str, str]:
    def piece(token_id: int) -> str:
        if token_id < 0:
            return ""
        return bytes(llama.detokenize([token_id], special=True)).decode("utf-8", "replace")

    return {"bos_token": piece(llama.token_bos()), "eos_token": piece(llama.token_eos())}


def _common_prefix(llama: Any, tokens: list[int]) -> int:
    cached = llama.input_ids[: llama.n_tokens].tolist()
    n = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        n += 1
    return n


def _forget_kv_state(llama: Any) -> None:
    """After an aborted decode the KV cache is partial: start the next prompt cold."""
    llama.reset()
    llama._ctx.kv_cache_clear()


def _fold_system_prompt(messages: Sequence[Message]) -> list[dict[str, str]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            "The message contains characters that are not valid text (lone surrogates).",
            "Paste the text again from its source, or remove the damaged characters.",
        ) from None
