"""The layers hold: the engine never imports Qt or the UI, lower layers never import higher ones,
and the app opens no socket.

The contracts live in pyproject.toml ([tool.importlinter]) and are checked by import-linter; the
tests here prove the tool actually catches a wrong-way import, so a contract that silently stopped
matching anything would fail too.
"""

from __future__ import annotations

import ast
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "desktop" / "engine"
FORBIDDEN = ("PySide6", "shiboken6", "desktop.ui", "desktop.app")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contract_name(kind: str) -> str:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (name,) = [c["name"] for c in contracts if c["type"] == kind]
    return str(name)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _engine_modules() -> list[str]:
    """Dotted names of every engine module and package, sub-packages included."""
    modules = []
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on `tree`, whose own `desktop` package shadows the installed one."""
    path = [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        timeout=120,
    )


def test_engine_sources_never_import_qt() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted(ENGINE.rglob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    ]
    assert offenders == []


def test_engine_imports_with_pyside6_absent() -> None:
    """Block PySide6 at import time and import every engine module in a fresh interpreter."""
    modules = _engine_modules()
    assert "desktop.engine.storage.sealing" in modules  # sub-packages are covered
    code = (
        "import sys\n"
        "for name in ('PySide6', 'shiboken6'): sys.modules[name] = None\n"
        f"import importlib\nfor m in {modules!r}: importlib.import_module(m)\n"
        "assert not any(k.startswith('desktop.ui') for k in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_contracts_hold_on_this_tree() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "wrong_import", "contracts"),
    [
        ("core/paths.py", "desktop.ui.main_window", ["forbidden", "layers"]),
        ("storage/sealing.py", "desktop.engine.assistant", ["layers"]),
        ("storage/secrets.py", "desktop.engine.runtime.catalog", ["layers"]),
    ],
    ids=["core-imports-ui", "storage-imports-assistant", "storage-imports-sibling-runtime"],
)
def test_contracts_catch_a_wrong_way_import(
    tmp_path: Path, module: str, wrong_import: str, contracts: list[str]
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(
        ROOT / "desktop", tree / "desktop", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copyfile(ROOT / "pyproject.toml", tree / "pyproject.toml")
    target = tree / "desktop" / "engine" / module
    with target.open("a", encoding="utf-8") as handle:
        handle.write(f"\nimport {wrong_import}  # wrong way\n")

    result = _lint_imports(tree)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    importer = "desktop.engine." + module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {wrong_import}" in output
    for kind in contracts:
        assert f"{_contract_name(kind)} BROKEN" in output


def test_sockets_are_blocked_during_tests() -> None:
    """pytest-socket is active: any attempt to open an internet socket fails loudly."""
    with pytest.raises(Exception, match=r"[Ss]ocket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
