"""`enclave admin eval` end to end on a small real pack with the small model: a built pack staged
per role, JSON and HTML reports, resuming after an interruption, `compare` failing on a broken
retrieval setting, and `admin build --eval` signing the summary into the manifest."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from packs.conftest import AUDIENCES  # the same audience map as the pack tests

from desktop.cli import main
from desktop.engine.core import paths
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.evaluation import session
from desktop.engine.evaluation.runner import RunSettings, read_work_file
from desktop.engine.packs import grants, install, trust
from desktop.engine.packs.archive import verify_folder
from desktop.engine.packs.build import build_pack
from desktop.engine.packs.library import PackLibrary
from desktop.engine.packs.manifest import describe_evaluation
from desktop.engine.packs.signing import key_id, load_public_key
from desktop.engine.packs.workspace import Workspace
from desktop.engine.runtime.embedder import Embedder
from desktop.ui.about_dialog import AboutDialog
from desktop.ui.packs import PackManagerDialog

DOCS = {
    "welcome.md": "# Welcome\nThe office opens at nine. The guest Wi-Fi network is called "
    "Harbour-Guest.\n",
    "bikes.md": "# Bikes\nThe bike shed is behind building C. Bring your own lock.\n",
    "staff/leave.md": "# Annual leave\nStaff get 26 days of annual leave each year. Unused leave "
    "carries over up to 5 days.\n",
    "staff/expenses.md": "# Travel expenses\nMeals on business travel are refunded up to 35 "
    "euros a day. Keep the receipts for the expense claim.\n",
    "hr/salaries.md": "# Salary bands\nEngineers in band E3 earn between 61,000 and 72,000 euros "
    "a year.\n",
}


def text(item: Any) -> str:
    assert item is not None
    return str(item.text())


def row(qid: str, question: str, role: str, **fields: object) -> str:
    base = {"id": qid, "question": question, "role": role, "answerable": True, "category": "c"}
    return json.dumps({**base, **fields})


GOLDEN = [
    row("leave", "How many days of annual leave do staff get?", "employee",
        expected_sources=["staff/leave.md"], key_facts=["26 days"],
        reference="Staff get 26 days of annual leave.", category="leave"),
    row("wifi", "What is the guest Wi-Fi network called?", "guest",
        expected_sources=["welcome.md"], key_facts=["Harbour-Guest"], category="office"),
    row("meals", "How much are meals refunded per day on business travel?", "employee",
        expected_sources=["staff/expenses.md"], key_facts=["35 euros"], category="travel"),
    row("leave-guest", "How many days of annual leave do staff get?", "guest", answerable=False,
        expected_sources=["staff/leave.md"], key_facts=["26 days"], tags=["restricted"],
        category="leave"),
    row("salary", "What do engineers in band E3 earn?", "employee", answerable=False,
        expected_sources=["hr/salaries.md"], key_facts=["61,000"], tags=["restricted"]),
    row("parking", "How much does the car park cost per month?", "hr", answerable=False,
        tags=["unanswerable"], category="office"),
]  # fmt: skip
# Each needs two documents: with one passage per answer (k=1) Recall@k can be at most 1/2.
RETRIEVAL = [
    row(f"two-{i}", question, "employee", retrieval_only=True, expected_sources=sources)
    for i, (question, sources) in enumerate(
        [
            (
                "Annual leave days and meal refunds on travel",
                ["staff/leave.md", "staff/expenses.md"],
            ),
            ("Where is the bike shed, and what is the Wi-Fi called?", ["bikes.md", "welcome.md"]),
            ("Leave carry-over and expense receipts", ["staff/leave.md", "staff/expenses.md"]),
            ("Office opening time and bike locks", ["welcome.md", "bikes.md"]),
            ("Travel meals and the guest network", ["staff/expenses.md", "welcome.md"]),
            ("Bike shed and annual leave", ["bikes.md", "staff/leave.md"]),
        ]
    )
]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, embedding_entry: object
) -> tuple[Workspace, Path, Path]:
    root = tmp_path_factory.mktemp("eval")
    source = root / "source"
    for name, text in DOCS.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    workspace = Workspace(root / "ws")
    workspace.init(AUDIENCES)
    embedder = Embedder(embedding_entry)  # type: ignore[arg-type]
    try:
        for _item in build_pack(source, workspace.packs_dir, pack_id="office", title="Office",
                               version=1, audience_map=workspace.audience_map(),
                               embedder=embedder, admin_key=workspace.signing_key()):  # fmt: skip
            pass
    finally:
        embedder.close()
    golden = root / "office.jsonl"
    golden.write_text("\n".join(GOLDEN) + "\n")
    (root / "retrieval.jsonl").write_text("\n".join(RETRIEVAL) + "\n")
    return workspace, source, golden


def test_admin_eval_on_a_built_pack_resumes_and_writes_json_and_html(
    built: tuple[Workspace, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    memory_keyring: Any,
) -> None:
    workspace, _source, golden = built
    pack = workspace.packs_dir / "office-v1"
    out = tmp_path / "report"
    request = session.Request(golden=golden, work_file=out / "work.jsonl", pack=pack,
                              workspace=workspace.root, settings=RunSettings(k=4))  # fmt: skip
    # Interrupted after two questions: both are on disk.
    stream = session.run(request)
    first = [next(stream), next(stream)]
    stream.close()
    assert [p.done for p in first] == [1, 2]
    assert len(read_work_file(request.work_file)) == 2

    code = main(["admin", "eval", str(golden), "--pack", str(pack), "--workspace",
                 str(workspace.root), "--k", "4", "--out", str(out)])  # fmt: skip
    assert code == ExitCode.OK
    staged = {service for service, _name in memory_keyring.store if "eval-" in service}
    assert not staged, f"staged profiles left keyring entries: {staged}"
    progress = re.findall(r"^\[(\d+)/6\]", capsys.readouterr().err, re.M)
    assert progress == ["3", "4", "5", "6"]  # the two finished questions were not asked again
    lines = (out / "work.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(
        json.loads(r)["id"] for r in GOLDEN
    )

    report = json.loads((out / "report.json").read_text())
    metrics = {m["key"]: m for m in report["metrics"]}
    assert report["selection"]["questions"] == 6 and report["models"] == ["smollm2-135m-instruct"]
    assert metrics["audience_violations"]["value"] == 0  # staged grants follow the audience map
    assert metrics["recall_at_k"]["over"] == 3 and metrics["recall_at_k"]["value"] is not None
    assert metrics["retrieval_p95"]["value"] is not None
    assert set(report["by_asker"]) == {"employee", "guest", "hr"}
    assert len(report["worst"]) == 6 and "passages" in report["worst"][0]
    by_id = {q["id"]: q for q in report["questions"]}
    assert all(p["audience"] == "everyone" for q in report["worst"] if q["asker"] == "guest"
               for p in q["passages"])  # fmt: skip
    assert by_id["leave"]["ranking"][0] == "staff/leave.md"

    html = (out / "report.html").read_text()
    assert "<svg" in html and "Content-Security-Policy" in html
    assert not re.search(r"""(?:src|href|action)\s*=|url\(|@import|<link|<script""", html, re.I)
    assert "How many days of annual leave" in html


def test_compare_fails_on_a_broken_retrieval_setting(
    built: tuple[Workspace, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    memory_keyring: object,
) -> None:
    workspace, _source, golden = built
    retrieval = golden.parent / "retrieval.jsonl"
    pack = str(workspace.packs_dir / "office-v1")
    for name, k in (("good", "4"), ("broken", "1")):
        code = main(["admin", "eval", str(retrieval), "--pack", pack, "--workspace",
                     str(workspace.root), "--k", k, "--out", str(tmp_path / name)])  # fmt: skip
        assert code == ExitCode.OK
    good, broken = (str(tmp_path / n / "report.json") for n in ("good", "broken"))
    capsys.readouterr()
    assert main(["admin", "eval", "compare", good, good]) == ExitCode.OK
    assert "no regression" in capsys.readouterr().out
    assert main(["admin", "eval", "compare", good, broken]) == ExitCode.EVAL_REGRESSED
    table = capsys.readouterr().out
    assert re.search(r"^Recall@k .* REGRESSED$", table, re.M), table
    assert re.search(r"^MRR .* ok$", table, re.M), table  # the deeper ranking did not change


def test_build_with_eval_signs_the_summary_and_the_pack_manager_shows_it(
    built: tuple[Workspace, Path, Path],
    capsys: pytest.CaptureFixture[str],
    memory_keyring: object,
    qtbot: Any,
) -> None:
    workspace, source, golden = built
    code = main(["admin", "build", str(source), "--workspace", str(workspace.root), "--pack-id",
                 "office", "--title", "Office", "--eval", str(golden), "--eval-limit", "3"])  # fmt: skip
    assert code == ExitCode.OK
    out = capsys.readouterr().out
    assert "signed into the manifest: tested on 3 questions" in out
    public = load_public_key(workspace.public_key_path.read_text())
    manifest = verify_folder(workspace.packs_dir / "office-v2", {key_id(public): public})
    figures = manifest.evaluation
    assert figures is not None and figures["questions"] == 3 and figures["leaks"] == 0
    assert figures["model"] == "smollm2-135m-instruct" and len(figures["golden_sha256"]) == 64
    assert (workspace.root / "evaluations" / "office-v2" / "report.html").is_file()

    # Installed for a user, the pack manager and About show the signed summary.
    trusted = paths.ensure_dir(trust.trusted_keys_dir())
    (trusted / "admin.toml").write_text(trust.trust_file_text(public, ["office"]))
    workspace.enrol(grants.enrolment_request(user="alice", machine="m"), ["employee"])
    install.import_grant(workspace.grant("alice", "office"))
    install.install(workspace.packs_dir / "office-v2.enclavepack")
    [row] = PackLibrary().list_packs()
    assert row.tested == describe_evaluation(figures) and row.tested.startswith("tested on 3")
    dialog = PackManagerDialog(PackLibrary())
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1 and not dialog.busy, timeout=60000)
    assert text(dialog.table.horizontalHeaderItem(7)) == "Tested"
    assert text(dialog.table.item(0, 7)) == row.tested
    about = AboutDialog([], PackLibrary())
    qtbot.addWidget(about)
    qtbot.waitUntil(lambda: about.packs_table.rowCount() == 1 and not about.busy, timeout=60000)
    assert text(about.packs_table.item(0, 4)) == row.tested

    # The installed pack evaluated as a role under a local profile, access checked against the
    # workspace's audience map.
    employee = golden.parent / "employee.jsonl"
    employee.write_text("\n".join(r for r in GOLDEN if '"role": "employee"' in r) + "\n")
    out_dir = golden.parent / "installed-report"
    code = main(["admin", "eval", str(employee), "--as", "employee=", "--workspace",
                 str(workspace.root), "--out", str(out_dir)])  # fmt: skip
    assert code == ExitCode.OK
    report = json.loads((out_dir / "report.json").read_text())
    assert report["target"] == "packs installed on this computer" and not report["notes"]
    assert set(report["by_asker"]) == {"employee"} and report["selection"]["questions"] == 3
    assert {m["key"]: m["value"] for m in report["metrics"]}["audience_violations"] == 0
