"""Errors the user can act on.

Every known environment problem is an `EngineError` subclass carrying a message for the user and what
to do about it. The UI and CLI show them inline; anything else is a bug and is re-raised.
"""

from __future__ import annotations

from pathlib import Path

from desktop.engine.core.exit_codes import ExitCode


class EngineError(Exception):
    """A problem the user can understand and fix; `hint` says how."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message


class ModelMissing(EngineError):
    """A catalog model is not on disk yet."""

    exit_code = ExitCode.MODEL_MISSING

    def __init__(self, model_id: str, path: Path) -> None:
        super().__init__(
            f"Model '{model_id}' is not installed (expected at {path}).",
            "Run the setup again (bash installer/setup.sh app) or `enclave models fetch`.",
        )
        self.model_id = model_id
        self.path = path


class ModelInvalid(EngineError):
    """A model file exists but is not what the catalog promises (truncated, wrong hash, not GGUF)."""

    exit_code = ExitCode.MODEL_INVALID

    def __init__(self, model_id: str, path: Path, reason: str) -> None:
        super().__init__(
            f"Model '{model_id}' at {path} is unusable: {reason}.",
            "Delete the file and run `enclave models fetch`, or re-add it with `enclave models add`.",
        )
        self.model_id = model_id
        self.path = path
        self.reason = reason


class UnknownModel(EngineError):
    exit_code = ExitCode.USAGE

    def __init__(self, model_id: str, known: list[str]) -> None:
        super().__init__(
            f"No model '{model_id}' in the catalog.",
            f"Known models: {', '.join(known) or 'none'}. See `enclave models list`.",
        )


class CatalogError(EngineError):
    exit_code = ExitCode.USAGE


class InvalidInput(EngineError):
    """The user's message cannot be sent as it is (empty, too long for the window...)."""

    exit_code = ExitCode.USAGE


class ContextTooLong(InvalidInput):
    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"The message needs {needed} tokens but only {available} fit in the model's window.",
            "Shorten the message, or choose a model with a larger context in settings.",
        )
        self.needed = needed
        self.available = available


class ModelLoadFailed(EngineError):
    exit_code = ExitCode.MODEL_INVALID


class Cancelled(EngineError):
    """A generation was stopped by the user or superseded by a newer request."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self) -> None:
        super().__init__("Generation stopped.")


class KeyringUnavailable(EngineError):
    exit_code = ExitCode.KEYRING


class StorageError(EngineError):
    """A local database or file cannot be read or written; `storage.encrypted_db` sorts SQLite's."""

    exit_code = ExitCode.STORAGE


class DiskFull(StorageError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"The disk holding {path} is full; nothing was written.",
            "Free some space and try again: your earlier messages are safe.",
        )
        self.path = path


class StorageBusy(StorageError):
    """Another connection holds the database's lock (SQLITE_BUSY / SQLITE_LOCKED) past the timeout."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path.name} is busy: another program, perhaps another Enclave window, is writing it.",
            "Close other Enclave windows and try again; nothing was lost.",
        )
        self.path = path


class NotEnclaveDatabase(StorageError):
    """SQLCipher cannot decrypt the file (SQLITE_NOTADB): the key is wrong, or the file is not ours.

    SQLCipher cannot tell the two apart by design: a wrong key and random bytes look the same.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} cannot be opened with the key in your keyring (wrong key, or not an Enclave "
            "database).",
            "If you lost your keyring entry, ask your administrator to recover the history key; "
            "for a pack, reinstall it with `enclave packs install`. The file was not changed.",
        )
        self.path = path


class DatabaseDamaged(StorageError):
    """The file decrypts but its pages are inconsistent (SQLITE_CORRUPT): truncated or overwritten."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} is damaged (part of it is missing or overwritten).",
            "Restore it from a backup, or move it aside to start afresh; for a pack, reinstall it "
            "with `enclave packs install`.",
        )
        self.path = path
