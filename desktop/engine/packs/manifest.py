"""The pack manifest: what is signed, and the checks that need no file content.

Only counts and hashes are in the manifest; document titles and paths live inside the encrypted
shards, so the manifest of a pack reveals nothing about restricted documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from desktop.engine.packs.errors import PackRejected
from desktop.engine.packs.signing import MAX_SAFE_INTEGER

PACK_TYPE = "enclave-pack"
SPEC_VERSION = 1
MANIFEST_NAME = "manifest.json"
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
EXPIRY_WARNING = timedelta(days=14)
MAX_INTEGER = MAX_SAFE_INTEGER  # the largest integer every JSON reader holds exactly
MAX_TEXT = 10_000


@dataclass(frozen=True)
class FileEntry:
    path: str
    length: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    raw: dict[str, Any]

    @property
    def pack_id(self) -> str:
        return str(self.raw["pack_id"])

    @property
    def version(self) -> int:
        return int(self.raw["version"])

    @property
    def title(self) -> str:
        return str(self.raw.get("title", self.pack_id))

    @property
    def expires(self) -> datetime:
        return parse_time(self.raw["expires"])

    @property
    def created(self) -> datetime:
        return parse_time(self.raw["created"])

    @property
    def knowledge_as_of(self) -> str:
        return str(self.raw["knowledge_as_of"])

    @property
    def audiences(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw["audiences"])

    @property
    def embedding(self) -> dict[str, Any]:
        return dict(self.raw["embedding"])

    @property
    def shard_schema(self) -> tuple[str, ...]:
        """The knowledge-store migrations its shards were built with (empty for packs built
        before the manifest recorded them)."""
        return tuple(self.raw.get("shard_schema", ()))

    @property
    def evaluation(self) -> dict[str, Any] | None:
        """The signed evaluation summary (`admin build --eval`), or None."""
        value = self.raw.get("evaluation")
        return dict(value) if isinstance(value, dict) else None

    @property
    def files(self) -> list[FileEntry]:
        return [FileEntry(f["path"], int(f["length"]), str(f["sha256"])) for f in self.raw["files"]]

    def expiry_state(self, now: datetime | None = None) -> str:
        """'ok', 'expiring' (within two weeks) or 'expired'."""
        now = now or datetime.now(UTC)
        if now >= self.expires:
            return "expired"
        return "expiring" if now >= self.expires - EXPIRY_WARNING else "ok"


EVALUATION_COUNTS = ("questions", "answerable", "right_page", "should_decline", "declined", "leaks")
EVALUATION_TEXTS = ("golden_set", "golden_sha256", "model", "evaluated")


def describe_evaluation(figures: dict[str, Any]) -> str:
    """The signed evaluation summary in one sentence, as the pack manager and About show it:
    "tested on 180 questions: 93 % answered from the right page, 96 % of unanswerable declined"."""

    def share(part: str, whole: str) -> str | None:
        total = figures.get(whole)
        if not isinstance(total, int) or total <= 0:
            return None
        return f"{round(100 * int(figures.get(part, 0)) / total)} %"

    text = f"tested on {figures.get('questions', 0)} questions"
    parts = []
    if right := share("right_page", "answerable"):
        parts.append(f"{right} answered from the right page")
    if declined := share("declined", "should_decline"):
        parts.append(f"{declined} of unanswerable declined")
    text += ": " + ", ".join(parts) if parts else ""
    leaks = figures.get("leaks")
    if isinstance(leaks, int):
        text += f"; {leaks} access leak{'' if leaks == 1 else 's'}"
    model = figures.get("model")
    return text + (f" (model {model})" if isinstance(model, str) and model else "")


def _evaluation(value: Any) -> None:
    table = _table(value, "evaluation summary")
    for name in EVALUATION_COUNTS:
        _integer(table.get(name), f"evaluation {name}")
    for name in EVALUATION_TEXTS:
        if name in table:
            _text(table[name], f"evaluation {name}", 200)
    if table["right_page"] > table["answerable"] or table["declined"] > table["should_decline"]:
        raise PackRejected("the manifest's evaluation summary counts more than it tested")


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def is_safe_name(name: str) -> bool:
    """A pack id, audience or path part: letters, digits, dot, dash, underscore; no leading dot."""
    return bool(_SAFE_PART.match(name))


def safe_relative_path(path: str) -> bool:
    """A plain relative path of safe parts: no `..`, no absolute path, no backslashes, no dotfiles."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(_SAFE_PART.match(part) for part in path.split("/"))


def _integer(value: Any, what: str, low: int = 0, high: int = MAX_INTEGER) -> int:
    """A JSON integer (never a bool, a string or a float) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PackRejected(f"the manifest's {what} is not an integer")
    if not low <= value <= high:
        raise PackRejected(f"the manifest's {what} is outside {low}..{high}")
    return value


def _text(value: Any, what: str, max_length: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise PackRejected(f"the manifest's {what} is not a string")
    if len(value) > max_length:
        raise PackRejected(f"the manifest's {what} is longer than {max_length} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PackRejected(f"the manifest's {what} is not valid text") from None
    return value


def _table(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PackRejected(f"the manifest's {what} is not an object")
    return value


def _time_field(signed: dict[str, Any], name: str) -> datetime:
    text = _text(signed.get(name), name, 64)
    try:
        return parse_time(text)
    except ValueError:
        raise PackRejected(f"the manifest's {name} is not a date and time") from None


def validate(signed: dict[str, Any]) -> Manifest:
    """Check every signed field's type and range; the caller has already verified the signature.

    Strict on purpose: a version `"5"` or `true`, a float, an integer beyond `MAX_INTEGER`, a date
    that is not a string are refusals, never coerced, so that what this app acts on is exactly what
    the administrator signed.
    """
    if not isinstance(signed, dict):
        raise PackRejected("the manifest is not an object")
    spec = signed.get("spec_version")
    if signed.get("type") != PACK_TYPE or isinstance(spec, bool) or spec != SPEC_VERSION:
        raise PackRejected("this is not an Enclave pack of a version this app reads")
    if not _SAFE_PART.match(_text(signed.get("pack_id"), "pack id", 100)):
        raise PackRejected("the pack id has unsafe characters")
    _integer(signed.get("version"), "version", 1)
    for name in ("title", "license"):
        if name in signed:
            _text(signed[name], name)
    _time_field(signed, "created")
    _time_field(signed, "expires")
    _text(signed.get("knowledge_as_of"), "knowledge-as-of date", 64)
    embedding = _table(signed.get("embedding"), "embedding")
    _text(embedding.get("id"), "embedding id", 200)
    if not re.fullmatch(r"[0-9a-f]{64}", _text(embedding.get("sha256"), "embedding sha256", 64)):
        raise PackRejected("the manifest's embedding sha256 is malformed")
    _integer(embedding.get("dimension"), "embedding dimension", 1, 65536)
    files = signed.get("files")
    if not isinstance(files, list):
        raise PackRejected("the manifest's file list is not a list")
    seen: set[str] = set()
    for entry in files:
        entry = _table(entry, "file entry")
        path = _text(entry.get("path"), "file path", 1000)
        if not safe_relative_path(path) or path == MANIFEST_NAME:
            raise PackRejected(f"the manifest lists an unsafe path '{path}'")
        if path in seen:
            raise PackRejected(f"the manifest lists '{path}' twice")
        _integer(entry.get("length"), f"length of '{path}'")
        sha256 = _text(entry.get("sha256"), f"sha256 of '{path}'", 64)
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise PackRejected(f"the manifest entry for '{path}' is malformed")
        seen.add(path)
    if "shard_schema" in signed:
        names = signed["shard_schema"]
        if not isinstance(names, list) or len(names) > 1000:
            raise PackRejected("the manifest's shard schema is not a list")
        for name in names:
            _text(name, "shard schema entry", 200)
    if "evaluation" in signed:
        _evaluation(signed["evaluation"])
    for name, audience in _table(signed.get("audiences"), "audience list").items():
        audience = _table(audience, f"audience '{name}'") if _SAFE_PART.match(name) else None
        if audience is None or audience.get("shard") not in seen:
            raise PackRejected(f"audience '{name}' has no shard file in the manifest")
        for count in ("documents", "chunks"):
            _integer(audience.get(count, 0), f"{count} count of audience '{name}'")
    return Manifest(signed)
