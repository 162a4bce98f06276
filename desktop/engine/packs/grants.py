"""Enrolment and grants: how audience keys reach exactly the users entitled to them.

The app makes the user's X25519 key pair (private half in the trusted keyring) and exports an
enrolment request. The administrator answers with a grant, signed with the admin key, holding the
audience keys of one pack version sealed to that user's public key, with an expiry. A new pack
version has fresh audience keys, so removing someone from an audience is: rebuild, re-grant.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import logging
import platform
import re
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from desktop.engine.core import paths
from desktop.engine.core.errors import KeyringUnavailable
from desktop.engine.core.regular_files import FileTooLarge, NotRegularFile, read_regular
from desktop.engine.packs.errors import AdminError, GrantRejected
from desktop.engine.packs.manifest import format_time, is_safe_name, parse_time
from desktop.engine.packs.signing import public_raw, sign, verify_bytes
from desktop.engine.packs.trust import Trust, scoped
from desktop.engine.storage import sealing, secrets
from desktop.engine.storage.sealing import SealError

_LOG = logging.getLogger("enclave.keys")
_LOG.addHandler(logging.NullHandler())

USER_KEY_NAME = "user-x25519-private-key"
USER_FINGERPRINT_NAME = "enrolment-key.fingerprint"  # so a lost private half is noticed
USER_SIGNING_KEY_NAME = "user-ed25519-signing-key"  # signs this profile's audit exports
GRANTS_DIR_NAME = "grants"  # install.grants_root()
GRANT_TYPE = "enclave-grant"
GRANT_SPEC_VERSION = 1  # open_grant refuses any other: a newer format is never read as this one
REQUEST_TYPE = "enclave-enrolment-request"
AUDIENCE_KEY_LABEL = "enclave-audience-key"
MAX_GRANT_BYTES = 1024 * 1024

# A user name becomes part of a file name (the admin's grants/) and is printed in terminals: letters
# and digits of any script, `_ . @ -` and inner spaces (Windows login names have them), up to 64,
# starting with a letter, digit or `_`; never a path separator, a control character or a bidi
# override.
_USER_NAME = re.compile(r"\w[\w.@ -]{0,63}(?<! )")
_GRANT_ID = re.compile(r"[0-9a-f]{8,64}")


def is_user_name(name: object) -> bool:
    return isinstance(name, str) and _USER_NAME.fullmatch(name) is not None


def _is_label(text: object, longest: int = 255) -> bool:
    """Free text shown to people (a machine name, a role): printable, one line, bounded."""
    return isinstance(text, str) and 0 < len(text) <= longest and text.isprintable()


def check_user_name(name: str) -> str:
    """A user name typed by an administrator or a user, or `AdminError` (usage)."""
    if not is_user_name(name):
        raise AdminError(
            f"User name {name!a} is not allowed.",
            "Use letters, digits, spaces and . _ @ - (up to 64, not starting with . - or a space).",
        )
    return name


def check_pack_id(pack_id: str) -> str:
    if not is_safe_name(pack_id):
        raise AdminError(f"Pack id {pack_id!a} must be letters, digits, . _ -")
    return pack_id


def read_grant_file(path: Path) -> bytes:
    """A grant file's bytes: a regular file of at most MAX_GRANT_BYTES, never a device or a pipe
    (`/dev/zero` would be read until memory ran out)."""
    try:
        return read_regular(path, MAX_GRANT_BYTES)
    except FileNotFoundError:
        raise GrantRejected(
            f"{path} does not exist", "Check the path of the grant file your administrator sent."
        ) from None
    except NotRegularFile:
        raise GrantRejected(f"{path} is not a regular file") from None
    except FileTooLarge:
        raise GrantRejected(f"{path} is over {MAX_GRANT_BYTES:,} bytes: not a grant") from None
    except OSError as exc:
        raise GrantRejected(f"{path} cannot be read ({exc.strerror})") from None


def fingerprint(public_raw: bytes) -> str:
    digest = hashlib.sha256(public_raw).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def _identity_marker() -> Path:
    return paths.data_dir() / USER_FINGERPRINT_NAME


def _grant_files() -> list[Path]:
    folder = paths.data_dir() / GRANTS_DIR_NAME
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _public_fingerprint(key: X25519PrivateKey) -> str:
    return fingerprint(sealing.public_bytes(key.public_key()))


def user_private_key() -> X25519PrivateKey:
    """This user's enrolment key, created once and kept in the trusted keyring.

    A missing key in a profile that already had one (its fingerprint is on disk, or grants issued
    to it are) is a lost keyring entry: a fresh key would silently orphan every grant, so this
    refuses and says what to do; only `replace_user_key` (`enclave enrol --replace-key`) makes a
    new one then.
    """
    raw = secrets.get_secret(USER_KEY_NAME)
    marker = _identity_marker()
    if raw is None:
        evidence = []
        if marker.is_file():
            evidence.append(f"its fingerprint ({marker.read_text(encoding='ascii').strip()})")
        if grant_files := _grant_files():
            evidence.append(f"{len(grant_files)} grant(s) issued to it")
        if evidence:
            _LOG.warning("enrolment key missing from the keyring; refusing to make a new one")
            raise KeyringUnavailable(
                "Your enrolment key is missing from the keyring, but this profile already had "
                f"one: {' and '.join(evidence)} are in {paths.data_dir()}. Nothing was replaced.",
                "Restore the keyring entry (from your keyring's backup), or make a new key with "
                "`enclave enrol --replace-key --out request.json` and send the new request to "
                "your administrator; grants issued to the old key will stop working.",
            )
        raw = secrets.new_key(USER_KEY_NAME, 32)
        _LOG.info("created this profile's enrolment key")
    key = X25519PrivateKey.from_private_bytes(raw)
    if not marker.is_file():
        paths.ensure_dir(marker.parent)
        marker.write_text(_public_fingerprint(key) + "\n", encoding="ascii")
    return key


@dataclass(frozen=True)
class ReplacedKey:
    old_fingerprint: str | None
    new_fingerprint: str
    orphaned_grants: int


def replace_user_key() -> ReplacedKey:
    """Make a new enrolment key on the user's explicit request (the old one is lost or retired).

    Grants issued to the old key stop opening; they stay on disk until the new grants arrive."""
    marker = _identity_marker()
    old = marker.read_text(encoding="ascii").strip() if marker.is_file() else None
    existing = secrets.get_secret(USER_KEY_NAME)
    if existing is not None:
        old = _public_fingerprint(X25519PrivateKey.from_private_bytes(existing))
    key = X25519PrivateKey.from_private_bytes(secrets.new_key(USER_KEY_NAME, 32, replace=True))
    new = _public_fingerprint(key)
    paths.ensure_dir(marker.parent)
    marker.write_text(new + "\n", encoding="ascii")
    _LOG.warning("enrolment key replaced on request: %s -> %s", old or "none", new)
    return ReplacedKey(old, new, len(_grant_files()))


def user_signing_key() -> Ed25519PrivateKey:
    """This profile's Ed25519 key for signing its audit exports, kept in the trusted keyring.

    Its public half travels in the enrolment request, so the administrator knows which key speaks
    for which user. A lost one is simply made anew: exports signed with the new key are refused
    until the user enrols again, and nothing that was signed before changes.
    """
    raw, created = secrets.get_or_create_key(USER_SIGNING_KEY_NAME, 32)
    if created:
        _LOG.info("created this profile's audit signing key")
    return Ed25519PrivateKey.from_private_bytes(raw)


def enrolment_request(user: str | None = None, machine: str | None = None) -> dict[str, Any]:
    name = check_user_name(user or getpass.getuser())
    public = sealing.public_bytes(user_private_key().public_key())
    signing = public_raw(user_signing_key().public_key())
    return {
        "type": REQUEST_TYPE,
        "user": name,
        "machine": machine or platform.node(),
        "public_key": base64.b64encode(public).decode(),
        "fingerprint": fingerprint(public),
        "signing_key": base64.b64encode(signing).decode(),
        "signing_fingerprint": fingerprint(signing),
        "created": format_time(datetime.now(UTC)),
    }


def check_request(request: dict[str, Any]) -> None:
    try:
        if request["type"] != REQUEST_TYPE:
            raise ValueError("not an enrolment request")
        if not is_user_name(request["user"]):
            raise ValueError(f"the user name {request['user']!a} is not allowed")
        machine = request["machine"]
        if not isinstance(machine, str) or len(machine) > 255 or not machine.isprintable():
            raise ValueError(f"the machine name {machine!a} is not allowed")
        public = base64.b64decode(request["public_key"], validate=True)
        if len(public) != 32 or fingerprint(public) != request["fingerprint"]:
            raise ValueError("the fingerprint does not match the public key")
        if "signing_key" in request:  # absent in requests made before audit exports existed
            signing = base64.b64decode(request["signing_key"], validate=True)
            if len(signing) != 32 or fingerprint(signing) != request["signing_fingerprint"]:
                raise ValueError("the signing fingerprint does not match the signing key")
    except (KeyError, ValueError, TypeError) as exc:
        raise GrantRejected(f"the enrolment request is invalid ({exc})") from None


def issue_grant(
    request: dict[str, Any],
    *,
    pack_id: str,
    pack_version: int,
    roles: list[str],
    audience_keys: dict[str, bytes],
    expires: datetime,
    admin_key: Ed25519PrivateKey,
) -> dict[str, Any]:
    """A signed grant sealing `audience_keys` to the requesting user's public key."""
    check_request(request)
    check_pack_id(pack_id)
    recipient = sealing.load_public_key(request["public_key"])
    signed = {
        "type": GRANT_TYPE,
        "spec_version": GRANT_SPEC_VERSION,
        "grant_id": pysecrets.token_hex(8),
        "user": request["user"],
        "machine": request["machine"],
        "fingerprint": request["fingerprint"],
        "pack_id": pack_id,
        "pack_version": pack_version,
        "roles": sorted(roles),
        "audiences": {
            name: sealing.seal(
                key, recipient, f"{AUDIENCE_KEY_LABEL}:{pack_id}:{pack_version}:{name}"
            )
            for name, key in sorted(audience_keys.items())
        },
        "issued": format_time(datetime.now(UTC)),
        "expires": format_time(expires),
    }
    return sign(signed, admin_key)


@dataclass(frozen=True)
class Grant:
    grant_id: str
    user: str
    pack_id: str
    pack_version: int
    roles: tuple[str, ...]
    audience_keys: dict[str, bytes]
    expires: datetime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires


def open_grant(
    raw: bytes,
    trusted: Trust | Mapping[str, Ed25519PublicKey],
    private: X25519PrivateKey | None = None,
) -> Grant:
    """Verify a grant (signed by a key trusted for its pack id) and unseal its audience keys with
    this user's private key."""
    from desktop.engine.packs.errors import PackRejected

    if len(raw) > MAX_GRANT_BYTES:
        raise GrantRejected(f"it is over {MAX_GRANT_BYTES:,} bytes")
    try:
        authorised = scoped(trusted).authorised_keys(raw, what="grant")
        signed = verify_bytes(raw, authorised, what="grant")
    except PackRejected as exc:
        raise GrantRejected(exc.reason) from None
    private = private or user_private_key()
    own = fingerprint(sealing.public_bytes(private.public_key()))
    try:
        if signed["type"] != GRANT_TYPE:
            raise GrantRejected("this file is not a grant")
        spec = signed.get("spec_version")
        if isinstance(spec, bool) or spec != GRANT_SPEC_VERSION:  # a newer format, never guessed
            raise GrantRejected(
                f"it is a grant of format {spec!a}, which this version of Enclave does not read",
                "Upgrade Enclave, or ask your administrator for a grant this version reads.",
            )
        if signed["fingerprint"] != own:
            raise GrantRejected(
                f"it was issued for another key ({signed['fingerprint']}, yours is {own})",
                "Send your own enrolment request (Settings > Enrolment, or `enclave enrol`).",
            )
        version = signed["pack_version"]
        if type(version) is not int or not 1 <= version <= 2**53 - 1:  # not "5", True or 5.0
            raise GrantRejected(f"its pack version {version!a} is not a positive integer")
        if not isinstance(signed["expires"], str) or not isinstance(signed["pack_id"], str):
            raise GrantRejected("its pack id and expiry must be strings")
        pack_id = signed["pack_id"]
        _check_grant_names(signed)
        keys = {
            name: sealing.unseal(
                envelope, private, f"{AUDIENCE_KEY_LABEL}:{pack_id}:{version}:{name}"
            )
            for name, envelope in signed["audiences"].items()
        }
        grant = Grant(
            grant_id=str(signed["grant_id"]),
            user=str(signed["user"]),
            pack_id=pack_id,
            pack_version=version,
            roles=tuple(signed["roles"]),
            audience_keys=keys,
            expires=parse_time(signed["expires"]),
        )
    except SealError as exc:
        raise GrantRejected(f"an audience key in it cannot be unsealed ({exc.message})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise GrantRejected(f"the grant is malformed ({exc})") from None
    if grant.expired():
        raise GrantRejected(f"it expired on {format_time(grant.expires)}")
    return grant


def _check_grant_names(signed: dict[str, Any]) -> None:
    """Names in a grant become file names and terminal output: refuse any that could escape."""
    if not is_safe_name(signed["pack_id"]):
        raise GrantRejected(f"its pack id {signed['pack_id']!a} is not allowed")
    if not isinstance(signed["grant_id"], str) or not _GRANT_ID.fullmatch(signed["grant_id"]):
        raise GrantRejected(f"its grant id {signed['grant_id']!a} is not allowed")
    if not is_user_name(signed["user"]):
        raise GrantRejected(f"its user name {signed['user']!a} is not allowed")
    roles, audiences = signed["roles"], signed["audiences"]
    if not isinstance(roles, list) or not all(_is_label(r, 64) for r in roles):
        raise GrantRejected("its roles are not plain names")
    if not isinstance(audiences, dict) or not all(is_safe_name(a) for a in audiences):
        raise GrantRejected("its audience names are not allowed")


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
