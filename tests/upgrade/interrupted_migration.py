"""Child process for the upgrade tests: open one store with an extra migration, as a newer Enclave.

The extra migration (`m999_from_a_later_release`) wipes the store's main table and adds a column;
with `KILL=1` it then SIGKILLs this process before the migrations' transaction commits (a power cut
or kill -9 in the middle of an upgrade). With `KILL=0` it completes: the store is then one that a
newer Enclave wrote. `STORE` is history, state or audit; keys come from the file keyring
`KEYRING_FILE` (the same "service/name" entries as a fixture's keyring.json).
"""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlite_utils
from helpers.file_keyring import use_file_keyring

from desktop.engine.audit.store import AuditStore, audit_path
from desktop.engine.core import paths
from desktop.engine.packs.local_state import DB_NAME, LocalState
from desktop.engine.storage.conversations import ConversationStore
from desktop.engine.storage.history import history_path

LATER = "m999_from_a_later_release"
STORES = {
    "history": (ConversationStore, history_path, "messages"),
    "state": (LocalState, lambda: paths.data_dir() / DB_NAME, "packs"),
    "audit": (AuditStore, audit_path, "records"),
}

use_file_keyring(Path(os.environ["KEYRING_FILE"]))
store_class, where, table = STORES[os.environ["STORE"]]


@store_class.schema(name=LATER)
def _later(db: sqlite_utils.Database) -> None:
    db.execute(f"DELETE FROM {table}")
    db.execute(f"ALTER TABLE {table} ADD COLUMN from_later TEXT")
    if os.environ["KILL"] == "1":
        os.kill(os.getpid(), signal.SIGKILL)


store_class.open_with_keyring(where()).close()
print("migrated")
