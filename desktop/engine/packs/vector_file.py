"""A shard's vector index as its own sealed pack file: `shards/<audience>.vectors`.

Reading the index blob through SQLCipher cost ~580 ms at 100k chunks (every 4 KiB page decrypted
and its HMAC-SHA512 checked) and two copies in the parser; this file is one AES-256-GCM message
under a key derived from the audience key, decrypted in 1 MiB blocks straight into the buffer the
index then searches in place (`FlatIvfIndex.from_bytes`, format 2: no copy).

    magic (16) | nonce (12) | GCM tag (16) | ciphertext of `FlatIvfIndex.to_bytes()`

The file is listed and hashed in the signed manifest like every pack file (`verify_folder`
refuses a pack whose files differ), and the tag is checked before a byte of the plaintext is
parsed; a wrong key, a swapped audience or a damaged file is refused with `IndexUnusable`. The
key is HKDF-SHA256 of the audience key with its own label, so the SQLCipher key and this one are
never the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from desktop.engine.knowledge.errors import IndexUnusable
from desktop.engine.knowledge.vector_index import FlatIvfIndex

MAGIC = b"ENCLAVE-VECS\x00\x00\x00\x01"
SUFFIX = ".vectors"
_NONCE, _TAG = 12, 16
_HEADER = len(MAGIC) + _NONCE + _TAG
_BLOCK = 1 << 20
_LABEL = b"enclave shard vector index v1"


def path_for(shard_path: Path) -> Path:
    """Where a shard's sealed vector index lies: beside it, same stem."""
    return shard_path.with_suffix(SUFFIX)


def _key(audience_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(audience_key)


def write(path: Path, index: FlatIvfIndex, audience_key: bytes) -> None:
    """Seal `index` into `path` (written beside, fsynced, then renamed into place)."""
    nonce = os.urandom(_NONCE)
    encryptor = Cipher(algorithms.AES(_key(audience_key)), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(MAGIC)
    body = encryptor.update(index.to_bytes()) + encryptor.finalize()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(MAGIC + nonce + encryptor.tag)
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read(path: Path, audience_key: bytes) -> FlatIvfIndex:
    """Decrypt and authenticate `path`, then parse it; nothing is parsed before the tag checks."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(_HEADER)
            size = os.fstat(handle.fileno()).st_size - _HEADER
            if len(header) != _HEADER or header[: len(MAGIC)] != MAGIC or size < 0:
                raise IndexUnusable(f"{path.name} is not a sealed vector index")
            nonce = header[len(MAGIC) : len(MAGIC) + _NONCE]
            tag = header[len(MAGIC) + _NONCE :]
            decryptor = Cipher(
                algorithms.AES(_key(audience_key)), modes.GCM(nonce, tag)
            ).decryptor()
            decryptor.authenticate_additional_data(MAGIC)
            plain = bytearray(size + 16)  # update_into wants a block of slack
            out = memoryview(plain)
            block = bytearray(_BLOCK)
            done = 0
            while n := handle.readinto(block):
                if done + n > size:
                    raise IndexUnusable(f"{path.name} changed while it was read")
                done += decryptor.update_into(memoryview(block)[:n], out[done:])
            decryptor.finalize()
    except InvalidTag:
        raise IndexUnusable(
            f"{path.name} does not decrypt with this audience's key (damaged or swapped)"
        ) from None
    except OSError as exc:
        raise IndexUnusable(f"{path.name} could not be read ({exc.strerror or exc})") from exc
    if done != size:
        raise IndexUnusable(f"{path.name} changed while it was read")
    return FlatIvfIndex.from_bytes(out[:size])
