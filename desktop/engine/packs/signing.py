"""Canonical JSON and Ed25519 signature envelopes, after The Update Framework.

A signed document is `{"signed": {...}, "signatures": [{"keyid": ..., "sig": ...}]}`. The signature
covers the canonical encoding of `signed` (sorted keys, no spaces, UTF-8, no floats); keyid is the
SHA-256 of the raw public key. Verification works on the raw bytes of the file and only then parses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from desktop.engine.packs.errors import AdminError, PackRejected

MAX_SIGNED_BYTES = 16 * 1024 * 1024
MAX_SAFE_INTEGER = 2**53 - 1  # what every JSON reader holds exactly; signed integers stay within
MAX_DEPTH = 32  # arrays and objects inside a signed document; real ones nest about 4 deep


def canonical(value: Any) -> bytes:
    """The one byte encoding that signatures cover."""
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("signed documents hold no floats (their text form is not canonical)")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list):
        for item in value:
            _reject_floats(item)


class _NotCanonical(ValueError):
    """Something canonical JSON cannot hold (floats, NaN, huge integers, repeated keys)."""


def _refuse_fraction(text: str) -> Any:
    raise _NotCanonical("a number with a fraction or an exponent")


def _refuse_constant(text: str) -> Any:
    raise _NotCanonical("a NaN or infinite number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_SAFE_INTEGER)) or abs(int(text)) > MAX_SAFE_INTEGER:
        raise _NotCanonical(f"an integer beyond {MAX_SAFE_INTEGER} in size")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _NotCanonical("the same key twice in one object")
    return result


def load_signed_json(raw: bytes, what: str = "manifest") -> Any:
    """Parse the bytes of a signed document, refusing with `PackRejected` (never a traceback)
    what canonical JSON cannot hold: floats, NaN and infinities, integers beyond
    `MAX_SAFE_INTEGER`, repeated keys, lone surrogates, nesting deeper than `MAX_DEPTH`."""
    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_float=_refuse_fraction,
            parse_int=_bounded_int,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except _NotCanonical as exc:
        raise PackRejected(f"the {what} holds {exc}, which signed documents may not") from None
    except RecursionError:
        raise PackRejected(f"the {what} is nested more than {MAX_DEPTH} levels deep") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PackRejected(f"the {what} is not a signed document") from None
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise PackRejected(f"the {what} holds text that is not valid Unicode") from None
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise PackRejected(f"the {what} is nested more than {MAX_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_raw(key)).hexdigest()


def sign(signed: dict[str, Any], private: Ed25519PrivateKey) -> dict[str, Any]:
    signature = private.sign(canonical(signed))
    return {
        "signed": signed,
        "signatures": [
            {"keyid": key_id(private.public_key()), "sig": base64.b64encode(signature).decode()}
        ],
    }


def verify_bytes(
    raw: bytes, trusted: dict[str, Ed25519PublicKey], what: str = "manifest"
) -> dict[str, Any]:
    """Parse a signed envelope only far enough to check it; return `signed` if a trusted key signed it.

    Each key counts once; one valid signature by a trusted key is required, and any signature that
    claims a trusted keyid but does not verify is treated as forgery.
    """
    if len(raw) > MAX_SIGNED_BYTES:
        raise PackRejected(f"the {what} is {len(raw)} bytes, over the {MAX_SIGNED_BYTES} limit")
    try:
        envelope = load_signed_json(raw, what)
        signed = envelope["signed"]
        signatures = envelope["signatures"]
        if not isinstance(signed, dict) or not isinstance(signatures, list):
            raise TypeError
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise PackRejected(f"the {what} is not a signed document") from None
    if set(envelope) != {"signed", "signatures"}:
        raise PackRejected(f"the {what} has unexpected fields next to its signatures")
    payload = canonical(signed)
    seen: set[str] = set()
    valid = 0
    for entry in signatures:
        kid = entry.get("keyid") if isinstance(entry, dict) else None
        if not isinstance(kid, str) or kid in seen:
            raise PackRejected(f"the {what} repeats or malforms a signature")
        seen.add(kid)
        key = trusted.get(kid)
        if key is None:
            continue
        try:
            key.verify(base64.b64decode(entry["sig"], validate=True), payload)
        except (InvalidSignature, ValueError, KeyError, TypeError):
            raise PackRejected(f"the {what}'s signature does not match its content") from None
        valid += 1
    if valid == 0:
        raise PackRejected(
            f"the {what} is not signed by a key this computer trusts",
            "Install the administrator's public key in the config folder (through your MDM), or "
            "ask for a pack signed with the organisation's key.",
        )
    return signed


def generate_signing_key(out_dir: Path, name: str = "admin") -> tuple[Path, Path]:
    """Write `<name>.key` (private, mode 600, keep it safe) and `<name>.pub` (give it to machines)."""
    private = Ed25519PrivateKey.generate()
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    if key_path.exists():
        raise AdminError(f"{key_path} already exists; refusing to overwrite a signing key.")
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(raw).decode() + "\n")
    pub_path.write_text(base64.b64encode(public_raw(private.public_key())).decode() + "\n")
    return key_path, pub_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip()))
    except (OSError, ValueError) as exc:
        raise AdminError(f"{path} is not an Enclave signing key: {exc}.") from None


def load_public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
