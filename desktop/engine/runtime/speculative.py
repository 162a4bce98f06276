"""Prompt-lookup speculative decoding over a llama-cpp-python `Llama` (issue 12, B16).

A grounded answer copies words from its passages, so the tokens after the latest n-gram's earlier
occurrence in the context are a cheap guess at what comes next (llama-cpp-python's
`LlamaPromptLookupDecoding`). Each step evaluates the last sampled token and up to `draft` guessed
tokens in one batch, then samples position by position with the same sampler chain as
`Llama.generate` and keeps the guesses up to the first one the model would not have chosen. Under
greedy decoding the text is the model's own: a guess is kept only where it equals the token
sampled from the logits that follow it.

Unlike `Llama(draft_model=...)`, which turns on `logits_all` for the whole context (logits for
every prompt token: a slower prefill and an `n_ctx x n_vocab` float array, 2.5 GB for a
152k-token vocabulary at 4,096 positions), the prompt is evaluated as usual and only the
verification batches ask for logits at every position.

The KV cache and `llama.input_ids` stay consistent at every `yield`, so a consumer that stops
early (cancel, budget, loop guard) leaves a cache the next prompt's prefix match can reuse.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

MAX_NGRAM = 3


def generate(
    llama: Any,
    tokens: Sequence[int],
    *,
    draft_tokens: int,
    max_ngram: int = MAX_NGRAM,
    **sampling: Any,
) -> Generator[int, None, None]:
    """Yield token ids like `llama.generate(tokens, **sampling)`, drafting by prompt lookup."""
    sampler = llama._init_sampler(**sampling)
    tokens = list(tokens)
    prefix = _reusable_prefix(llama, tokens)
    llama.n_tokens = prefix  # `eval` drops the KV cells from here on
    llama.eval(tokens[prefix:])
    token = int(sampler.sample(llama._ctx, -1))
    n_ctx = int(llama.n_ctx())
    while True:
        yield token
        n_past = int(llama.n_tokens)
        room = max(0, n_ctx - n_past - 1)
        guesses = _draft(llama, n_past, token, draft_tokens, max_ngram)[:room]
        batch = [token, *guesses]
        _decode_with_all_logits(llama, batch, n_past)
        for i in range(len(batch)):
            token = int(sampler.sample(llama._ctx, i - len(batch)))
            if i + 1 < len(batch) and token == batch[i + 1]:
                yield token  # the model's own choice, already in the cache
                continue
            keep = n_past + i + 1
            if keep < llama.n_tokens:
                llama._ctx.kv_cache_seq_rm(-1, keep, -1)
                llama.n_tokens = keep
            break


def _draft(llama: Any, n_past: int, token: int, n: int, max_ngram: int) -> list[int]:
    if n <= 0:
        return []
    history = np.append(llama.input_ids[:n_past], np.intc(token)).astype(np.intc)
    found = LlamaPromptLookupDecoding.find_candidate_pred_tokens(history, max_ngram, n)
    return [int(t) for t in found]


def _decode_with_all_logits(llama: Any, batch: list[int], n_past: int) -> None:
    llama._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
    llama._ctx.decode(llama._batch)
    llama.input_ids[n_past : n_past + len(batch)] = batch
    llama.n_tokens = n_past + len(batch)
    llama._requires_eval = False


def _reusable_prefix(llama: Any, tokens: list[int]) -> int:
    """Cached tokens shared with the prompt, less one when the whole prompt is cached (its last
    token is evaluated again for fresh logits), as `Llama.generate` does."""
    cached = llama.input_ids[: llama.n_tokens].tolist()
    n = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        n += 1
    return min(n, len(tokens) - 1)
