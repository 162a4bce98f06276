"""Model catalog (`catalog.toml`) and setup-time model tooling (fetch, convert, verify)."""

from pathlib import Path

CATALOG_PATH = Path(__file__).with_name("catalog.toml")
