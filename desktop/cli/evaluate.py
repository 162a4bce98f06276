"""`enclave admin eval GOLDEN ...` and `enclave admin eval compare A B`: measure a pack before it
is released, and gate a change on the numbers (docs/evaluation.md)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from desktop.cli.text import printable
from desktop.engine.core.exit_codes import ExitCode

EVAL_DESCRIPTION = """\
Run a golden set through the app's own answer pipeline, per role, and write a JSON and a
self-contained HTML report; or compare two reports.

  enclave admin eval GOLDEN.jsonl [--pack PACK --workspace WS] [--model ID] [--k N]
                     [--split S] [--limit N] [--out DIR] [--as ROLE=PROFILE ...]
  enclave admin eval compare A.json B.json [--tolerance METRIC=X ...] [--resamples N]

Without --pack the packs installed on this computer are used, each question asked under its
asker's local profile. With --pack (a pack built by `enclave admin build`) and --workspace, the
pack is installed for each role in a throwaway installation first. The run is resumable: run the
same command again after an interruption and it continues from DIR/work.jsonl.
"""


def register(actions: Any) -> None:
    parser = actions.add_parser(
        "eval",
        help="evaluate a pack on a golden set (JSON + HTML report), or compare two reports",
        description=EVAL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("golden", metavar="GOLDEN|compare", help="the golden set (JSONL)")
    parser.add_argument("reports", nargs="*", metavar="A B", help="compare: the two reports")
    run = parser.add_argument_group("evaluate")
    run.add_argument("--pack", type=Path, help="a built pack folder or archive to stage")
    run.add_argument("--workspace", type=Path, help="the admin workspace (key, audience map)")
    run.add_argument("--model", default="", help="chat model id (default: saved settings)")
    run.add_argument("--k", type=int, default=5, help="passages per answer; Recall@k (5)")
    run.add_argument("--max-tokens", type=int, help="longest answer (default: as the app)")
    run.add_argument("--split", default="all", help="calibration, test or all (default)")
    run.add_argument("--limit", type=int, help="N questions evenly spaced through the split")
    run.add_argument("--out", type=Path, default=Path("eval-report"), help="report folder")
    run.add_argument("--work", type=Path, help="work file (default: OUT/work.jsonl)")
    run.add_argument(
        "--as",
        dest="role_profiles",
        action="append",
        default=[],
        metavar="ROLE=PROFILE",
        help="ask a role's questions under this local profile (installed packs; ROLE= for the "
        "default profile)",
    )
    gate = parser.add_argument_group("compare (exit 11 when a gated metric regresses)")
    gate.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="METRIC=X",
        help="tolerated drop (shares 0..1), e.g. recall_at_k=0.02; X 'off' ungates it",
    )
    gate.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    gate.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")


def _pairs(items: list[str], what: str, *, empty_value: bool = False) -> dict[str, str]:
    from desktop.engine.evaluation.errors import EvaluationError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not (value.strip() or empty_value):
            raise EvaluationError(f"{what} '{item}' is not NAME=VALUE.")
        out[name.strip()] = value.strip()
    return out


def run(args: argparse.Namespace) -> int:
    from desktop.engine.evaluation.errors import EvaluationError

    if args.golden == "compare":
        if len(args.reports) != 2:
            raise EvaluationError("compare takes two reports: compare A.json B.json.")
        return _compare(args)
    if args.reports:
        raise EvaluationError(f"Unexpected argument(s): {' '.join(args.reports)}.")
    return _evaluate(args)


class ProgressBar:
    """One redrawn line on a terminal; one line per question otherwise (logs, CI)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def show(self, done: int, total: int, record: dict[str, Any]) -> None:
        state = (
            "error"
            if record.get("error")
            else "refused"
            if record.get("refused")
            else "abstained"
            if record.get("abstained")
            else "answered"
        )
        text = f"{printable(record['id'])[:24]} {state} ({record.get('wall_s', 0):.1f} s)"
        if self.tty:
            width = max(10, min(30, shutil.get_terminal_size((80, 20)).columns - 60))
            filled = round(width * done / total) if total else width
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {done}/{total} {text:<44}")
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{done}/{total}] {text}\n")
        self.stream.flush()


def evaluate_request(request: Any, bar: ProgressBar | None = None) -> tuple[dict[str, Any], bool]:
    """Run (resuming) and report; returns the report and whether the run was interrupted."""
    from desktop.engine.evaluation import session

    planned = session.plan(request)
    finished = len(planned.questions)
    print(
        f"eval: {finished} questions from {printable(planned.golden.name)}; "
        f"{printable(planned.target)}; work file {printable(request.work_file)}",
        file=sys.stderr,
    )
    bar = bar or ProgressBar()
    interrupted = False
    try:
        for progress in session.run(request, planned):
            bar.show(progress.done, progress.total, progress.record)
    except KeyboardInterrupt:
        interrupted = True
        print(
            "\neval: interrupted; the report covers the questions answered so far", file=sys.stderr
        )
    return session.finish(request, planned), interrupted


def _evaluate(args: argparse.Namespace) -> int:
    from desktop.engine.evaluation import summary
    from desktop.engine.evaluation.report import report_scores, write_report
    from desktop.engine.evaluation.report_html import render_html
    from desktop.engine.evaluation.runner import RunSettings
    from desktop.engine.evaluation.session import Request
    from desktop.engine.packs.manifest import describe_evaluation

    request = Request(
        golden=Path(args.golden),
        work_file=args.work or args.out / "work.jsonl",
        settings=RunSettings(model=args.model, k=args.k, max_tokens=args.max_tokens),
        split=args.split,
        limit=args.limit,
        pack=args.pack,
        workspace=args.workspace,
        role_profiles=_pairs(args.role_profiles, "--as", empty_value=True),
    )
    report, interrupted = evaluate_request(request)
    write_report(report, args.out / "report.json")
    (args.out / "report.html").write_text(render_html(report), encoding="utf-8")
    print(summary.format_metrics(report_scores(report)))
    print(
        printable(describe_evaluation({**report["headline"], "model": ", ".join(report["models"])}))
    )
    print(f"reports: {args.out / 'report.json'}, {args.out / 'report.html'}")
    return ExitCode.INTERRUPTED if interrupted else ExitCode.OK


def _compare(args: argparse.Namespace) -> int:
    from desktop.engine.evaluation.compare import DEFAULT_TOLERANCES, compare, format_comparison
    from desktop.engine.evaluation.errors import EvaluationError
    from desktop.engine.evaluation.report import load_report, report_scores
    from desktop.engine.evaluation.summary import BY_KEY

    tolerances = dict(DEFAULT_TOLERANCES)
    for name, value in _pairs(args.tolerance, "--tolerance").items():
        if name not in BY_KEY:
            raise EvaluationError(f"No metric '{name}'.", f"Metrics: {', '.join(BY_KEY)}.")
        if value == "off":
            tolerances.pop(name, None)
            continue
        try:
            tolerances[name] = float(value)
        except ValueError:
            raise EvaluationError(f"--tolerance {name}={value}: not a number.") from None
    a, b = (load_report(Path(p)) for p in args.reports)
    if a["golden"]["sha256"] != b["golden"]["sha256"]:
        print("compare: warning: the two reports measured different golden sets", file=sys.stderr)
    result = compare(
        report_scores(a), report_scores(b), tolerances, resamples=args.resamples, seed=args.seed
    )
    print(format_comparison(result))
    return ExitCode.EVAL_REGRESSED if result.regressions else ExitCode.OK


def sign_pack_evaluation(args: argparse.Namespace, workspace: Any, built: Any) -> None:
    """`admin build --eval GOLDEN`: evaluate the pack just built, staged per role, keep the
    report in WS/evaluations/, and sign its headline figures into the pack's manifest."""
    from desktop.engine.evaluation import session
    from desktop.engine.evaluation.report import write_report
    from desktop.engine.evaluation.report_html import render_html
    from desktop.engine.evaluation.runner import RunSettings
    from desktop.engine.packs.build import sign_evaluation
    from desktop.engine.packs.manifest import describe_evaluation

    if built is None:  # the build stopped before the pack was signed
        return
    out = workspace.root / "evaluations" / built.folder.name
    request = session.Request(
        golden=args.eval,
        work_file=out / "work.jsonl",
        settings=RunSettings(model=args.eval_model),
        limit=args.eval_limit,
        pack=built.folder,
        workspace=workspace.root,
    )
    report, interrupted = evaluate_request(request)
    write_report(report, out / "report.json")
    (out / "report.html").write_text(render_html(report), encoding="utf-8")
    if interrupted:
        print(
            f"eval: interrupted; nothing was signed. The pack is built without an evaluation "
            f"summary; the partial report is in {out}.",
            file=sys.stderr,
        )
        raise KeyboardInterrupt
    figures = session.signed_summary(report)
    sign_evaluation(built, figures, workspace.signing_key())
    print(printable(f"signed into the manifest: {describe_evaluation(figures)}"))
    print(f"  report: {out / 'report.html'}")
    if figures["leaks"]:
        print(
            f"eval: WARNING: {figures['leaks']} access leak(s) in the evaluation; read the report "
            "before releasing this pack.",
            file=sys.stderr,
        )
