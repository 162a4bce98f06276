"""Entry point of the frozen desktop bundle (PyInstaller): the window with no arguments, the CLI
otherwise, exactly as `python -m desktop`.

A frozen app has no `python` to run `python -c CODE`, which the document parser's worker process
uses (`knowledge/parse_worker.py` starts `sys.executable -c CODE BUDGET`). Here `sys.executable`
is the bundle itself, so `enclave -c CODE ...` runs CODE as `python -c` would.
"""

import sys

if len(sys.argv) >= 3 and sys.argv[1] == "-c" and getattr(sys, "frozen", False):
    code = sys.argv[2]
    sys.argv = ["-c", *sys.argv[3:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    sys.exit(0)

from desktop.cli import main

sys.exit(main())
