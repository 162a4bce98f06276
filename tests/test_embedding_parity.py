"""Embedding parity: converted all-MiniLM-L6-v2 GGUF under llama.cpp vs sentence-transformers.

The reference vectors in tests/data/minilm_reference.npz were computed once by
models/make_reference_embeddings.py (sentence-transformers, PyTorch); this
test only needs llama-cpp-python and the GGUF from models/convert_bert_gguf.py.

Fixtures ``embedding_gguf`` (path to the converted GGUF) and
``minilm_source_dir`` (the unpacked model directory) come from conftest.py.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import gguf
import numpy as np
import numpy.typing as npt

from models.convert_bert_gguf import convert

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.npz"
MIN_COSINE = 0.99


def _load_reference() -> tuple[list[str], npt.NDArray[np.float32]]:
    with np.load(REFERENCE, allow_pickle=False) as ref:
        return [str(s) for s in ref["sentences"]], ref["vectors"].astype(np.float32)


def _unit(v: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(v, dtype=np.float64)
    unit: npt.NDArray[np.float64] = arr / np.linalg.norm(arr, axis=-1, keepdims=True)
    return unit


def test_reference_file_shape() -> None:
    sentences, vectors = _load_reference()
    assert len(sentences) >= 24
    assert vectors.shape == (len(sentences), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_llama_cpp_matches_sentence_transformers(embedding_gguf: Path) -> None:
    """Every sentence's llama.cpp embedding is within cosine 0.99 of the reference.

    Pooling (MEAN) is read by llama.cpp from the GGUF; nothing is passed here.
    Sentences are embedded one at a time, which is how the app embeds queries.
    """
    import llama_cpp

    sentences, reference = _load_reference()
    llm = llama_cpp.Llama(model_path=str(embedding_gguf), embedding=True, n_ctx=512, verbose=False)
    try:
        got = np.array([llm.embed(s) for s in sentences], dtype=np.float64)
    finally:
        llm.close()

    assert got.shape == reference.shape
    cosines = np.sum(_unit(got) * _unit(reference), axis=1)
    print(f"cosine vs sentence-transformers: min={cosines.min():.6f} mean={cosines.mean():.6f}")
    worst = [
        (round(float(c), 6), s[:60])
        for c, s in zip(cosines, sentences, strict=True)
        if c < MIN_COSINE
    ]
    assert not worst, f"sentences below cosine {MIN_COSINE}: {worst}"


def test_converter_is_deterministic(minilm_source_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.gguf", tmp_path / "b.gguf"
    convert(minilm_source_dir, first)
    convert(minilm_source_dir, second)
    assert filecmp.cmp(first, second, shallow=False)


def test_converted_gguf_layout(minilm_source_dir: Path, tmp_path: Path) -> None:
    """Key metadata llama.cpp relies on to load MiniLM as a BERT embedder."""
    out = tmp_path / "minilm.gguf"
    convert(minilm_source_dir, out)
    reader = gguf.GGUFReader(out)

    def value(key: str) -> object:
        field = reader.get_field(key)
        assert field is not None, key
        return field.contents()

    assert value("general.architecture") == "bert"
    assert value("bert.block_count") == 6
    assert value("bert.embedding_length") == 384
    assert value("bert.context_length") == 512
    assert value("bert.attention.causal") is False
    assert value("bert.pooling_type") == gguf.PoolingType.MEAN
    assert value("tokenizer.ggml.model") == "bert"
    assert value("tokenizer.ggml.bos_token_id") == 101  # [CLS]
    assert value("tokenizer.ggml.eos_token_id") == 102  # [SEP]
    tokens = value("tokenizer.ggml.tokens")
    assert isinstance(tokens, list)
    assert len(tokens) == 30522
    assert tokens[0] == "[PAD]"
    assert tokens[101] == "[CLS]"
    assert tokens[1996] == "\u2581the"
    assert "s" in tokens  # "##s" continuation, prefix stripped
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["token_embd.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.0.attn_output_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert types["position_embd.weight"] == gguf.GGMLQuantizationType.F32
    assert "pooler.dense.weight" not in types
