"""A conversation turn end to end: clean the question, store it, fit the prompt, stream, store the answer.

`ChatService` is what the window and `enclave ask` both use, so they behave the same. The question is
stored (acknowledged) before generation starts; the answer is stored when the stream ends, with
model id and sha256, pack versions, citations and metrics, even if the user stopped it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop.engine.core.text_input import clean_message
from desktop.engine.prompt_budget import PromptPlan, plan_prompt
from desktop.engine.runtime.model_manager import Generation, ModelManager, Token
from desktop.engine.storage.conversations import ConversationStore

SYSTEM_PROMPT = (
    "You are Enclave, an assistant for the organisation's staff. Answer briefly and plainly. "
    "When sources are given, answer only from them and cite them as [n]; if they do not contain "
    "the answer, say that the documents do not say."
)

# Retrieval plugs in here: question -> (source texts for the prompt, citation records to store).
SourceProvider = Callable[[str], tuple[Sequence[str], list[dict[str, Any]]]]


REFERENCE_FIELDS = ("n", "pack", "pack_version", "audience", "chunk_id")


def citation_reference(citation: dict[str, Any]) -> dict[str, Any]:
    """What history keeps of a citation: where it points, never the passage or title, so that
    showing it later goes through the access choke point again."""
    return {key: citation[key] for key in REFERENCE_FIELDS if key in citation}


@dataclass
class Turn:
    """One answer being produced. Iterate for tokens; `message_id` is set once it is stored."""

    question_id: int
    plan: PromptPlan
    citations: list[dict[str, Any]]
    generation: Generation
    _tokens: Iterator[Token] = field(repr=False, default=iter(()))
    message_id: int | None = None
    text: str = ""

    def __iter__(self) -> Iterator[Token]:
        return self._tokens

    def cancel(self) -> None:
        self.generation.cancel()


class ChatService:
    def __init__(
        self,
        manager: ModelManager,
        store: ConversationStore | None,
        sources: SourceProvider | None = None,
        *,
        max_answer_tokens: int = 512,
        temperature: float = 0.0,
    ) -> None:
        self.manager = manager
        self.store = store
        self.sources = sources
        self.max_answer_tokens = max_answer_tokens
        self.temperature = temperature

    def history_messages(self, conversation_id: int | None) -> list[dict[str, str]]:
        if self.store is None or conversation_id is None:
            return []
        return [
            {"role": m.role, "content": m.text}
            for m in self.store.messages(conversation_id)
            if m.role in ("user", "assistant") and m.text
        ]

    def ask(self, conversation_id: int | None, question: str) -> Turn:
        """Start a turn. The question is durable once this returns; tokens flow as `Turn` is read."""
        question = clean_message(question)
        history = self.history_messages(conversation_id)
        source_texts, citations = self.sources(question) if self.sources else ((), [])
        plan = plan_prompt(
            self.manager.count_prompt_tokens,
            self.manager.n_ctx(),
            SYSTEM_PROMPT,
            question,
            sources=source_texts,
            history=history,
            answer_tokens=self.max_answer_tokens,
        )
        kept_citations = citations[: len(source_texts) - plan.dropped_sources]
        question_id = 0
        if self.store is not None and conversation_id is not None:
            question_id = self.store.add_message(conversation_id, "user", question)
        generation = self.manager.stream_chat(
            plan.messages, max_tokens=plan.answer_tokens, temperature=self.temperature
        )
        turn = Turn(question_id, plan, kept_citations, generation)
        turn._tokens = self._run(turn, conversation_id)
        return turn

    def _run(self, turn: Turn, conversation_id: int | None) -> Iterator[Token]:
        pieces: list[str] = []
        try:
            for token in turn.generation:
                pieces.append(token.text)
                yield token
        finally:
            turn.text = "".join(pieces).strip()
            if self.store is not None and conversation_id is not None and turn.text:
                info = self.manager.info
                metrics = turn.generation.stats.as_dict()
                metrics["dropped_history"] = turn.plan.dropped_history
                turn.message_id = self.store.add_message(
                    conversation_id,
                    "assistant",
                    turn.text,
                    model_id=info.entry.id if info else None,
                    model_sha256=info.entry.sha256 if info else None,
                    pack_versions={
                        c["pack"]: c["pack_version"] for c in turn.citations if "pack" in c
                    },
                    citations=[citation_reference(c) for c in turn.citations],
                    metrics=metrics,
                )
