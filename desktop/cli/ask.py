"""`enclave ask`: one question through the same assistant and answer pipeline as the window.

Three outputs of one event stream: the answer streamed as text (default), one JSON object at the
end (`--json`), or every pipeline event as a JSON line (`--events`: exactly what the window gets).
Defaults come from the user's saved settings, like the window; flags override them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from desktop.cli.text import printable
from desktop.engine.access import Passage
from desktop.engine.answer.events import (
    Abstained,
    AnswerEvent,
    AnswerToken,
    Done,
    Evidence,
    Retrieved,
    SentenceChecked,
)
from desktop.engine.answer.language import TRANSLATOR_FALLBACK
from desktop.engine.answer.records import AnswerForm, DecisionKind
from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.core.settings import load_settings
from desktop.engine.core.text_input import clean_message
from desktop.engine.knowledge.doc_dates import date_label, status_label
from desktop.engine.packs import provision

DEFAULT_ANSWER_TOKENS = AssistantOptions().max_answer_tokens


def register(sub: Any) -> None:
    ask = sub.add_parser(
        "ask",
        help="answer a question in the terminal",
        description="Answer one question from the document packs you may read, streamed. "
        "Uses your saved settings (model, sources, temperature) unless a flag overrides them.",
    )
    ask.add_argument("question", help="the question to ask")
    output = ask.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="print one JSON object at the end instead of a stream"
    )
    output.add_argument(
        "--events",
        action="store_true",
        help="print every answer event as a JSON line (retrieved, abstained, token, "
        "sentence_checked, done): what the window receives",
    )
    ask.add_argument("--model", help="chat model id from `enclave models list`")
    ask.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_ANSWER_TOKENS,
        help=f"longest answer in tokens (default {DEFAULT_ANSWER_TOKENS}, as in the window)",
    )
    ask.add_argument("--temperature", type=float, help="0 = greedy (default: your settings)")
    ask.add_argument("--sources", type=int, help="passages to retrieve (default: your settings, 4)")
    ask.add_argument(
        "--save",
        action="store_true",
        help="keep the question and answer in your encrypted history (needs a secure keyring)",
    )
    ask.add_argument(
        "--conversation", type=int, help="continue this history conversation id (implies --save)"
    )


def options_from(args: argparse.Namespace) -> AssistantOptions:
    settings, _note = load_settings()
    overrides: dict[str, object] = {"max_answer_tokens": args.max_tokens}
    if args.model:
        overrides["chat_model"] = args.model
    if args.temperature is not None:
        overrides["temperature"] = args.temperature
    if args.sources is not None:
        overrides["sources_per_answer"] = args.sources
    return AssistantOptions.from_settings(settings, **overrides)


def run(args: argparse.Namespace) -> int:
    question = clean_message(args.question)
    keep = args.save or args.conversation is not None
    assistant = Assistant.open(options_from(args), keep_history=keep)
    try:
        if assistant.policy_problem is not None:  # a refused policy answers nothing: say so now
            raise assistant.policy_problem
        if keep:
            history = assistant.require_history()  # --save without a secure keyring: refuse
            if args.conversation is not None:  # before the model loads: a clear error, not a bug
                history.get_conversation(args.conversation)
        dropped = provision.sync_at_start()  # what IT placed in the drop folders, verified, first
        status = assistant.load()
        for problem in [*dropped.problems(), *assistant.problems]:
            print(f"enclave: warning: {problem}", file=sys.stderr)
        for warning in assistant.expiry_warnings():
            print(f"enclave: warning: {warning}", file=sys.stderr)
        conversation_id = args.conversation
        if keep and conversation_id is None:
            conversation_id = history.create_conversation(question[:60]).id
        stream = assistant.ask(conversation_id, question)
        try:
            if args.events:
                print_events(stream, sys.stdout)
            elif args.json:
                done, retrieved = last_done(stream)
                payload = json_payload(
                    done, retrieved, conversation_id, assistant.knowledge_as_of()
                )
                print(json.dumps(payload, ensure_ascii=False, indent=2))
            else:
                done = print_text(stream, sys.stdout)
                print_footer(done, status.model_id, assistant.knowledge_as_of(), sys.stderr)
            translator = assistant.translator_problem
            if translator is not None:  # the chat model translated this question instead
                print(
                    f"enclave: warning: the translator could not be used: {translator.message} "
                    f"{TRANSLATOR_FALLBACK} {translator.hint}".rstrip(),
                    file=sys.stderr,
                )
        finally:
            stream.close()  # a stopped answer (Ctrl+C) is recorded before the model closes
    finally:
        assistant.close()
    return 0


def print_events(stream: Iterator[AnswerEvent], out: TextIO) -> None:
    for event in stream:
        out.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
        out.flush()


def last_done(stream: Iterator[AnswerEvent]) -> tuple[Done, Retrieved | None]:
    """The stream's `Done` and its `Retrieved` (None when the question was refused)."""
    done = retrieved = None
    for event in stream:
        if isinstance(event, Done):
            done = event
        elif isinstance(event, Retrieved):
            retrieved = event
    if done is None:  # pragma: no cover - the pipeline always ends with Done
        raise RuntimeError("the answer stream ended without Done")
    return done, retrieved


def print_text(stream: Iterator[AnswerEvent], out: TextIO) -> Done:
    """Evidence first, then the answer as it streams; then what the check made of it."""
    done = None
    streamed: list[str] = []
    flagged: dict[str, str] = {}  # sentence -> why it is not supported (shown with it)
    for event in stream:
        if isinstance(event, Evidence):
            quotes = "\n".join(q.markdown() for q in event.quotes)
            out.write(f"From your documents:\n{quotes}\n\n")
        elif isinstance(event, SentenceChecked) and event.verdict.supported is False:
            flagged[event.verdict.text.strip()] = event.verdict.reason
        elif isinstance(event, AnswerToken):
            streamed.append(event.text)
            reason = flagged.pop(event.text.strip(), None)
            shown = f"{event.text.rstrip()} [NOT SUPPORTED: {reason}] " if reason else event.text
            out.write(shown)
            out.flush()
        elif isinstance(event, Abstained):
            out.write(event.decision.message)
            if event.decision.kind is DecisionKind.REFUSE and event.decision.reason:
                # "rule: what to do" from the input screen: the calm, specific part
                out.write("\n" + printable(event.decision.reason.split(": ", 1)[-1]))
        elif isinstance(event, Done):
            done = event
    out.write("\n")
    if done is None:  # pragma: no cover - the pipeline always ends with Done
        raise RuntimeError("the answer stream ended without Done")
    answer = done.answer
    if streamed and answer.text.split() != "".join(streamed).split():
        label = "Quoted instead" if answer.form is AnswerForm.QUOTED else "Checked answer"
        out.write(f"\n{label}:\n{answer.text}\n")
    for passage in done.answer.passages:
        where = " > ".join(x for x in (passage.heading, passage.location) if x)
        out.write(
            printable(
                f"  [{passage.n}] {passage.title} ({where}) "
                f"{passage.pack} v{passage.pack_version}, {passage.audience}"
                + "".join(f" · {x}" for x in source_dating(passage) if x)
            )
            + "\n"
        )
    for guard in answer.guards:  # every guardrail decision names its rule
        out.write(
            printable(f"  guard: {guard.rule} -> {guard.action} ({guard.stage}) {guard.reason}")
            + "\n"
        )
    return done


def source_dating(passage: Passage) -> tuple[str, str]:
    """The source's date ("Updated 2024-03-05", "file date ...", or "no date") and its standing
    ("superseded by ...", or "")."""
    today = datetime.date.today()
    standing = status_label(passage.superseded_by or None, None, passage.effective or None, today)
    return date_label(passage.doc_date or None, passage.date_source, passage.date_detail), standing


def print_footer(done: Done, model_id: str, as_of: str | None, err: TextIO) -> None:
    stats = done.answer.stats
    knowledge = (
        f"knowledge as of {as_of}" if as_of else "no document packs: answering from the model alone"
    )
    err.write(
        f"[{model_id} · {stats.completion_tokens} tokens · {stats.tokens_per_second:.1f} tok/s · "
        f"{knowledge} · AI-generated, check important facts]\n"
    )


def json_payload(
    done: Done, retrieved: Retrieved | None, conversation_id: int | None, as_of: str | None
) -> dict[str, Any]:
    """`sources`: what the answer cites; `retrieved`: every passage found for the query (the
    closest passages when it abstained)."""
    answer = done.answer
    event = done.as_dict()
    return {
        "question": answer.question.text,
        "answer": answer.text,
        "form": event["form"],
        "abstained": event["abstained"],
        "decision": event["decision"],
        "reason": event["reason"],
        "signal": event["signal"],
        "query": event["query"],
        "model": event["model"],
        "conversation_id": conversation_id,
        "knowledge_as_of": as_of,
        "sources": [  # each with its document's date, source kind and label
            {
                **source,
                "date_label": date_label(
                    source["doc_date"] or None, source["date_source"], source["date_detail"]
                ),
            }
            for source in event["sources"]
        ],
        "retrieved": retrieved.as_dict()["passages"] if retrieved else [],
        "verdicts": event["verdicts"],
        "guard": event["guard"],
        "metrics": event["metrics"],
        "ai_generated": True,
    }
