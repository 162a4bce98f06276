"""Conversation history: encrypted, durable, searchable, really deletable, exportable.

A `ConversationStore` is one SQLCipher database (an `EncryptedStore`). One store per thread: open
another for another thread. A message is acknowledged when `add_message` returns: it is committed
with `synchronous=FULL` in WAL mode, so a crash or power cut after that cannot lose it.

A turn (a question and its answer) can have versions: regenerating or editing a question records a
new question and answer as a version of the same turn (`version_of`: the turn's first question).
Each question also records the question it was asked after (`parent`), so the conversation is a
tree: regenerating an earlier turn branches, and the later turns stay with the version they were
asked under (docs/conversation-versions.md). The current path through the tree is the messages
not `superseded`, in id order (a question is always newer than its parent). `messages` returns
that path (what the model sees as the conversation, what export and search use);
`messages(..., all_versions=True)` returns every message, for the window's < 1/2 > browsing.
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


@migrations()
def m003_versions_and_pins(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE messages ADD COLUMN version_of INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")


@migrations()
def m004_turn_parents(db: sqlite_utils.Database) -> None:
    """Each question records `parent`: the question (the version of the previous turn) it was
    asked after, so regenerating or editing an earlier turn branches (docs/conversation-versions.md).
    Before this only the last turn had versions: each conversation is one line of turns, each
    asked after the previous turn's current version."""
    db.execute("ALTER TABLE messages ADD COLUMN parent INTEGER")
    rows = db.execute(
        "SELECT id, conversation_id, version_of, superseded FROM messages "
        "WHERE role = 'user' ORDER BY conversation_id, id"
    ).fetchall()
    turns: dict[int, dict[int, list[tuple[int, bool]]]] = {}
    for message_id, conversation_id, version_of, superseded in rows:
        chat = turns.setdefault(conversation_id, {})
        chat.setdefault(version_of or message_id, []).append((message_id, bool(superseded)))
    for chat in turns.values():
        previous: int | None = None
        for turn in sorted(chat):
            versions = chat[turn]
            for message_id, _ in versions:
                db.execute("UPDATE messages SET parent = ? WHERE id = ?", [previous, message_id])
            current = [m for m, superseded in versions if not superseded]
            previous = current[-1] if current else versions[-1][0]


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    pinned: bool = False


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
    version_of: int | None = None  # a question: the first question of its turn (None: it is)
    superseded: bool = False  # not on the conversation's current path (another version's)
    parent: int | None = None  # a question: the question it was asked after (None: the first)

    @property
    def turn(self) -> int:
        """A question's turn: the id of the turn's first question."""
        return self.version_of or self.id


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
        version_of=row.get("version_of"),
        superseded=bool(row.get("superseded")),
        parent=row.get("parent"),
    )


_CONVERSATION = "SELECT id, title, created, updated, pinned FROM conversations"


def _conversation(row: Any) -> Conversation:
    return Conversation(row[0], row[1], row[2], row[3], bool(row[4]))


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
        """Pinned first, then the most recently updated."""
        rows = self.db.execute(
            f"{_CONVERSATION} ORDER BY pinned DESC, updated DESC, id DESC"
        ).fetchall()
        return [_conversation(row) for row in rows]

    def get_conversation(self, conversation_id: int) -> Conversation:
        row = self.db.execute(f"{_CONVERSATION} WHERE id = ?", [conversation_id]).fetchone()
        if row is None:
            raise StorageError(f"Conversation {conversation_id} does not exist (deleted?).")
        return _conversation(row)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.get_conversation(conversation_id)
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "UPDATE conversations SET pinned = ? WHERE id = ?", [int(pinned), conversation_id]
            )

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
            parent = None
            if role == "user":  # asked after the current path's last question
                parent = self.db.execute(
                    "SELECT MAX(id) FROM messages WHERE conversation_id = ? AND role = 'user' "
                    "AND superseded = 0",
                    [conversation_id],
                ).fetchone()[0]
            cursor = self.db.execute(
                "INSERT INTO messages (conversation_id, role, text, created, model_id, "
                "model_sha256, pack_versions, citations, metrics, parent) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
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
                    parent,
                ],
            )
            self.db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", [now, conversation_id]
            )
        return int(cursor.lastrowid or 0)

    def messages(self, conversation_id: int, *, all_versions: bool = False) -> list[Message]:
        """The conversation in order: its current versions, or with `all_versions` every one."""
        current = "" if all_versions else " AND superseded = 0"
        rows = self.db.query(
            f"SELECT * FROM messages WHERE conversation_id = ?{current} ORDER BY id",
            [conversation_id],
        )
        return [_message(row) for row in rows]

    # -- versions of a turn ----------------------------------------------------------------------
    def _question(self, question_id: int) -> Message:
        rows = list(self.db.query("SELECT * FROM messages WHERE id = ?", [question_id]))
        if not rows or rows[0]["role"] != "user":
            raise InvalidInput(f"Message {question_id} is not a question in your history.")
        return _message(rows[0])

    def _version_ids(self, question: Message) -> list[int]:
        """The question and its answer: the messages after it up to the next question."""
        following = self.db.execute(
            "SELECT id, role FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id",
            [question.conversation_id, question.id],
        ).fetchall()
        ids = [question.id]
        for message_id, role in following:
            if role == "user":
                break
            ids.append(message_id)
        return ids

    def hide_version(self, question_id: int) -> int:
        """Set a question aside before it is asked again (regenerate or edit): it, its answer and
        the turns after it on the current path leave the conversation, so the model sees only the
        turns before it; returns the turn id."""
        question = self._question(question_id)
        ids = self._version_ids(question)
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                f"UPDATE messages SET superseded = 1 WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            )
            if not question.superseded:  # the later turns were asked under this version
                self.db.execute(
                    "UPDATE messages SET superseded = 1 WHERE conversation_id = ? AND id > ?",
                    [question.conversation_id, question.id],
                )
        return question.turn

    def add_version(self, question_id: int, turn: int) -> None:
        """Record the just-asked `question_id` (and its answer) as the current version of `turn`."""
        question = self._question(question_id)
        first = self._question(turn)
        if first.conversation_id != question.conversation_id or first.turn != turn:
            raise InvalidInput(f"Message {turn} does not start a turn of this conversation.")
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(  # the versions of a turn are asked after the same question
                "UPDATE messages SET version_of = ?, parent = ? WHERE id = ?",
                [turn, first.parent, question_id],
            )
        self.select_version(question_id)

    def select_version(self, question_id: int) -> None:
        """Make `question_id`'s version the current one of its turn: the current path becomes
        the questions it was asked after, it, then the turns asked under it (at each later turn
        its newest answered version)."""
        question = self._question(question_id)
        rows = self.db.execute(
            "SELECT id, role, parent FROM messages WHERE conversation_id = ? ORDER BY id",
            [question.conversation_id],
        ).fetchall()
        shown = current_path(rows, question_id)
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "UPDATE messages SET superseded = 1 WHERE conversation_id = ?",
                [question.conversation_id],
            )
            for start in range(0, len(shown), 500):
                part = shown[start : start + 500]
                self.db.execute(
                    f"UPDATE messages SET superseded = 0 WHERE id IN ({','.join('?' * len(part))})",
                    part,
                )

    def set_feedback(self, message_id: int, vote: int, comment: str = "") -> None:
        if vote not in (-1, 0, 1):
            raise InvalidInput("Feedback is -1, 0 or 1.")
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "UPDATE messages SET feedback = ?, feedback_comment = ? WHERE id = ?",
                [vote, comment.strip() or None, message_id],
            )

    def search(self, query: str, limit: int = 20) -> list[Message]:
        """Current messages matching every word of `query` (full-text, diacritics-insensitive)."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if not words:
            return []
        match = " ".join(f'"{w}"' for w in words)
        rows = self.db.query(
            "SELECT m.* FROM messages_fts f JOIN messages m ON m.id = f.rowid "
            "WHERE messages_fts MATCH ? AND m.superseded = 0 ORDER BY rank LIMIT ?",
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
            lines += [f"## {who} ({stamp})", ""]
            quotes = [q for q in message.metrics.get("evidence", []) if isinstance(q, str)]
            if quotes:  # shown above the answer, so exported with it
                lines += ["*From your documents:*", "", *quotes, ""]
            lines += [message.text, ""]
            for number, citation in enumerate(message.citations, 1):  # a list: one line each
                lines.append(f"- [{number}] {describe(citation)}")
            if message.citations:
                lines.append("")
            if message.role == "assistant" and message.model_id:
                lines += [f"*Generated by {message.model_id} (AI).*", ""]
        return "\n".join(lines).rstrip() + "\n"


Describe = Callable[[Any], str]


def current_path(rows: list[tuple[int, str, int | None]], question_id: int) -> list[int]:
    """The ids shown when `question_id` is the current version of its turn, from a conversation's
    (id, role, parent) rows in id order: the questions it was asked after, it, then below it at
    each later turn the newest answered version; each question with its answers; anything before
    the first question too."""
    parent_of: dict[int, int | None] = {}
    answers: dict[int, list[int]] = {}
    children: dict[int, list[int]] = {}
    asked: int | None = None
    shown: list[int] = []
    for message_id, role, parent in rows:
        if role == "user":
            asked = message_id
            parent_of[message_id] = parent
            answers[message_id] = []
            if parent is not None:
                children.setdefault(parent, []).append(message_id)
        elif asked is not None:
            answers[asked].append(message_id)
        else:
            shown.append(message_id)
    path = [question_id]
    while (parent := parent_of.get(path[0])) is not None and parent < path[0]:
        path.insert(0, parent)
    while below := children.get(path[-1]):
        answered = [c for c in below if answers.get(c)]
        path.append(max(answered or below))
    return shown + [i for q in path for i in (q, *answers.get(q, []))]


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
