"""One exit-code table: every code documented where users look, every known error mapped to one, and
a bug reported as a bug (one line, a crash report with the traceback, exit code 1)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import stat
from pathlib import Path

import pytest

import desktop
import desktop.cli
import models
from desktop.cli import main
from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import MEANINGS, ExitCode, table

ROOT = Path(__file__).resolve().parents[1]
BUG_LINE = "enclave: internal error (a bug in Enclave, not something you did): RuntimeError: "


def _lists_every_code(text: str) -> list[str]:
    """Codes missing from `text`, which must have a line `<code>  <meaning>` for each."""
    return [
        f"{int(code)} {MEANINGS[code]}"
        for code in ExitCode
        if not re.search(rf"^\s*{int(code)}\s+{re.escape(MEANINGS[code])}\s*$", text, re.M)
    ]


def test_every_code_has_a_meaning() -> None:
    assert set(MEANINGS) == set(ExitCode)
    assert len(table().splitlines()) == len(ExitCode)


def test_readme_lists_every_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _lists_every_code(readme) == []
    assert table() in readme


def test_help_lists_every_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert _lists_every_code(capsys.readouterr().out) == []
    assert desktop.cli.__doc__ is not None and table() in desktop.cli.__doc__


def _import_everything() -> dict[str, str]:
    """Import every module under desktop/ and models/ (not `__main__`); failures by module name."""
    failures = {}
    for package in (desktop, models):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module.name.rsplit(".", 1)[-1] == "__main__":
                continue
            try:
                importlib.import_module(module.name)
            except Exception as exc:
                failures[module.name] = f"{type(exc).__name__}: {exc}"
    return failures


def _subclasses(cls: type[EngineError]) -> set[type[EngineError]]:
    found: set[type[EngineError]] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_module_imports() -> None:
    # Also what makes the next test see every EngineError subclass.
    assert _import_everything() == {}


def test_every_engine_error_has_an_exit_code() -> None:
    _import_everything()
    errors = _subclasses(EngineError)
    assert len(errors) > 15, errors
    wrong = {
        f"{cls.__module__}.{cls.__qualname__}": cls.exit_code
        for cls in errors
        # A known problem is never reported as a bug: each one names a code other than 1.
        if not isinstance(cls.exit_code, ExitCode) or cls.exit_code == ExitCode.INTERNAL_ERROR
    }
    assert wrong == {}


def _boom(args: object) -> int:
    raise RuntimeError("the handler fell over")


@pytest.fixture
def no_raise_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCLAVE_RAISE", raising=False)


@pytest.mark.usefixtures("no_raise_env")
def test_a_bug_gets_one_line_and_a_crash_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], isolated_dirs: Path
) -> None:
    monkeypatch.setattr(desktop.cli, "_doctor", _boom)
    assert main(["doctor"], reraise_bugs=False) == ExitCode.INTERNAL_ERROR == 1
    err = capsys.readouterr().err
    assert err.startswith(BUG_LINE + "the handler fell over\n")
    assert "Traceback" not in err
    reports = list((isolated_dirs / "crash-reports").glob("enclave-*.txt"))
    assert len(reports) == 1 and str(reports[0]) in err
    text = reports[0].read_text(encoding="utf-8")
    assert "command: enclave doctor" in text
    assert "Traceback (most recent call last)" in text and "in _boom" in text
    assert text.rstrip().endswith("RuntimeError: the handler fell over")
    if os.name == "posix":
        assert stat.S_IMODE(reports[0].stat().st_mode) == 0o600


@pytest.mark.usefixtures("no_raise_env")
def test_a_crash_report_never_holds_the_command_arguments(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], isolated_dirs: Path
) -> None:
    monkeypatch.setattr(desktop.cli, "_history", _boom)
    assert main(["history", "search", "salary-of-alice"], reraise_bugs=False) == 1
    capsys.readouterr()
    (report,) = (isolated_dirs / "crash-reports").glob("*.txt")
    text = report.read_text(encoding="utf-8")
    assert "command: enclave history search" in text and "salary-of-alice" not in text


@pytest.mark.usefixtures("no_raise_env")
def test_an_unwritable_report_prints_the_traceback_instead(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(blocker))
    monkeypatch.setattr(desktop.cli, "_doctor", _boom)
    assert main(["doctor"], reraise_bugs=False) == 1
    err = capsys.readouterr().err
    assert err.startswith(BUG_LINE) and "could not write a crash report" in err
    assert "Traceback (most recent call last)" in err and "in _boom" in err


def test_bugs_propagate_under_pytest_and_with_enclave_raise(
    monkeypatch: pytest.MonkeyPatch, isolated_dirs: Path
) -> None:
    monkeypatch.setattr(desktop.cli, "_doctor", _boom)
    monkeypatch.delenv("ENCLAVE_RAISE", raising=False)
    with pytest.raises(RuntimeError, match="fell over"):
        main(["doctor"])  # PYTEST_CURRENT_TEST is set
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setenv("ENCLAVE_RAISE", "1")
    with pytest.raises(RuntimeError, match="fell over"):
        main(["doctor"])
    assert not (isolated_dirs / "crash-reports").exists()


def test_known_errors_and_interrupts_keep_their_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.engine.core.errors import DiskFull

    def full(args: object) -> int:
        raise DiskFull(Path("/data/history.db"))

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.delenv("ENCLAVE_RAISE", raising=False)
    monkeypatch.setattr(desktop.cli, "_doctor", full)
    assert main(["doctor"], reraise_bugs=False) == ExitCode.STORAGE
    assert "disk holding /data/history.db is full" in capsys.readouterr().err
    monkeypatch.setattr(desktop.cli, "_doctor", interrupted)
    assert main(["doctor"], reraise_bugs=False) == ExitCode.INTERRUPTED
    assert "interrupted" in capsys.readouterr().err


def test_a_bad_profile_name_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENCLAVE_PROFILE", "")  # main() sets it: restored after the test
    with pytest.raises(SystemExit) as exited:
        main(["--profile", "Not A Name!", "doctor"])
    assert exited.value.code == ExitCode.USAGE
    assert "invalid profile name" in capsys.readouterr().err
