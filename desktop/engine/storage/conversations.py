"""Conversation history: encrypted, durable, searchable, really deletable, exportable.

A `ConversationStore` is one SQLCipher database (an `EncryptedStore`). One store per thread: open
another for another thread. A message is acknowledged when `add_message` returns: it is committed
with `synchronous=FULL` in WAL mode, so a crash or power cut after that cannot lose it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from desktop.engine.core.errors import InvalidInput, StorageError
from desktop.engine.core.text_input import clean_message
from desktop.engine.storage.encrypted_db import translate_errors
from desktop.engine.storage.stores import EncryptedStore

ROLES = ("user", "assistant", "system")
migrations = Migrations("enclave.conversations")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
            text TEXT NOT NULL,
            created REAL NOT NULL,
            model_id TEXT,
            model_sha256 TEXT,
            pack_versions TEXT NOT NULL DEFAULT '{}',
            citations TEXT NOT NULL DEFAULT '[]',
            metrics TEXT NOT NULL DEFAULT '{}',
            feedback INTEGER CHECK (feedback IN (-1, 0, 1)),
            feedback_comment TEXT
        )"""
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, id)")


@migrations()
def m002_fulltext(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5("
        "text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    db.execute(
        "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN "
        "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END"
    )
    db.execute(
        "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN "
        "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
    )


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: float
    updated: float


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str
    text: str
    created: float
    model_id: str | None
    model_sha256: str | None
    pack_versions: dict[str, Any]
    citations: list[Any]
    metrics: dict[str, Any]
    feedback: int | None
    feedback_comment: str | None


def _message(row: dict[str, Any]) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        text=row["text"],
        created=row["created"],
        model_id=row["model_id"],
        model_sha256=row["model_sha256"],
        pack_versions=json.loads(row["pack_versions"]),
        citations=json.loads(row["citations"]),
        metrics=json.loads(row["metrics"]),
        feedback=row["feedback"],
        feedback_comment=row["feedback_comment"],
    )


class ConversationStore(EncryptedStore):
    schema = migrations
    key_name = "history-db-key"
    what = "Your conversation history"
    recovery_hint = (
        "Ask your administrator to run `enclave history recover --private-key FILE` "
        "with the organisation's recovery key; nothing has been deleted."
    )

    # -- conversations ----------------------------------------------------------------------
    def create_conversation(self, title: str = "New chat") -> Conversation:
        now = time.time()
        title = _clean_title(title)
        with translate_errors(self.path), self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)",
                [title, now, now],
            )
        return Conversation(int(cursor.lastrowid or 0), title, now, now)

    def conversations(self) -> list[Conversation]:
        rows = self.db.execute(
            "SELECT id, title, created, updated FROM conversations ORDER BY updated DESC, id DESC"
        ).fetchall()
        return [Conversation(*row) for row in rows]

    def get_conversation(self, conversation_id: int) -> Conversation:
        row = self.db.execute(
            "SELECT id, title, created, updated FROM conversations WHERE id = ?", [conversation_id]
        ).fetchone()
        if row is None:
            raise StorageError(f"Conversation {conversation_id} does not exist (deleted?).")
        return Conversation(*row)

    def rename(self, conversation_id: int, title: str) -> None:
        self.get_conversation(conversation_id)
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                [_clean_title(title), conversation_id],
            )

    def delete(self, conversation_id: int) -> None:
        """Delete for real: rows overwritten (secure_delete), FTS entries gone, WAL checkpointed."""
        with translate_errors(self.path):
            with self.db.atomic():
                self.db.execute("DELETE FROM messages WHERE conversation_id = ?", [conversation_id])
                self.db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])
            self.db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- messages -----------------------------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        role: str,
        text: str,
        *,
        model_id: str | None = None,
        model_sha256: str | None = None,
        pack_versions: dict[str, Any] | None = None,
        citations: list[Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> int:
        """Store one message; once this returns, the message is durable (acknowledged)."""
        if role not in ROLES:
            raise InvalidInput(f"Unknown message role '{role}'.")
        text = clean_message(text) if role == "user" else text
        now = time.time()
        with translate_errors(self.path), self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO messages (conversation_id, role, text, created, model_id, "
                "model_sha256, pack_versions, citations, metrics) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    conversation_id,
                    role,
                    text,
                    now,
                    model_id,
                    model_sha256,
                    json.dumps(pack_versions or {}),
                    json.dumps(citations or []),
                    json.dumps(metrics or {}),
                ],
            )
            self.db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", [now, conversation_id]
            )
        return int(cursor.lastrowid or 0)

    def messages(self, conversation_id: int) -> list[Message]:
        rows = self.db.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", [conversation_id]
        )
        return [_message(row) for row in rows]

    def set_feedback(self, message_id: int, vote: int, comment: str = "") -> None:
        if vote not in (-1, 0, 1):
            raise InvalidInput("Feedback is -1, 0 or 1.")
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "UPDATE messages SET feedback = ?, feedback_comment = ? WHERE id = ?",
                [vote, comment.strip() or None, message_id],
            )

    def search(self, query: str, limit: int = 20) -> list[Message]:
        """Messages matching every word of `query` (full-text, diacritics-insensitive)."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if not words:
            return []
        match = " ".join(f'"{w}"' for w in words)
        rows = self.db.query(
            "SELECT m.* FROM messages_fts f JOIN messages m ON m.id = f.rowid "
            "WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
            [match, limit],
        )
        return [_message(row) for row in rows]

    # -- export ---------------------------------------------------------------------------------
    def export_json(self, conversation_id: int, describe: Describe | None = None) -> str:
        """The conversation as JSON; with `describe`, each message also lists its sources as
        the access choke point describes them now (history itself keeps references only)."""
        conversation = self.get_conversation(conversation_id)
        messages = []
        for message in self.messages(conversation_id):
            row = dict(message.__dict__)
            if describe is not None:
                row["sources"] = [describe(c) for c in message.citations]
            messages.append(row)
        payload = {"conversation": conversation.__dict__, "messages": messages}
        return json.dumps(payload, ensure_ascii=False, indent=2)

    def export_markdown(self, conversation_id: int, describe: Describe | None = None) -> str:
        """The conversation as Markdown; sources described by `describe` (see `export_json`)."""
        describe = describe or _describe_citation
        conversation = self.get_conversation(conversation_id)
        lines = [f"# {conversation.title}", ""]
        for message in self.messages(conversation_id):
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(message.created))
            who = {"user": "You", "assistant": "Enclave", "system": "System"}[message.role]
            lines += [f"## {who} ({stamp})", "", message.text, ""]
            for number, citation in enumerate(message.citations, 1):
                lines.append(f"[{number}] {describe(citation)}")
            if message.role == "assistant" and message.model_id:
                lines += [f"_Generated by {message.model_id} (AI)._", ""]
        return "\n".join(lines).rstrip() + "\n"


Describe = Callable[[Any], str]


def _describe_citation(citation: Any) -> str:
    if not isinstance(citation, dict):
        return str(citation)
    if "title" in citation:
        return str(citation["title"])
    return (
        f"{citation.get('pack', '?')} v{citation.get('pack_version', '?')}, "
        f"{citation.get('audience', '?')}, passage {citation.get('chunk_id', '?')}"
    )


def _clean_title(title: str) -> str:
    title = " ".join(title.split())[:200]
    return title or "New chat"
