"""One evaluation as an administrator asks for it: a golden set, a target (the packs installed on
this computer, or a built pack staged for its roles), settings and a work file; then the report.

`run` yields progress and can be stopped at any point (every finished question is already in
the work file); `finish` builds the report from the work file, so an interrupted run still
reports what it measured and a rerun of the same request continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.engine.evaluation import askers as asking
from desktop.engine.evaluation.errors import EvaluationError
from desktop.engine.evaluation.golden import GoldenQuestion, GoldenSet, load_golden
from desktop.engine.evaluation.report import build_report
from desktop.engine.evaluation.runner import (
    Progress,
    RunSettings,
    collect,
    read_work_file,
    run_golden,
)
from desktop.engine.evaluation.staging import staged_pack
from desktop.engine.packs.build import AudienceMap
from desktop.engine.packs.workspace import Workspace


@dataclass(frozen=True)
class Request:
    golden: Path
    work_file: Path
    settings: RunSettings = field(default_factory=RunSettings)
    split: str = "all"
    limit: int | None = None
    pack: Path | None = None  # a built pack (folder or archive) to stage; None: installed packs
    workspace: Path | None = None  # the admin workspace (needed with `pack`; else its map)
    role_profiles: Mapping[str, str] = field(default_factory=dict)  # role -> local profile


@dataclass(frozen=True)
class Plan:
    golden: GoldenSet
    questions: list[GoldenQuestion]
    target: str
    notes: list[str]


def plan(request: Request) -> Plan:
    golden = load_golden(request.golden)
    questions = golden.select(request.split, request.limit)
    if not questions:
        raise EvaluationError(f"No question of split '{request.split}' in {request.golden}.")
    notes = []
    if request.pack is not None:
        if request.workspace is None:
            raise EvaluationError(
                "A built pack is evaluated with its workspace (its key and audience map).",
                "Add --workspace WS.",
            )
        target = f"built pack {request.pack.name}, staged per role"
    else:
        target = "packs installed on this computer"
        if _audience_map(request, questions) is None:
            notes.append(
                "No audience map was given: each asker's access was checked against its own "
                "grants. Give --workspace for an independent check."
            )
    if request.limit is not None:
        notes.append(f"A subset: {len(questions)} questions evenly spaced through the split.")
    return Plan(golden, questions, target, notes)


def _audience_map(request: Request, questions: list[GoldenQuestion]) -> AudienceMap | None:
    if request.workspace is not None:
        return Workspace(request.workspace).audience_map()
    if all(not q.role and q.profile in asking.DEMO_PROFILE_ROLES for q in questions):
        return asking.demo_audience_map()  # the demo profiles read what the demo map says
    return None


def run(request: Request, planned: Plan | None = None) -> Generator[Progress, None, None]:
    """Answer every question not yet in the work file (see the module docstring)."""
    planned = planned or plan(request)
    questions = planned.questions
    sha = planned.golden.sha256
    if request.pack is None:
        askers = asking.installed_askers(
            questions, request.role_profiles, _audience_map(request, questions)
        )
        yield from run_golden(questions, askers, request.settings, sha, request.work_file)
        return
    assert request.workspace is not None  # checked by plan()
    needed = asking.roles_needed(questions)
    roles = sorted(set(needed.values()))
    with staged_pack(request.pack, Workspace(request.workspace), roles) as staged:
        askers = asking.staged_askers(needed, staged)
        yield from run_golden(questions, askers, request.settings, sha, request.work_file)


def finish(request: Request, planned: Plan | None = None) -> dict[str, Any]:
    """The report over the questions the work file holds for this request."""
    planned = planned or plan(request)
    run_id = request.settings.fingerprint(planned.golden.sha256)
    records = collect(planned.questions, read_work_file(request.work_file, run_id))
    notes = list(planned.notes)
    if len(records) < len(planned.questions):
        notes.append(
            f"Incomplete: {len(records)} of {len(planned.questions)} questions answered so far; "
            "run the same command again to continue."
        )
    return build_report(
        records,
        planned.golden,
        request.settings,
        target=planned.target,
        split=request.split,
        limit=request.limit,
        notes=notes,
    )


def signed_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The figures `admin build --eval` signs into the manifest (integers and short texts)."""
    return {
        **report["headline"],
        "golden_set": str(report["golden"]["name"])[:200],
        "golden_sha256": str(report["golden"]["sha256"]),
        "model": ", ".join(report["models"])[:200],
        "evaluated": str(report["created"]),
    }
