"""Child process for the atomic-install test: `enclave packs install PACK`, SIGKILLed at one step.

The steps are every rename, folder deletion and state activation the install makes, before and
after each (`KILL_AT`=0 is just before the first). Each step is logged to `STEP_LOG` before it runs,
so the parent can say where the kill landed. Not killed (KILL_AT past the last step): exit status of
the install.
"""

import os
import shutil
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.file_keyring import use_file_keyring

from desktop.cli import main
from desktop.engine.packs.local_state import LocalState

use_file_keyring(Path(os.environ["KEYRING_FILE"]))
kill_at = int(os.environ["KILL_AT"])
log = Path(os.environ["STEP_LOG"])
events = 0


def _event(name: str) -> None:
    global events
    with log.open("a") as handle:
        handle.write(f"{events} {name}\n")
    if events == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    events += 1


def _watch(owner, attribute: str) -> None:
    real = getattr(owner, attribute)

    def step(*args, **kwargs):
        _event(f"before {attribute}")
        result = real(*args, **kwargs)
        _event(f"after {attribute}")
        return result

    setattr(owner, attribute, step)


_watch(os, "replace")
_watch(shutil, "rmtree")
_watch(LocalState, "activate")
sys.exit(main(["packs", "install", sys.argv[1]]))
