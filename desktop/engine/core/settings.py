"""The user's preferences: which model, how to run it, how to answer. Qt-free, validated, JSON on disk.

`AppSettings` is what the settings dialog edits and what the app reads at start. It is stored as
`settings.json` in the data folder; a missing or damaged file falls back to defaults (the damage is
reported, never fatal). `validate` returns every problem at once, each phrased for the user.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from desktop.engine.core import paths
from desktop.engine.core.errors import InvalidInput

SETTINGS_NAME = "settings.json"

MIN_CONTEXT, MAX_CONTEXT = 512, 131072
MAX_THREADS = 256
MAX_GPU_LAYERS = 1000
MAX_SOURCES = 20


class SettingsInvalid(InvalidInput):
    """Settings that cannot be used; `problems` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(
            "Some settings are not valid: " + "; ".join(problems.values()),
            "Correct the highlighted values, or restore the defaults.",
        )
        self.problems = problems


@dataclass(frozen=True)
class AppSettings:
    """Zero threads and -1 GPU layers mean "choose for this machine" (see `desktop.engine.runtime.hardware`).

    `chat_model` is a catalog id; empty means the catalog's default chat model.
    """

    chat_model: str = ""
    n_threads: int = 0
    n_gpu_layers: int = -1
    n_ctx: int = 4096
    temperature: float = 0.0
    sources_per_answer: int = 4

    def validate(self, provisioned_models: list[str] | None = None) -> dict[str, str]:
        """Field name -> problem, empty when the settings are usable."""
        problems: dict[str, str] = {}
        if (
            provisioned_models is not None
            and self.chat_model
            and self.chat_model not in provisioned_models
        ):
            problems["chat_model"] = (
                f"the model '{self.chat_model}' is not installed on this computer"
            )
        if not 0 <= self.n_threads <= MAX_THREADS:
            problems["n_threads"] = f"threads must be between 0 (automatic) and {MAX_THREADS}"
        if not -1 <= self.n_gpu_layers <= MAX_GPU_LAYERS:
            problems["n_gpu_layers"] = (
                f"GPU layers must be between -1 (automatic), 0 (CPU only) and {MAX_GPU_LAYERS}"
            )
        if not MIN_CONTEXT <= self.n_ctx <= MAX_CONTEXT:
            problems["n_ctx"] = (
                f"context size must be between {MIN_CONTEXT} and {MAX_CONTEXT} tokens"
            )
        if not 0.0 <= self.temperature <= 2.0:
            problems["temperature"] = "temperature must be between 0 and 2"
        if not 1 <= self.sources_per_answer <= MAX_SOURCES:
            problems["sources_per_answer"] = (
                f"sources per answer must be between 1 and {MAX_SOURCES}"
            )
        return problems

    def checked(self, provisioned_models: list[str] | None = None) -> AppSettings:
        problems = self.validate(provisioned_models)
        if problems:
            raise SettingsInvalid(problems)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_dict_of(self, *names: str) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> AppSettings:
        """Known keys with the right types; unknown keys (from a newer version) are ignored."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            expected = type(getattr(cls(), f.name))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or isinstance(value, bool):
                raise SettingsInvalid({f.name: f"'{f.name}' must be a {expected.__name__}"})
            values[f.name] = value
        return replace(cls(), **values)


def settings_path() -> Path:
    return paths.data_dir() / SETTINGS_NAME


def load_settings(path: Path | None = None) -> tuple[AppSettings, str | None]:
    """The saved settings, or the defaults plus a note saying why they could not be read.

    Each setting stands alone: one with the wrong type or out of range (a newer Enclave may have
    changed it) falls back to its default and is named in the note; the others are kept."""
    path = path or settings_path()
    if not path.exists():
        return AppSettings(), None
    try:
        raw = _read_object(path)
    except (OSError, ValueError) as exc:
        return AppSettings(), f"Saved settings in {path} were not usable ({exc}); using defaults."
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for f in fields(AppSettings):
        if f.name not in raw:
            continue
        try:
            values.update(AppSettings.from_dict({f.name: raw[f.name]}).to_dict_of(f.name))
        except SettingsInvalid as exc:
            problems.update(exc.problems)
    loaded = replace(AppSettings(), **values)
    for name, problem in loaded.validate().items():
        problems[name] = problem
        loaded = replace(loaded, **{name: getattr(AppSettings(), name)})
    if not problems:
        return loaded, None
    return (
        loaded,
        f"Some saved settings in {path} were not usable ({'; '.join(problems.values())}); "
        f"using defaults for {', '.join(sorted(problems))}.",
    )


def _read_object(path: Path) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    return raw


def save_settings(settings: AppSettings, path: Path | None = None) -> Path:
    """Validate, then write atomically (a crash never leaves half a file). Keys this version
    does not know (a newer Enclave's) are kept as they were."""
    settings.checked()
    path = path or settings_path()
    paths.ensure_dir(path.parent)
    known = {f.name for f in fields(AppSettings)}
    try:
        kept = {k: v for k, v in _read_object(path).items() if k not in known}
    except (OSError, ValueError):
        kept = {}  # none yet, or unreadable: nothing of a newer version to keep
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**kept, **settings.to_dict()}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
