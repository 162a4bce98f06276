"""Which keys this machine trusts, and for which packs: delegations after The Update Framework.

A trusted key is a file `<config>/trusted-keys/<name>.toml` in the one system configuration folder
(`paths.system_config_dir`, written by the installer or MDM, never by the app):

    key = "<base64 Ed25519 public key, as in admin.pub>"
    packs = ["handbook", "hr-*"]    # exact pack ids, `prefix*` namespaces, or "*" for every pack

The key may sign manifests and grants of those pack ids and no others, so a key trusted for one
pack cannot replace another, delete its grants or pin its rollback floor. A bare `<name>.pub` (the
format before scopes) trusts nothing: it is reported, with what to write instead.

The demo key is the one exception to "system folder only": `enclave demo` writes its public half to
`<profile data>/DEMO-trusted-key.pub` in each profile it enrols, and it is trusted there for the
demo pack id only (`DEMO_PACK_ID`, fixed here, not read from any file). Its private half is an
unencrypted file in the user's data folder, so whoever can read that folder can sign demo packs,
and nothing else.
"""

from __future__ import annotations

import base64
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from desktop.engine.core import paths
from desktop.engine.packs.errors import AdminError, PackRejected
from desktop.engine.packs.signing import MAX_SIGNED_BYTES, key_id, load_public_key, public_raw

TRUSTED_DIR_NAME = "trusted-keys"
TRUST_FILE_SUFFIX = ".toml"
DEMO_PACK_ID = "handbook-demo"
DEMO_KEY_FILE = "DEMO-trusted-key.pub"
_PATTERN = re.compile(r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,99}\*?)$")


@dataclass(frozen=True)
class TrustedKey:
    """One key and the pack ids it may sign."""

    key_id: str
    key: Ed25519PublicKey
    name: str
    packs: tuple[str, ...]
    source: str  # the file it came from, or who gave it
    demo: bool = False

    def authorises(self, pack_id: str) -> bool:
        return any(_matches(pattern, pack_id) for pattern in self.packs)


@dataclass(frozen=True)
class IgnoredKeyFile:
    """A file in the trust folder that trusts nothing, and why (shown by `enclave doctor`)."""

    path: str
    reason: str
    key_id: str = ""


def _matches(pattern: str, pack_id: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return pack_id.startswith(pattern[:-1])
    return pack_id == pattern


@dataclass
class Trust:
    """The trusted keys with their scopes. Not a mapping on purpose: the only way to get keys out
    is `authorised_keys`, which asks what pack the signed document is about."""

    keys: list[TrustedKey] = field(default_factory=list)
    ignored: list[IgnoredKeyFile] = field(default_factory=list)

    @classmethod
    def explicit(cls, keys: Mapping[str, Ed25519PublicKey], source: str = "given") -> Trust:
        """Keys a caller chose for this one check (`enclave admin verify --public-key`, unit
        tests): trusted for every pack id. The app's install path never uses this."""
        return cls([TrustedKey(kid, key, "explicit", ("*",), source) for kid, key in keys.items()])

    def for_pack(self, pack_id: str) -> dict[str, Ed25519PublicKey]:
        return {k.key_id: k.key for k in self.keys if k.authorises(pack_id)}

    def authorised_keys(self, raw: bytes, what: str = "manifest") -> dict[str, Ed25519PublicKey]:
        """The keys allowed to sign this signed document, chosen by the pack id it claims.

        The claim is read from the same bytes the signature check then verifies, so a document can
        only be accepted by a key authorised for the pack id it really carries. When the document
        is signed only by keys this machine trusts for other packs, say which key and which pack.
        """
        pack_id, signer_ids = _claims(raw)
        if pack_id is None:
            if signer_ids:
                raise PackRejected(f"the {what} names no pack id, so no key may sign it")
            return {}  # not a signed document: the signature check says so
        allowed = self.for_pack(pack_id)
        if any(kid in allowed for kid in signer_ids):
            return allowed
        for kid in signer_ids:
            entries = [k for k in self.keys if k.key_id == kid]
            if entries:
                scopes = ", ".join(sorted({s for k in entries for s in k.packs}))
                names = ", ".join(sorted({k.name for k in entries}))
                raise PackRejected(
                    f"the {what} for pack '{pack_id}' is signed by key {kid[:16]} ({names}), "
                    f"which this computer trusts only for: {scopes}",
                    f"Ask your administrator for a {what} signed by the key trusted for "
                    f"'{pack_id}', or, if this key should sign it, add '{pack_id}' to its "
                    f"`packs` in {trusted_keys_dir()}/<name>{TRUST_FILE_SUFFIX} (through MDM).",
                )
            unscoped = [i for i in self.ignored if i.key_id == kid]
            if unscoped:
                raise PackRejected(
                    f"the {what} for pack '{pack_id}' is signed by key {kid[:16]}, installed as "
                    f"{unscoped[0].path} without a scope, which trusts nothing",
                    unscoped[0].reason,
                )
        return allowed


def _claims(raw: bytes) -> tuple[str | None, list[str]]:
    """The pack id a signed envelope claims, and the key ids of its signatures (unverified)."""
    if len(raw) > MAX_SIGNED_BYTES:
        return None, []
    try:
        envelope = json.loads(raw.decode("utf-8"))
        signed, signatures = envelope["signed"], envelope["signatures"]
        pack_id = signed.get("pack_id")
        ids = [e.get("keyid") for e in signatures if isinstance(e, dict)]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None, []  # not a signed document: the signature check says what is wrong
    return (pack_id if isinstance(pack_id, str) else None), [i for i in ids if isinstance(i, str)]


def scoped(trusted: Trust | Mapping[str, Ed25519PublicKey]) -> Trust:
    """`trusted` as a `Trust`; a plain mapping is an explicit, caller-chosen set (every pack)."""
    return trusted if isinstance(trusted, Trust) else Trust.explicit(trusted)


def trusted_keys_dir() -> Path:
    return paths.system_config_dir() / TRUSTED_DIR_NAME


def trusted_keys_dirs() -> list[Path]:
    """Kept for callers that iterate: the one trust folder."""
    return [trusted_keys_dir()]


def demo_key_path() -> Path:
    """Where `enclave demo` trusts its key, in this profile only."""
    return paths.data_dir() / DEMO_KEY_FILE


def trusted_keys() -> Trust:
    """Every key this machine (and, for the demo key, this profile) trusts, with its scope."""
    trust = Trust()
    folder = trusted_keys_dir()
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    for file in files:
        if file.suffix == TRUST_FILE_SUFFIX:
            _load_trust_file(file, trust)
        elif file.suffix == ".pub":
            _note_unscoped(file, trust)
    demo = demo_key_path()
    if demo.is_file():
        try:
            key = load_public_key(demo.read_text(encoding="ascii"))
        except (ValueError, UnicodeDecodeError):
            trust.ignored.append(IgnoredKeyFile(str(demo), "not an Ed25519 public key"))
        else:
            trust.keys.append(
                TrustedKey(key_id(key), key, "DEMO", (DEMO_PACK_ID,), str(demo), demo=True)
            )
    return trust


def _load_trust_file(file: Path, trust: Trust) -> None:
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
        key = load_public_key(str(document["key"]))
        packs = document["packs"]
        if not isinstance(packs, list) or not packs:
            raise ValueError("`packs` must be a non-empty list of pack ids")
        for pattern in packs:
            if not isinstance(pattern, str) or not _PATTERN.match(pattern):
                raise ValueError(f"`packs` holds {pattern!r}: use pack ids, 'prefix*' or '*'")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, ValueError) as exc:
        trust.ignored.append(IgnoredKeyFile(str(file), f"unreadable trust file ({exc})"))
        return
    trust.keys.append(TrustedKey(key_id(key), key, file.stem, tuple(packs), str(file)))


def _note_unscoped(file: Path, trust: Trust) -> None:
    try:
        kid = key_id(load_public_key(file.read_text(encoding="ascii")))
    except (OSError, ValueError, UnicodeDecodeError):
        kid = ""
    trust.ignored.append(
        IgnoredKeyFile(
            str(file),
            f"A key without a scope trusts nothing. Replace {file.name} with {file.stem}"
            f"{TRUST_FILE_SUFFIX} naming the packs it may sign (`enclave admin trust-file "
            f"--public-key {file.name} --packs PACK_ID`).",
            kid,
        )
    )


def trust_file_text(public_key: Ed25519PublicKey, packs: Iterable[str], comment: str = "") -> str:
    """The content of `<config>/trusted-keys/<name>.toml` for `public_key`, scoped to `packs`."""
    patterns = [p.strip() for p in packs if p.strip()]
    if not patterns:
        raise AdminError("Name at least one pack id the key may sign (--packs).")
    bad = [p for p in patterns if not _PATTERN.match(p)]
    if bad:
        raise AdminError(f"'{bad[0]}' is not a pack id, a 'prefix*' namespace or '*'.")
    lines = [
        "# Enclave trusted signing key: install as <config>/trusted-keys/<name>.toml (admin only).",
        f"# key id {key_id(public_key)}",
    ]
    lines += [f"# {comment}"] if comment else []
    lines += [
        f'key = "{base64.b64encode(public_raw(public_key)).decode()}"',
        "packs = [" + ", ".join(json.dumps(p) for p in patterns) + "]",
    ]
    return "\n".join(lines) + "\n"


def install_demo_key(public_key_file: Path) -> Path:
    """Trust the demo admin key in the current profile, for the demo pack only."""
    key = load_public_key(public_key_file.read_text(encoding="ascii"))
    target = paths.ensure_dir(paths.data_dir()) / DEMO_KEY_FILE
    target.write_text(base64.b64encode(public_raw(key)).decode() + "\n", encoding="ascii")
    return target
