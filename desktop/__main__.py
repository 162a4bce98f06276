"""`python -m desktop` is the single entry point: GUI with no arguments, CLI otherwise."""

import sys

from desktop.cli import main

sys.exit(main())
