"""Convert a sentence-transformers BERT checkpoint to a llama.cpp GGUF file.

Enclave ships all-MiniLM-L6-v2 as safetensors + vocab and needs it as a GGUF
that llama.cpp (through llama-cpp-python) loads as an embedding model.  This
module reproduces what llama.cpp's own ``convert_hf_to_gguf.py`` (class
``BertModel``, default ``--outtype``) writes, but without PyTorch or
``transformers``: only ``gguf``, ``safetensors`` (numpy API) and numpy.

Deviations from the upstream converter, all deliberate:

* the HF tokenizer is never instantiated: the vocabulary comes from
  ``vocab.txt`` and the added tokens from ``tokenizer.json``; the
  pre-tokenizer name is derived from the tokenizer config instead of from a
  hash of HF tokenizer output (see ``_tokenizer_pre``);
* ``general.*`` metadata never falls back to the model directory's name, so
  the output bytes do not depend on where the model was unpacked.

The output is byte-for-byte deterministic for a given input directory.

Usage: ``python -m models.convert_bert_gguf MODEL_DIR OUT.gguf``
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Literal

import gguf
import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

__all__ = ["convert", "main"]

OutType = Literal["f16", "f32"]

_ARCH = gguf.MODEL_ARCH.BERT

# Tensors BertModel.filter_tensors drops: position ids are implicit in
# llama.cpp, and the pooler / MLM heads are unused for embeddings.
_SKIPPED_TENSORS = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
_SKIPPED_PREFIXES = ("cls.predictions", "cls.seq_relationship")

# GGUF tensor names that llama.cpp always keeps in float32 (prepare_tensors).
_ALWAYS_F32 = (
    gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.POS_EMBD] + ".weight",
    gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.TOKEN_TYPES] + ".weight",
)

# What llama.cpp writes as tokenizer.ggml.pre for an uncased BERT WordPiece
# tokenizer: its token hash (0876d13b...) matches both "bert-bge" and
# "jina-v2-en" in get_vocab_base_pre, and the later check wins.
_BERT_UNCASED_PRE = "jina-v2-en"


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _gguf_tensor_name(hf_name: str, name_map: gguf.TensorNameMap) -> str | None:
    """Map an HF tensor name to its GGUF name, or None if BertModel drops it."""
    name = hf_name.removeprefix("bert.")
    if name.endswith(".gamma"):
        name = name.removesuffix(".gamma") + ".weight"
    if name.endswith(".beta"):
        name = name.removesuffix(".beta") + ".bias"
    if name in _SKIPPED_TENSORS or name.startswith(_SKIPPED_PREFIXES):
        return None
    new_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
    if new_name is None:
        raise ValueError(f"cannot map tensor {hf_name!r} to a GGUF name")
    return new_name


def _storage_type(
    gguf_name: str, data: npt.NDArray[Any], outtype: OutType
) -> gguf.GGMLQuantizationType:
    """Pick the GGML type exactly as llama.cpp's prepare_tensors does.

    1-D tensors, norms, biases, position and token-type embeddings stay F32
    (llama.cpp kernels expect it); every other matrix gets the file type.
    """
    keep_f32 = (
        data.ndim <= 1
        or gguf_name.endswith("_norm.weight")
        or gguf_name in _ALWAYS_F32
        or not gguf_name.endswith(".weight")
    )
    if keep_f32 or outtype == "f32":
        return gguf.GGMLQuantizationType.F32
    return gguf.GGMLQuantizationType.F16


def _add_tensors(
    writer: gguf.GGUFWriter, model_dir: Path, block_count: int, outtype: OutType
) -> None:
    """Add all weights, in safetensors (sorted-name) order like upstream."""
    name_map = gguf.get_tensor_name_map(_ARCH, block_count)
    tensors = load_file(model_dir / "model.safetensors")
    for hf_name in sorted(tensors):
        gguf_name = _gguf_tensor_name(hf_name, name_map)
        if gguf_name is None:
            continue
        data = tensors[hf_name]
        if data.dtype not in (np.float16, np.float32):
            data = data.astype(np.float32)
        qtype = _storage_type(gguf_name, data, outtype)
        writer.add_tensor(gguf_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)


def _add_general_metadata(writer: gguf.GGUFWriter, model_dir: Path) -> None:
    """Write general.* keys from the model card and config.json.

    Same heuristics as upstream (gguf.Metadata), minus the fallback on the
    directory name, which would make the bytes depend on the unpack path.
    """
    total, shared, expert, expert_count = writer.get_total_parameter_count()
    metadata = gguf.Metadata.apply_metadata_heuristic(
        gguf.Metadata(),
        gguf.Metadata.load_model_card(model_dir),
        gguf.Metadata.load_hf_parameters(model_dir),
        None,
        total,
    )
    if metadata.name is None:
        metadata.name = "bert"
    if metadata.size_label is None and total > 0:
        metadata.size_label = gguf.size_label(total, shared, expert, expert_count)
    writer.add_type(gguf.GGUFType.MODEL)
    metadata.set_gguf_meta_model(writer)


def _pooling_type(model_dir: Path) -> gguf.PoolingType | None:
    """Read the sentence-transformers Pooling module config (upstream logic).

    llama.cpp applies this pooling itself, so callers need not pass it.
    """
    modules_path = model_dir / "modules.json"
    if not modules_path.is_file():
        return None
    pooling_dir = next(
        (m["path"] for m in _read_json(modules_path) if m["type"].endswith("Pooling")),
        None,
    )
    if pooling_dir is None:
        return None
    pooling = _read_json(model_dir / pooling_dir / "config.json")
    if pooling.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if pooling.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    if pooling.get("pooling_mode_lasttoken"):
        return gguf.PoolingType.LAST
    modes = {
        "mean": gguf.PoolingType.MEAN,
        "cls": gguf.PoolingType.CLS,
        "lasttoken": gguf.PoolingType.LAST,
    }
    if (mode := pooling.get("pooling_mode")) in modes:
        return modes[mode]
    raise NotImplementedError("only MEAN, CLS and LAST pooling are supported")


def _add_hparams(
    writer: gguf.GGUFWriter, hparams: dict[str, Any], model_dir: Path, outtype: OutType
) -> None:
    """Write the bert.* hyperparameters in upstream order."""
    writer.add_block_count(hparams["num_hidden_layers"])
    writer.add_context_length(hparams["max_position_embeddings"])
    writer.add_embedding_length(hparams["hidden_size"])
    writer.add_feed_forward_length(hparams["intermediate_size"])
    writer.add_head_count(hparams["num_attention_heads"])
    writer.add_layer_norm_eps(hparams["layer_norm_eps"])
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if outtype == "f16" else gguf.LlamaFileType.ALL_F32
    )
    # BERT is an encoder: every token attends to every other token.
    writer.add_causal_attention(False)
    if (pooling := _pooling_type(model_dir)) is not None:
        writer.add_pooling_type(pooling)


def _tokenizer_pre(tokenizer_json: dict[str, Any]) -> str:
    """Name the pre-tokenizer without running the HF tokenizer.

    Upstream hashes HF's tokenization of a probe string; for the uncased
    BERT WordPiece setup that hash selects "jina-v2-en".  Other tokenizer
    configurations would hash differently, so refuse them rather than guess.
    """
    normalizer = tokenizer_json.get("normalizer") or {}
    pre_tokenizer = tokenizer_json.get("pre_tokenizer") or {}
    model = tokenizer_json.get("model") or {}
    if (
        model.get("type") == "WordPiece"
        and normalizer.get("type") == "BertNormalizer"
        and normalizer.get("lowercase") is True
        and normalizer.get("strip_accents") is None
        and normalizer.get("handle_chinese_chars") is True
        and pre_tokenizer.get("type") == "BertPreTokenizer"
    ):
        return _BERT_UNCASED_PRE
    raise NotImplementedError("only uncased BERT WordPiece tokenizers are supported")


def _load_tokens(
    model_dir: Path, tokenizer_json: dict[str, Any], vocab_size: int
) -> tuple[list[str], list[int]]:
    """Return the token list in llama.cpp's phantom-space form plus types.

    Special (added) tokens are CONTROL and kept verbatim; "##x" continuations
    become "x"; every other token is a word start and gets a "\u2581" prefix.
    Ids missing from the vocab become "[PAD<id>]" UNUSED, as upstream.
    """
    # read_text uses universal newlines, matching HF's load_vocab.
    lines = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if lines and not lines[-1]:
        lines.pop()  # trailing newline
    vocab = dict(enumerate(lines))
    added: dict[int, bool] = {}
    for entry in tokenizer_json.get("added_tokens", []):
        added[entry["id"]] = bool(entry["special"])
        vocab[entry["id"]] = entry["content"]
    if max(vocab) >= vocab_size:
        raise ValueError(f"token id {max(vocab)} exceeds vocab_size {vocab_size}")

    tokens: list[str] = []
    types: list[int] = []
    for i in range(vocab_size):
        tok = vocab.get(i)
        if tok is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(tok)
            types.append(gguf.TokenType.CONTROL if added[i] else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(tok[2:] if tok.startswith("##") else "\u2581" + tok)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def _add_vocab(writer: gguf.GGUFWriter, model_dir: Path, hparams: dict[str, Any]) -> None:
    """Write tokenizer.ggml.* keys (BertModel.set_vocab)."""
    tokenizer_json: dict[str, Any] = _read_json(model_dir / "tokenizer.json")
    tokens, types = _load_tokens(model_dir, tokenizer_json, hparams["vocab_size"])
    writer.add_token_type_count(hparams.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre(_tokenizer_pre(tokenizer_json))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    # bos(=[CLS]), eos/sep(=[SEP]), unk, pad, mask ids and add_bos/add_eos/
    # add_sep come from tokenizer.json's post-processor, via the same gguf
    # helper upstream uses.  GGUF has no cls key (llama.cpp uses bos as cls);
    # upstream merely logs a warning for it, so drop it quietly here.
    special = gguf.SpecialVocab(model_dir, n_vocab=len(tokens))
    special.special_token_ids.pop("cls", None)
    special.add_to_gguf(writer, quiet=True)


def convert(model_dir: Path, out_path: Path, *, outtype: OutType = "f16") -> None:
    """Convert the BERT model in ``model_dir`` to a GGUF file at ``out_path``.

    ``outtype="f16"`` is llama.cpp's default for float32 checkpoints.  The
    file is written to a sibling temp file first and renamed into place, so
    an interrupted run never leaves a truncated GGUF behind.
    """
    model_dir = Path(model_dir)
    out_path = Path(out_path)
    hparams: dict[str, Any] = _read_json(model_dir / "config.json")

    writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[_ARCH])
    _add_tensors(writer, model_dir, hparams["num_hidden_layers"], outtype)
    _add_general_metadata(writer, model_dir)
    _add_hparams(writer, hparams, model_dir, outtype)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _add_vocab(writer, model_dir, hparams)

    tmp_path = out_path.with_name(out_path.name + ".tmp")
    try:
        writer.write_header_to_file(path=tmp_path)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file(progress=False)
        writer.close()
        os.replace(tmp_path, out_path)
    finally:
        tmp_path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: ``python -m models.convert_bert_gguf MODEL_DIR OUT``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "model_dir", type=Path, help="directory with config.json, model.safetensors, vocab.txt"
    )
    parser.add_argument("out_path", type=Path, help="GGUF file to write")
    parser.add_argument(
        "--outtype", choices=("f16", "f32"), default="f16", help="type of the 2-D weight matrices"
    )
    args = parser.parse_args(argv)
    convert(args.model_dir, args.out_path, outtype=args.outtype)


if __name__ == "__main__":
    main()
