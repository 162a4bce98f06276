"""Writer process for the kill -9 test: appends audit records, printing each number once
acknowledged (`append` returned after its FULL-synchronous commit). Two of them may run at once."""

import sys
from pathlib import Path

from desktop.engine.audit.store import AuditStore

path, key_hex, tag = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = AuditStore(path, bytes.fromhex(key_hex))
print("ready", flush=True)
for n in range(100_000):
    stored = store.append({"kind": "answer", "writer": tag, "n": n, "pad": "x" * (n % 900)})
    print(stored.position, flush=True)
