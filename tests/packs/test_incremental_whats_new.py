"""The pack manager's "what's new in vN": the signed change counts of the installed version, only
for the audiences the user reads (the real library on an incremental pack, then the dialog)."""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest

from desktop.engine.packs import install
from desktop.engine.packs.library import PackLibrary
from desktop.engine.packs.signing import load_public_key
from desktop.engine.packs.trust import trust_file_text

from .conftest import request_for
from .test_incremental_build import PACK, _build, counting, office  # noqa: F401 (fixtures)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # as tests/ui/conftest.py: no display here


def test_the_library_lists_what_changed_in_the_audiences_the_user_reads(
    office,  # noqa: F811
    counting,  # noqa: F811
    memory_keyring,
    monkeypatch,
    tmp_path,
    capsys,
):
    workspace, source = office
    _build(workspace, source, capsys)
    (source / "parking.md").write_text("# Parking\nVisitors park in bay nine now.\n")
    (source / "hr" / "bonus.md").write_text("# Bonus\nBonuses are paid in March.\n")
    _build(workspace, source, capsys)
    config = tmp_path / "config"
    (config / "trusted-keys").mkdir(parents=True)
    key = load_public_key(workspace.public_key_path.read_text())
    (config / "trusted-keys" / "admin.toml").write_text(trust_file_text(key, [PACK]))
    monkeypatch.setenv("ENCLAVE_CONFIG_DIR", str(config))
    workspace.enrol(request_for("gail"), ["guest"])  # reads "everyone" only
    install.import_grant(workspace.grant("gail", PACK))
    install.install(workspace.packs_dir / f"{PACK}-v2.enclavepack")
    [row] = PackLibrary().list_packs()
    assert row.whats_new == "since v1: 1 changed (everyone)"  # the hr addition is not hers


def test_the_pack_manager_shows_whats_new_from_its_worker(qtbot) -> None:
    pytest.importorskip("PySide6")
    from ui.fake_packs import HANDBOOK, HR_POLICIES, FakePacks

    from desktop.ui.packs import PackManagerDialog

    model = FakePacks()
    model.packs = [replace(HANDBOOK, whats_new="since v4: 2 added, 1 removed (staff)"), HR_POLICIES]
    dialog = PackManagerDialog(model)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.busy and dialog.table.rowCount() == 2, timeout=5000)
    column = PackManagerDialog.COLUMNS.index("What's new")
    first, second = dialog.table.item(0, column), dialog.table.item(1, column)
    assert first is not None and second is not None
    assert first.text() == "since v4: 2 added, 1 removed (staff)"
    assert "What's new in v5" in first.toolTip()
    assert second.text() == "not recorded"  # v3, built before changes were signed
    from desktop.ui.packs import _whats_new_text

    assert _whats_new_text(replace(HR_POLICIES, version=1)) == "first version"
    assert all(t is not threading.main_thread() for t in model.threads)
