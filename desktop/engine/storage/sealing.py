"""Seal a secret to someone's X25519 public key, so only their private key opens it.

Used to wrap the history key for an administrator's recovery key, and (with packs) to hand audience
keys to enrolled users. Construction: ephemeral X25519 -> HKDF-SHA256 -> AES-256-GCM, with the
ephemeral and recipient public keys bound as associated data (an ECIES "sealed box").
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode

_INFO = b"enclave-sealed-box-v1"
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw


class SealError(EngineError):
    exit_code = ExitCode.KEYRING


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(_RAW, _RAW_PUB)


def private_bytes(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def seal(secret: bytes, recipient: X25519PublicKey, label: str) -> dict[str, Any]:
    """A JSON-ready envelope holding `secret` for `recipient`; `label` is authenticated."""
    ephemeral = X25519PrivateKey.generate()
    eph_pub, rec_pub = public_bytes(ephemeral.public_key()), public_bytes(recipient)
    key = _derive(ephemeral.exchange(recipient), eph_pub, rec_pub)
    nonce = os.urandom(12)
    aad = json.dumps([label, _b64(eph_pub), _b64(rec_pub)]).encode()
    return {
        "v": 1,
        "label": label,
        "ephemeral": _b64(eph_pub),
        "recipient": _b64(rec_pub),
        "nonce": _b64(nonce),
        "ciphertext": _b64(AESGCM(key).encrypt(nonce, secret, aad)),
    }


def unseal(envelope: dict[str, Any], private: X25519PrivateKey, label: str) -> bytes:
    """The secret inside `envelope`; `SealError` if it is not for this key, or was altered."""
    try:
        if envelope.get("v") != 1 or envelope.get("label") != label:
            raise SealError(f"This sealed '{envelope.get('label')}' is not a '{label}'.")
        eph_pub = base64.b64decode(envelope["ephemeral"])
        rec_pub = base64.b64decode(envelope["recipient"])
        if rec_pub != public_bytes(private.public_key()):
            raise SealError("This sealed key was made for another key pair.")
        key = _derive(
            private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub, rec_pub
        )
        aad = json.dumps([label, envelope["ephemeral"], envelope["recipient"]]).encode()
        nonce = base64.b64decode(envelope["nonce"])
        return AESGCM(key).decrypt(nonce, base64.b64decode(envelope["ciphertext"]), aad)
    except (KeyError, ValueError, InvalidTag) as exc:
        raise SealError(f"The sealed key is damaged or forged ({type(exc).__name__}).") from None


def public_key_text(key: X25519PublicKey) -> str:
    """A recipient key as base64 of its 32 raw bytes: the form `load_public_key` reads."""
    return _b64(public_bytes(key))


def load_public_key(text: str) -> X25519PublicKey:
    """A recipient key as base64 of the 32 raw bytes (what `enclave` tools export)."""
    try:
        return X25519PublicKey.from_public_bytes(base64.b64decode(text.strip()))
    except ValueError as exc:
        raise SealError(f"Not an X25519 public key: {exc}.") from None
