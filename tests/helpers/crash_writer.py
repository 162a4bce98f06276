"""Writer process for the crash-safety test: adds messages and prints each id once acknowledged."""

import sys
from pathlib import Path

from desktop.engine.storage.conversations import ConversationStore

path, key_hex, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
store = ConversationStore(path, bytes.fromhex(key_hex))
conversation = (
    store.conversations()[0].id if store.conversations() else store.create_conversation().id
)
print("ready", flush=True)
for n in range(start, start + 100_000):
    store.add_message(conversation, "user", f"message {n} " + "x" * (n % 700))
    print(n, flush=True)  # acknowledged: add_message returned after a FULL-synchronous commit
