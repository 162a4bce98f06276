"""Running a golden set through the app's own answer pipeline, one `Assistant` per asker.

Each question is asked with `Assistant.ask`, the call the window and `enclave ask` make, under
the local profile of its asker (`paths.profile_scope`), so retrieval goes through the same access
choke point with that profile's grants. Then the same query is searched once more, deeper
(`depth`, default 10) and timed, for Recall@k, MRR, nDCG@10 and the retrieval latency.
Follow-up questions get their conversation prefix seeded into a throwaway encrypted history
(random key, temporary folder): the user's own history is never read or written.

Every finished question is appended to the work file (JSONL) and flushed at once; a run started
again with the same work file skips the questions already there, so an interrupted run resumes.
A work file records which run it belongs to (golden set digest, model, k): results of another
run are refused rather than mixed.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError
from desktop.engine.core.settings import load_settings
from desktop.engine.evaluation.errors import EvaluationError
from desktop.engine.evaluation.golden import GoldenQuestion
from desktop.engine.evaluation.scoring import QuestionScore, distinct_paths, score_question
from desktop.engine.storage.conversations import ConversationStore

PASSAGE_TEXT = 700  # characters of each retrieved passage kept in the work file (for the report)


@dataclass(frozen=True)
class Asker:
    """Who asks a group of questions: the golden set's name for them (role or profile), the
    local profile the questions run under, and the audiences the audience map says it may read
    (None: take what its grants give, which checks access against itself)."""

    key: str
    profile: str
    readable: frozenset[str] | None = None


@dataclass(frozen=True)
class RunSettings:
    model: str = ""  # catalog id; "" = the profile's saved settings' model
    k: int = 5  # passages retrieved for each answer, and the k of Recall@k
    depth: int = 10  # depth of the separate ranking (nDCG@10)
    max_tokens: int | None = None
    focus_chars: int | None = None  # each passage's budget in the prompt; None: the app's

    def fingerprint(self, golden_sha256: str) -> str:
        focus = "" if self.focus_chars is None else f"/f{self.focus_chars}"
        return f"{golden_sha256[:16]}/{self.model or 'settings'}/k{self.k}/d{self.depth}{focus}"


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    record: dict[str, Any]  # the work-file line of the question just finished


def read_work_file(path: Path | None, fingerprint: str | None = None) -> dict[str, dict[str, Any]]:
    """The finished questions of a work file by id (a torn last line, from a kill, is skipped)."""
    if path is None or not path.exists():
        return {}
    records: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or "id" not in record:
                continue
            if fingerprint is not None and record.get("run") != fingerprint:
                raise EvaluationError(
                    f"{path} holds results of another run ({record.get('run')}; this one is "
                    f"{fingerprint}).",
                    "Give a new work file (--work), or delete this one to start over.",
                )
            records[str(record["id"])] = record
    return records


def options_for(settings: RunSettings) -> AssistantOptions:
    """The profile's saved settings, as the app reads them, with this run's overrides."""
    saved, _note = load_settings()
    overrides: dict[str, object] = {"sources_per_answer": settings.k}
    if settings.model:
        overrides["chat_model"] = settings.model
    if settings.max_tokens:
        overrides["max_answer_tokens"] = settings.max_tokens
    if settings.focus_chars is not None:
        overrides["focus_chars"] = settings.focus_chars
    return AssistantOptions.from_settings(saved, **overrides)


def _seed(store: ConversationStore, question: GoldenQuestion) -> int | None:
    if not question.conversation:
        return None
    conversation = store.create_conversation(question.id)
    for turn in question.conversation:
        store.add_message(conversation.id, turn.role, turn.content)
    return conversation.id


def _ask(
    assistant: Assistant, conversation_id: int | None, text: str
) -> tuple[list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    stream = assistant.ask(conversation_id, text)
    try:
        for event in stream:
            events.append(event.as_dict())
    except EngineError as exc:
        return events, f"{type(exc).__name__}: {exc.message}"
    finally:
        stream.close()
    return events, ""


def _passages(passages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keep = ("n", "path", "heading", "audience", "score", "pack", "pack_version")
    return [
        {**{k: p.get(k) for k in keep}, "text": str(p.get("text", ""))[:PASSAGE_TEXT]}
        for p in passages
    ]


def _record(
    score: QuestionScore,
    question: GoldenQuestion,
    events: Sequence[Mapping[str, Any]],
    model_id: str,
    run: str,
    wall_s: float,
) -> dict[str, Any]:
    done: Mapping[str, Any] = next((e for e in reversed(events) if e.get("event") == "done"), {})
    retrieved: Sequence[Mapping[str, Any]] = next(
        (e.get("passages", []) for e in events if e.get("event") == "retrieved"), []
    )
    return {
        **score.as_dict(),
        "question": question.question,
        "kind": question.kind,
        "expected_sources": list(question.expected_sources),
        "key_facts": list(question.key_facts),
        "answer": done.get("answer", ""),
        "reason": done.get("reason", ""),
        "form": done.get("form", ""),  # generated, quoted or none: how the answer was shown
        "signal": done.get("signal"),  # the evidence score the decision was taken on
        "query": done.get("query", question.question),
        "passages": _passages(retrieved),
        "sources": _passages(done.get("sources", [])),
        "verdicts": [
            {k: v.get(k) for k in ("index", "text", "supported", "reason", "citations")}
            for v in done.get("verdicts", [])
        ],
        "rejected": [
            {k: v.get(k) for k in ("index", "text", "supported", "reason")}
            for v in done.get("rejected", [])
        ],
        "model": model_id,
        "run": run,
        "wall_s": round(wall_s, 3),
    }


def _readable(assistant: Assistant, asker: Asker) -> frozenset[str]:
    if asker.readable is not None:
        return asker.readable
    held = assistant.knowledge.readable_audiences if assistant.knowledge else {}
    return frozenset(a for audiences in held.values() for a in audiences)


def _one(
    assistant: Assistant,
    store: ConversationStore,
    question: GoldenQuestion,
    readable: frozenset[str],
    settings: RunSettings,
) -> tuple[QuestionScore, list[dict[str, Any]], float]:
    started = time.perf_counter()
    events: list[dict[str, Any]] = []
    error = ""
    query = question.question
    if not question.retrieval_only:
        events, error = _ask(assistant, _seed(store, question), question.question)
        done = next((e for e in reversed(events) if e.get("event") == "done"), None)
        query = str(done.get("query") or query) if done else query
    ranking: tuple[str, ...] | None = None
    retrieval_s = None
    if assistant.knowledge is not None:  # timed for every question, scored where expected
        searched = time.perf_counter()
        try:
            passages = assistant.knowledge.search(query, max(settings.depth, settings.k))
        except EngineError as exc:
            passages, error = [], error or f"{type(exc).__name__}: {exc.message}"
        retrieval_s = time.perf_counter() - searched
        ranking = distinct_paths(p.as_dict() for p in passages)
        if question.retrieval_only:
            events = [
                {
                    "event": "retrieved",
                    "query": query,
                    "passages": [p.as_dict() for p in passages[: settings.k]],
                }
            ]
    score = score_question(
        question.as_dict(),
        events,
        readable,
        error=error,
        ranking=ranking,
        k=settings.k,
        retrieval_s=retrieval_s,
    )
    return score, events, time.perf_counter() - started


def run_asker(
    asker: Asker,
    questions: Sequence[GoldenQuestion],
    settings: RunSettings,
    run: str,
    workdir: Path,
) -> Iterator[dict[str, Any]]:
    """Answer one asker's questions with one Assistant; yields a work-file record per question."""
    with paths.profile_scope(asker.profile):
        assistant = Assistant.open(options_for(settings), keep_history=False)
        store = ConversationStore(
            workdir / f"{asker.profile or 'default'}.db", secrets.token_bytes(32)
        )
        assistant.history = store
        try:
            status = assistant.load()
            if assistant.readable_packs() == 0:
                problems = "; ".join(p.message for p in assistant.problems) or "no grant opens one"
                raise EvaluationError(
                    f"Profile '{asker.profile or 'default'}' (asking as '{asker.key}') has no "
                    f"readable pack: {problems}.",
                    "Install the pack and its grant for that profile, or evaluate a built pack "
                    "with --pack and --workspace.",
                )
            readable = _readable(assistant, asker)
            for question in questions:
                score, events, wall_s = _one(assistant, store, question, readable, settings)
                yield _record(score, question, events, status.model_id, run, wall_s)
        finally:
            assistant.close()


def run_golden(
    questions: Sequence[GoldenQuestion],
    askers: Mapping[str, Asker],
    settings: RunSettings,
    golden_sha256: str,
    work_file: Path | None = None,
) -> Iterator[Progress]:
    """Run the questions not yet in `work_file`, grouped by asker; yields progress per question
    (the record is already on disk when it is yielded)."""
    run = settings.fingerprint(golden_sha256)
    finished = read_work_file(work_file, run)
    todo = [q for q in questions if q.id not in finished]
    missing = sorted({q.asker for q in todo} - set(askers))
    if missing:
        raise EvaluationError(f"No profile to ask as: {', '.join(missing)}.")
    groups: dict[str, list[GoldenQuestion]] = {}
    for question in todo:
        groups.setdefault(question.asker, []).append(question)
    done = len(questions) - len(todo)
    if work_file is not None:
        work_file.parent.mkdir(parents=True, exist_ok=True)
    out = work_file.open("a", encoding="utf-8") if work_file is not None else None
    try:
        with tempfile.TemporaryDirectory(prefix="enclave-eval-") as tmp:
            for key, group in groups.items():
                for record in run_asker(askers[key], group, settings, run, Path(tmp)):
                    if out is not None:
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        out.flush()
                    done += 1
                    yield Progress(done, len(questions), record)
    finally:
        if out is not None:
            out.close()


def collect(
    questions: Sequence[GoldenQuestion], records: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The records of `questions` (in golden-set order) among a work file's."""
    return [records[q.id] for q in questions if q.id in records]
