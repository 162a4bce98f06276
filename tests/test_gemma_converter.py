"""The EmbeddingGemma converter's SentencePiece reader (models/convert_gemma_embedding_gguf.py):
pieces, scores and types from a `ModelProto`, without the sentencepiece package."""

from __future__ import annotations

import struct
from pathlib import Path

from models.convert_gemma_embedding_gguf import read_sentencepiece


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _piece(text: bytes, score: float, kind: int | None) -> bytes:
    body = b"\x0a" + _varint(len(text)) + text + b"\x15" + struct.pack("<f", score)
    if kind is not None:
        body += b"\x18" + _varint(kind)
    return b"\x0a" + _varint(len(body)) + body


def test_pieces_scores_and_types_are_read_in_order(tmp_path: Path) -> None:
    trainer_spec = b"\x12\x04\x08\x01\x10\x02"  # field 2: another message, skipped
    proto = (
        _piece(b"<pad>", 0.0, 3)
        + _piece(b"<unk>", 0.0, 2)
        + trainer_spec
        + _piece("\u2581leave".encode(), -12.5, None)  # type absent: NORMAL
        + _piece(b"<0x0A>", 0.0, 6)
    )
    path = tmp_path / "tokenizer.model"
    path.write_bytes(proto)
    tokens, scores, types = read_sentencepiece(path)
    assert tokens == [b"<pad>", b"<unk>", "\u2581leave".encode(), b"<0x0A>"]
    assert scores == [0.0, 0.0, -12.5, 0.0]
    assert types == [3, 2, 1, 6]  # SentencePiece's type numbers are GGUF's token types
