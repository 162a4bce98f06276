"""The encrypted conversation store: private at rest, durable, searchable, deletable, exportable."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.engine.core.errors import DiskFull, InvalidInput, KeyringUnavailable, StorageError
from desktop.engine.storage import history, secrets
from desktop.engine.storage.conversations import ConversationStore
from desktop.engine.storage.encrypted_db import open_database

ROOT = Path(__file__).resolve().parents[1]
CANARY = "CANARY-7f3a-confidential-salary-figures"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    s = ConversationStore(tmp_path / "h.db", os.urandom(32))
    yield s
    s.close()


def test_no_plaintext_on_disk(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "h.db", os.urandom(32))
    conversation = store.create_conversation(f"Title {CANARY}")
    for _ in range(20):
        store.add_message(conversation.id, "user", f"{CANARY} what is the budget?")
    files = list(tmp_path.iterdir())
    assert {f.name for f in files} >= {"h.db", "h.db-wal"}
    for file in files:
        data = file.read_bytes()
        assert CANARY.encode() not in data and b"budget" not in data, file.name
        assert b"SQLite format 3" not in data[:16]
    store.close()


def test_wrong_key_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = ConversationStore(path, os.urandom(32))
    store.add_message(store.create_conversation().id, "user", "keep me")
    store.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="cannot be opened"):
        ConversationStore(path, os.urandom(32))
    assert path.read_bytes() == before


def test_round_trip_search_rename_feedback_export(store: ConversationStore) -> None:
    chat = store.create_conversation("Leave")
    store.add_message(chat.id, "user", "How many días of leave do I get?")
    answer = store.add_message(
        chat.id,
        "assistant",
        "You get 26 days [1].",
        model_id="smollm2",
        model_sha256="ab",
        pack_versions={"handbook": 3},
        citations=[{"title": "Leave policy", "chunk": 12}],
        metrics={"tokens_per_second": 90.0},
    )
    store.rename(chat.id, "  Annual   leave ")
    store.set_feedback(answer, 1, "helpful")
    messages = store.messages(chat.id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].citations[0]["chunk"] == 12 and messages[1].pack_versions == {"handbook": 3}
    assert messages[1].feedback == 1 and messages[1].feedback_comment == "helpful"
    assert store.get_conversation(chat.id).title == "Annual leave"
    assert [m.id for m in store.search("dias")] == [messages[0].id]  # diacritics-insensitive
    assert store.search("LEAVE")[0].conversation_id == chat.id
    assert store.search('"; DROP TABLE messages; --') == []
    markdown = store.export_markdown(chat.id)
    assert "# Annual leave" in markdown and "[1] Leave policy" in markdown and "(AI)" in markdown
    exported = json.loads(store.export_json(chat.id))
    assert exported["messages"][1]["metrics"]["tokens_per_second"] == 90.0


def test_delete_is_real(store: ConversationStore) -> None:
    chat = store.create_conversation()
    store.add_message(chat.id, "user", "secret plan zebra")
    keep = store.create_conversation()
    store.add_message(keep.id, "user", "zebra crossing")
    store.delete(chat.id)
    assert [c.id for c in store.conversations()] == [keep.id]
    assert [m.conversation_id for m in store.search("zebra")] == [keep.id]
    assert store.db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    with pytest.raises(StorageError, match="does not exist"):
        store.get_conversation(chat.id)


@pytest.mark.parametrize(
    ("text", "error"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 1_000_000, "limit")],
)
def test_bad_messages_are_refused(store: ConversationStore, text: str, error: str) -> None:
    chat = store.create_conversation()
    with pytest.raises(InvalidInput, match=error):
        store.add_message(chat.id, "user", text)
    assert store.messages(chat.id) == []


def test_control_chars_and_lone_surrogates_are_cleaned(store: ConversationStore) -> None:
    chat = store.create_conversation()
    store.add_message(chat.id, "user", "bell\x07 and \x00nul and \udc80 lone")
    assert store.messages(chat.id)[0].text == "bell and nul and \ufffd lone"


def test_disk_full_loses_nothing_and_recovers(store: ConversationStore) -> None:
    chat = store.create_conversation()
    first = store.add_message(chat.id, "user", "acknowledged before the disk filled")
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DiskFull, match="full"):
        store.add_message(chat.id, "user", "y" * 90_000)
    assert [m.id for m in store.messages(chat.id)] == [first]
    store.db.execute("PRAGMA max_page_count = 1073741823")
    store.add_message(chat.id, "user", "after space was freed")
    assert len(store.messages(chat.id)) == 2


def test_migrations_are_named_and_run_once(tmp_path: Path) -> None:
    key = os.urandom(32)
    ConversationStore(tmp_path / "h.db", key).close()
    store = ConversationStore(tmp_path / "h.db", key)
    names = [
        r[0] for r in store.db.execute("SELECT name FROM _sqlite_migrations ORDER BY id").fetchall()
    ]
    assert names == [
        "m001_initial",
        "m002_fulltext",
        "m003_versions_and_pins",
        "m004_turn_parents",
    ]
    store.close()


@pytest.mark.slow
def test_sigkill_never_loses_acknowledged_messages(tmp_path: Path) -> None:
    """Kill a writer at random points 50 times; every acknowledged message must survive."""
    path, key = tmp_path / "crash.db", os.urandom(32)
    rng = random.Random(1234)
    acknowledged: set[int] = set()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    next_n = 0
    for _ in range(50):
        writer = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/helpers/crash_writer.py"),
                str(path),
                key.hex(),
                str(next_n),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        acked = [int(line) for line in out.split() if line.isdigit()]
        acknowledged.update(acked)
        next_n = (max(acked) + 1 if acked else next_n) + 1000
        db = open_database(path, key)
        problems = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        problems += [r[0] for r in db.execute("PRAGMA cipher_integrity_check").fetchall()]
        assert problems == []
        stored = {int(r[0].split()[1]) for r in db.execute("SELECT text FROM messages").fetchall()}
        missing = acknowledged - stored
        assert not missing, f"lost acknowledged messages: {sorted(missing)[:5]}"
        db.conn.close()
    assert len(acknowledged) > 50


# -- keys ------------------------------------------------------------------------------------


def test_history_refuses_without_a_trusted_keyring(monkeypatch) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setattr("keyring.backend.get_all_keyring", lambda: [fail.Keyring()])
    try:
        with pytest.raises(KeyringUnavailable, match="No secure OS keyring") as info:
            history.open_history()
        assert "ENCLAVE_KEYRING=cryptfile" in info.value.hint
        assert not history.history_path().exists()
    finally:
        keyring.set_keyring(previous)


def test_plaintext_backends_are_never_trusted() -> None:
    assert not any(
        "Plaintext" in name or "fail" in name or "null" in name for name in secrets.TRUSTED_BACKENDS
    )


def test_history_with_memory_keyring_and_recovery(memory_keyring, monkeypatch, tmp_path) -> None:
    pub, private = history.generate_recovery_keypair(tmp_path / "admin")
    config = Path(os.environ["ENCLAVE_CONFIG_DIR"])
    config.mkdir(parents=True)
    (config / "recovery.pub").write_text(pub.read_text())
    store = history.open_history()
    store.add_message(store.create_conversation().id, "user", "remember me")
    store.close()
    assert history.sealed_key_path().exists()
    memory_keyring.store.clear()  # the keyring entry is lost
    with pytest.raises(KeyringUnavailable, match="key is missing"):
        history.open_history()
    history.recover_key(private)
    store = history.open_history()
    assert store.messages(store.conversations()[0].id)[0].text == "remember me"
    store.close()


def test_cryptfile_keyring_needs_and_uses_a_passphrase(monkeypatch) -> None:
    monkeypatch.setenv("ENCLAVE_KEYRING", "cryptfile")
    with pytest.raises(KeyringUnavailable, match="no passphrase"):
        secrets.backend()
    monkeypatch.setenv("ENCLAVE_KEYRING_PASSPHRASE", "correct horse battery staple")
    key, created = secrets.get_or_create_key("test-key")
    assert created and secrets.get_or_create_key("test-key") == (key, False)
    assert secrets.describe_backend()["backend"].endswith("CryptFileKeyring")
    assert secrets.backend() is secrets.backend()  # the passphrase is checked once a process
    opened = secrets.backend()

    def no_second_read(service: str, name: str) -> str:
        raise AssertionError("a value this process read is not decrypted again")

    with monkeypatch.context() as patched:
        patched.setattr(opened, "get_password", no_second_read)
        assert secrets.get_secret("test-key") == key  # each read of the file is an Argon2 run
    keyring_file = Path(os.environ["ENCLAVE_DATA_DIR"]) / "keyring.cfg"
    assert key.hex() not in keyring_file.read_text()
    monkeypatch.setenv("ENCLAVE_KEYRING_PASSPHRASE", "wrong passphrase")
    with pytest.raises(KeyringUnavailable):
        secrets.get_secret("test-key")
