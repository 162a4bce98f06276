"""Wires the engine to the Qt window. The only module that knows both sides."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from desktop.engine.access import AccessDenied, KnowledgeAccess
from desktop.engine.chat import ChatService, Turn
from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError, KeyringUnavailable
from desktop.engine.core.settings import AppSettings, load_settings, save_settings
from desktop.engine.packs import grants, install
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.embedder import Embedder
from desktop.engine.runtime.model_manager import ModelManager, ModelSettings
from desktop.engine.storage.conversations import Conversation, ConversationStore, Message
from desktop.engine.storage.history import open_history
from desktop.ui.backend import ModelStatus

NO_DISPLAY = """\
enclave: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open.
  -> On a desktop, start Enclave from your session. On a server, use the terminal commands:
       enclave ask "your question"     enclave doctor     enclave --help
     or run the window off-screen for tests: QT_QPA_PLATFORM=offscreen enclave
"""


def display_available() -> bool:
    if sys.platform != "linux":
        return True
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class ChatSession:
    """The engine side of one window (implements `desktop.ui.backend.ChatBackend`).

    Two history connections, one per thread: `store` for the GUI thread (list, search, rename,
    feedback) and `worker_store` for the engine thread, where `ChatService` writes each turn.
    """

    def __init__(self) -> None:
        self.catalog = Catalog.load()
        self.manager = ModelManager()
        self.app_settings, self.settings_note = load_settings()
        self.store: ConversationStore | None = None
        self.worker_store: ConversationStore | None = None
        self.store_problem: EngineError | None = None
        try:
            self.store = open_history()
            self.worker_store = open_history()
        except EngineError as exc:  # no trusted keyring: answer, but refuse to store
            self.store_problem = exc
        self.service = ChatService(
            self.manager, self.worker_store, temperature=self.app_settings.temperature
        )
        self.embedder: Embedder | None = None
        self.access: KnowledgeAccess | None = None
        self.knowledge_problems: list[EngineError] = []

    # -- engine thread -----------------------------------------------------------------------
    def load_model(self) -> ModelStatus:
        s = self.app_settings
        entry = self.catalog.get(s.chat_model) if s.chat_model else self.catalog.default("chat")
        info = self.manager.load(
            entry,
            ModelSettings(
                n_ctx=s.n_ctx,
                n_threads=s.n_threads or None,
                n_gpu_layers=None if s.n_gpu_layers < 0 else s.n_gpu_layers,
            ),
        )
        self._open_knowledge()
        return ModelStatus(
            model_id=entry.id,
            device="GPU" if info.n_gpu_layers else "CPU",
            threads=info.threads.n_threads,
            n_ctx=info.n_ctx,
        )

    def _open_knowledge(self) -> None:
        """Open the packs this profile may read (on the engine thread, after the model)."""
        if self.access is not None or not (paths.data_dir() / "state.db").exists():
            return
        try:
            self.embedder = Embedder(self.catalog.default("embedding"))
            self.access = KnowledgeAccess(self.embedder)
        except EngineError as exc:
            self.knowledge_problems.append(exc)
            return
        self.knowledge_problems += self.access.problems
        self.service.sources = self.access.sources_for(self.app_settings.sources_per_answer)

    def ask(self, conversation_id: int | None, question: str) -> Turn:
        return self.service.ask(conversation_id, question)

    # -- GUI thread ----------------------------------------------------------------------------
    @property
    def history_enabled(self) -> bool:
        return self.store is not None

    def cancel(self) -> None:
        self.manager.cancel_current()

    def conversations(self) -> list[Conversation]:
        return self.store.conversations() if self.store else []

    def create_conversation(self, title: str) -> int | None:
        return self.store.create_conversation(title).id if self.store else None

    def messages(self, conversation_id: int) -> list[Message]:
        return self.store.messages(conversation_id) if self.store else []

    def rename(self, conversation_id: int, title: str) -> None:
        self._require_store().rename(conversation_id, title)

    def delete(self, conversation_id: int) -> None:
        self._require_store().delete(conversation_id)

    def search(self, query: str) -> list[Message]:
        return self.store.search(query) if self.store else []

    def set_feedback(self, message_id: int, vote: int, comment: str) -> None:
        self._require_store().set_feedback(message_id, vote, comment)

    def knowledge_as_of(self) -> str | None:
        return self.access.knowledge_as_of() if self.access else None

    def readable_packs(self) -> int:
        return sum(1 for p in self.access.packs if p.readable) if self.access else 0

    def original_of(self, citation: dict[str, Any]) -> Path | None:
        return None  # packs carry passages, not the original files

    def document_of(self, citation: dict[str, Any]) -> dict[str, Any] | None:
        if self.access is None:
            raise AccessDenied()
        return self.access.open_document(citation)

    def resolve_citations(self, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        resolved = []
        for citation in citations:
            try:
                if self.access is None:
                    raise AccessDenied()
                resolved.append(self.access.open_citation(citation))
            except AccessDenied as exc:
                resolved.append(
                    {
                        "n": citation.get("n", 0),
                        "title": "Source not available",
                        "heading": "",
                        "location": "",
                        "text": exc.message,
                        "pack": citation.get("pack", ""),
                        "audience": citation.get("audience", ""),
                        "as_of": "",
                    }
                )
        return resolved

    def models(self) -> list[dict[str, Any]]:
        return [
            {
                "id": e.id,
                "role": e.role,
                "license": e.license,
                "description": e.description,
                "provisioned": e.path.exists(),
            }
            for e in self.catalog
        ]

    def settings(self) -> AppSettings:
        return self.app_settings

    def save_settings(self, settings: AppSettings) -> None:
        provisioned = [m["id"] for m in self.models() if m["role"] == "chat" and m["provisioned"]]
        save_settings(settings.checked(provisioned))
        self.app_settings = settings
        self.service.temperature = settings.temperature

    def _require_store(self) -> ConversationStore:
        if self.store is None:
            raise self.store_problem or KeyringUnavailable("History is off.")
        return self.store

    def close(self) -> None:
        self.manager.close()
        if self.access is not None:
            self.access.close()
        if self.embedder is not None:
            self.embedder.close()
        for store in (self.store, self.worker_store):
            if store is not None:
                store.close()


class PackManager:
    """The pack engine as the pack manager and enrolment screens see it (`PackManagerModel`)."""

    def list_packs(self) -> list[dict[str, Any]]:
        grants = install.installed_grants()
        broken: list[install.BrokenPack] = []
        rows = []
        for pack in install.active_packs(broken):
            manifest = pack.manifest
            readable = sorted(
                {
                    audience
                    for g in grants
                    if g.pack_id == manifest.pack_id and g.pack_version == manifest.version
                    for audience in g.audience_keys
                }
                & set(manifest.audiences)
            )
            rows.append(
                {
                    "name": manifest.pack_id,
                    "title": manifest.title,
                    "version": str(manifest.version),
                    "as_of": manifest.knowledge_as_of,
                    "signature": "valid",
                    "signer": "trusted administrator key",
                    "audiences": readable,
                    "expires": manifest.raw["expires"][:10],
                    "expiry": pack.expiry,
                    "license": str(manifest.raw.get("license", "")),
                    "documents": sum(int(a["documents"]) for a in manifest.audiences.values()),
                }
            )
        for bad in broken:
            rows.append(
                {
                    "name": bad.pack_id,
                    "title": bad.pack_id,
                    "version": str(bad.version),
                    "as_of": "",
                    "signature": "invalid",
                    "signer": bad.error.reason,
                    "audiences": [],
                    "expires": "",
                    "license": "",
                    "documents": 0,
                }
            )
        return rows

    def install_from_file(self, path: Path) -> dict[str, Any]:
        installed = install.install(path)  # raises PackRejected with what to do
        manifest = installed.manifest
        return {
            "ok": True,
            "name": manifest.pack_id,
            "version": str(manifest.version),
            "checks": [
                ("Signature by a trusted administrator key", True, ""),
                ("File lengths and hashes", True, f"{len(manifest.files)} files"),
                ("Version is not older than one seen before", True, f"v{manifest.version}"),
                ("Not expired", installed.expiry != "expired", manifest.raw["expires"][:10]),
            ],
        }

    def remove(self, name: str) -> None:
        from desktop.engine.packs.local_state import LocalState

        state = LocalState.open()
        try:
            state.remove(name)
        finally:
            state.close()

    def enrolment_request(self) -> str:
        return grants.dumps(grants.enrolment_request())

    def import_grant(self, path: Path) -> str:
        grant = install.import_grant(path)
        return (
            f"Grant accepted: {grant.pack_id} v{grant.pack_version}, roles "
            f"{', '.join(grant.roles)}; audiences {', '.join(sorted(grant.audience_keys))}. "
            "Restart Enclave to use it."
        )

    def enrolled(self) -> dict[str, Any] | None:
        found = install.installed_grants()
        if not found:
            return None
        latest = max(found, key=lambda g: (g.pack_version, g.expires))
        return {
            "user": latest.user,
            "roles": list(latest.roles),
            "granted_by": "administrator",
            "expires": latest.expires.date().isoformat(),
        }


def build_window(session: ChatSession) -> Any:
    from desktop.ui.main_window import MainWindow

    window = MainWindow(session, packs=PackManager())
    if session.store_problem is not None:
        window.show_notice(session.store_problem, "History is off: nothing will be saved.")
    if session.settings_note:
        window.chat.add_notice(session.settings_note, kind="warning")
    return window


def run_gui() -> int:
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from desktop.ui.theme import apply_theme, prepare_hidpi

    prepare_hidpi()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Enclave")
    apply_theme(app)  # type: ignore[arg-type]
    session = ChatSession()
    window = build_window(session)
    window.show()
    window.start_loading()
    code = app.exec()
    window.shutdown()
    session.close()
    return int(code)
