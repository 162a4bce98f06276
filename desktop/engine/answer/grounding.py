"""The stages that keep answers grounded in passages the user may read.

- `FollowUpQuery` (retrieve): a follow-up such as "And for supervisors?" is searched together with
  the question it follows, so it finds the same pages.
- `AbstainOnWeakEvidence` (decide): when the passages do not cover the question, say so and call no
  model; the signal and its threshold are calibrated on data (docs/trust.md).
- `SupportedSentences` (check): every sentence of the answer is checked against the passages: its
  facts must occur in one, and its words or meaning must match it. Citations to no given source are
  removed, a supported sentence without [n] gets its passage, repeated sentences are dropped, and
  when no sentence is supported the answer is replaced by the passages' own sentences, quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from desktop.engine.access import Passage
from desktop.engine.answer.evidence import (
    NOT_A_PHONE,
    EvidenceScorer,
    PassageVectors,
    Quote,
    TermWeights,
    citations_in,
    content_words,
    fact_count,
    facts,
    normalise,
    split_sentences,
    stem,
    strip_citations,
)
from desktop.engine.answer.language import TermsFound, Translate, english_query
from desktop.engine.answer.records import (
    AnswerForm,
    CheckedAnswer,
    Decision,
    Question,
    SentenceVerdict,
)
from desktop.engine.answer.stages import PassageSearch, Retrieval

ABSTAIN_MESSAGE = (
    "Your documents don't say. The closest passages are listed with this answer; if you expected "
    "an answer, try other words, or ask the document's owner."
)
WITHHELD = (
    "The passages found for this question were withheld by your organisation's policy (the "
    "rule is named below), so there is nothing to answer from. Tell your administrator."
)
MIN_SUPPORTED_SHARE = 0.5  # below this share of supported sentences, the passages are quoted
DECLINED = "the model says the passages do not answer this"
# How models (English, and the languages questions arrive in) say the sources do not answer: the
# grounded prompt asks them to "say that the documents do not say".
_SOURCES = r"(documents?|sources?|passages?|context|text|information|handbook|pages?)"
_NEGATED = (
    r"(do(es)?\s*n[o']?t|did\s*n[o']?t|do(es)?\s+not|never|cannot|can't|fail to|neither)\s+"
    r"(\w+\s+){0,2}(say|says|mention|contain|specify|state|provide|include|cover|address|"
    r"answer|discuss|give|list|indicate|tell|explain)"
)
DECLINE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\b{_SOURCES}\b.{{0,60}}\b{_NEGATED}",
        rf"\bno\s+(specific\s+)?(information|mention|details?|answer|data)\b.{{0,60}}\b{_SOURCES}\b",
        rf"\b(not|isn't|aren't)\s+(mentioned|specified|stated|provided|included|covered|"
        rf"given|listed|found|available)\b.{{0,40}}\b{_SOURCES}\b",
        r"^\s*(i'?m sorry|i am sorry|i (do not|don't) know|i (cannot|can't|am unable to) "
        r"(find|answer|determine))",
        r"\b(documents?|sources?|passages?)\s+(ne|n')\s*(\w+\s+){0,2}(pas|rien)\b",  # fr
        r"\b(dokumente?|quellen?)\b.{0,40}\b(nicht|keine)\b",  # de
        r"\b(documentos?|fuentes?)\b.{0,40}\bno\s+(dicen|mencionan|contienen|indican)\b",  # es
    )
)


def is_decline(sentence: str) -> bool:
    """The sentence says the sources do not answer (rather than answering)."""
    return any(p.search(sentence) for p in DECLINE_PATTERNS)


RESTATED = "the sentence only restates the question or the answer before it"


def _word_set(words: str, normal: Callable[[str], str] = str.lower) -> frozenset[str]:
    return frozenset(normal(w) for w in words.split())


# Words a small model wraps around a non-answer ("follow the steps outlined in the sources"):
# they add nothing the question did not already say.
_FILLER = _word_set(
    "according follow following steps outlined described provided given mentioned listed "
    "stated shown found source sources document documents information details detail "
    "section page specific specified available above below each refer number amount total name",
    stem,
)
# A word that makes a sentence an answer although it repeats the question ("Yes, you can ...").
_ANSWER_WORDS = _word_set(
    "yes no not never none only cannot can't don't doesn't isn't aren't won't both all"
)
# A yes/no or either/or question is answered by repeating it ("Can I carry over leave?" "You
# can carry over leave [1]."; "March or April?" "In April [1]."): the rule does not apply.
_CLOSED_QUESTION = re.compile(
    r"(?:^|[.?!]\s+)(?:is|are|am|was|were|can|could|do|does|did|should|will|would|may|might|"
    r"must|shall|has|have|had)\b|\bor\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[\w']+")


def restates_question(sentence: str, question: str, earlier: str = "", searched: str = "") -> bool:
    """The sentence says nothing the question (or the `earlier` answer it follows) did not: every
    content word is theirs (or filler; `searched`, the question as retrieval searched it, adds
    words only), it holds no number, date, code, name or e-mail they lack, and no word that
    answers a yes/no question; a yes/no or either/or question is never restated. "The email
    address you should contact when you move is [1]." is such a sentence (on the calibration
    split the default model wrote three), and so is a follow-up's answer that only applies the
    previous answer's figure to the new question ("And for a conference over $2,500?" answered
    with the under-$2,500 lead time)."""
    claim = strip_citations(sentence).strip()
    if not claim or not question or claim.endswith(":"):  # a list's lead-in: the list follows
        return False
    if _CLOSED_QUESTION.search(question) or set(_TOKEN.findall(claim.lower())) & _ANSWER_WORDS:
        return False
    known = f"{question} {strip_citations(earlier)}"
    # A fact said more often than they say it is new: "FMLA gives you 12 weeks ... per 12 month
    # period" answers "How many weeks ... in a 12 month period?".
    if any(fact_count(f, claim) > fact_count(f, known) for f in facts(claim)):
        return False
    words = content_words(claim)
    return bool(words) and not (words - content_words(f"{known} {searched}") - _FILLER)


NO_CLAIM = frozenset({DECLINED, RESTATED})  # sentences that are not claims (nothing to support)


QUOTED_INTRO = (
    "The model's answer could not be matched to your documents, so here is what they say:"
)
DECLINED_INTRO = (
    "The model found no direct answer in your documents; these are their sentences closest to "
    "your question:"
)
FOLLOW_UP_START = re.compile(
    r"^\s*(and|also|what about|how about|same|then|but|or|und|et|y|e|ou|o|aber|mais|pero)\b",
    re.IGNORECASE,
)
PRONOUNS = frozenset(
    [
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "he",
        "she",
        "him",
        "her",
        "there",
        "such",
        "one",
        "ones",
    ]
)


class FollowUpQuery:
    """Search the question itself, or, for a follow-up, the question it follows plus this one.

    A follow-up is a short question (at most `short_words` content words), one that starts like a
    continuation ("And...", "What about..."), or one that leans on a pronoun. Measured on the
    golden follow-ups in docs/trust.md; it costs nothing (no model call) for English questions.
    """

    def __init__(
        self,
        knowledge: PassageSearch | None,
        k: int = 4,
        short_words: int = 3,
        translate: Translate | None = None,
        terms_found: TermsFound | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.k = k
        self.short_words = short_words
        self.translate = translate
        self.terms_found = terms_found  # the documents' own words a translation must keep

    def query_for(self, question: Question) -> str:
        """The follow-up condensed with the question it follows, then, when it is not written in
        English, its English translation (`answer.language`): the embedder is English-only."""
        return english_query(
            with_context(question, self.short_words), self.translate, self.terms_found
        )

    def is_follow_up(self, text: str) -> bool:
        return is_follow_up(text, self.short_words)

    def retrieve(self, question: Question) -> Retrieval:
        query = self.query_for(question)
        if self.knowledge is None or self.k <= 0:
            return Retrieval(query, ())
        return Retrieval(query, tuple(self.knowledge.search(query, self.k)))


def is_follow_up(text: str, short_words: int = 3) -> bool:
    """A short question, one that starts like a continuation, or one that leans on a pronoun."""
    words = re.findall(r"[\w']+", text.lower())
    return (
        len(content_words(text)) <= short_words
        or FOLLOW_UP_START.match(text) is not None
        or any(w in PRONOUNS for w in words)
    )


def with_context(question: Question, short_words: int = 3) -> str:
    """The question, or for a follow-up the question it follows plus this one: what retrieval
    searches and the input screen judges ("And after 15 years?" alone means little to either)."""
    previous = [m["content"] for m in question.history if m["role"] == "user"]
    if previous and is_follow_up(question.text, short_words):
        return f"{previous[-1]} {question.text}"
    return question.text


class AbstainOnWeakEvidence:
    """Abstain before generation when the best passages do not cover the question."""

    def __init__(
        self,
        scorer: EvidenceScorer,
        weights: TermWeights | None = None,
        stored: PassageVectors | None = None,
    ) -> None:
        self.scorer = scorer
        self.weights = weights  # term rarity in what the user may read (`rare_terms`)
        self.stored = stored  # the passages' indexed vectors (`best_cosine`)

    def decide(self, question: Question, retrieval: Retrieval) -> Decision:
        threshold = self.scorer.thresholds.abstain_below
        if not retrieval.passages and any(g.stage == "passage" for g in retrieval.guards):
            return Decision.abstain("every passage found was withheld by policy", WITHHELD, 0.0)
        if not retrieval.passages:
            return Decision.abstain("no passage you may read matches", ABSTAIN_MESSAGE, 0.0)
        coverage = self.scorer.coverage(
            retrieval.query, retrieval.passages, self.weights, self.stored
        )
        signal = self.scorer.thresholds.signal
        value = coverage.value(signal)
        detail = (
            f"{signal} {value:.3f} (cosine {coverage.best_cosine:.3f}, "
            f"terms {coverage.term_coverage:.2f}, rare terms {coverage.rare_terms:.2f}); "
            f"threshold {threshold:.3f}"
        )
        if value < threshold:
            return Decision.abstain(f"weak evidence: {detail}", ABSTAIN_MESSAGE, value)
        return Decision.answer(detail, value)


class SupportedSentences:
    """Starts a `SupportCheck` for each answer."""

    def __init__(self, scorer: EvidenceScorer, *, quotes: int = 2, always_quote: bool = False):
        self.scorer = scorer
        self.quotes = quotes
        self.always_quote = always_quote

    def start(self, question: Question, passages: Sequence[Passage]) -> SupportCheck:
        return SupportCheck(self.scorer, question, passages, self.quotes, self.always_quote)


class SupportCheck:
    def __init__(
        self,
        scorer: EvidenceScorer,
        question: Question,
        passages: Sequence[Passage],
        quotes: int,
        always_quote: bool,
    ) -> None:
        self.scorer = scorer
        self.passages = list(passages)
        self.always_quote = always_quote
        # What a restating sentence would repeat: the question (with the one it continues) and,
        # for a follow-up that asks about something the last answer did not mention, that
        # answer ("And how many sick days?" after "25 vacation days and 10 sick days" may well be
        # answered with its 10 days; "What about a relative who died in combat?" not with the
        # bereavement figure of the answer before).
        self.question = with_context(question)
        self.searched = question.searched
        earlier = [m["content"] for m in question.history if m["role"] == "assistant"]
        self.earlier = ""
        asks_new = bool(earlier) and bool(content_words(question.text) - content_words(earlier[-1]))
        if asks_new and is_follow_up(question.text):
            self.earlier = earlier[-1]
        self.evidence: tuple[Quote, ...] = tuple(
            scorer.quotes(question.search_text, passages, quotes) if passages else ()
        )
        self._buffer = ""
        self._verdicts: list[SentenceVerdict] = []
        self._held: list[SentenceVerdict] = []  # declines not shown yet
        self.holds_text = True

    def _judge(self, sentence: str) -> SentenceVerdict:
        if is_decline(sentence):
            # Not a claim: nothing to support. Held back until a claim follows it; an answer
            # made only of these is an abstention (`finish`).
            return SentenceVerdict(len(self._verdicts), sentence, None, reason=DECLINED)
        if restates_question(sentence, self.question, self.earlier, self.searched):
            # Not a claim either, and not worth showing beside one: never released.
            return SentenceVerdict(len(self._verdicts), sentence, None, reason=RESTATED)
        support = self.scorer.support(sentence, self.passages)
        return SentenceVerdict(
            index=len(self._verdicts),
            text=sentence,
            supported=support.supported,
            citations=citations_in(sentence),
            reason=support.reason,
            source=support.n,
            evidence=support.quote,
        )

    def feed(self, text: str) -> list[SentenceVerdict]:
        self._buffer += text
        sentences = split_sentences(self._buffer)
        if len(sentences) < 2:
            return []
        done = sentences[:-1]
        self._buffer = self._buffer[self._buffer.rfind(sentences[-1]) :]  # keep its spacing
        out: list[SentenceVerdict] = []
        for sentence in done:
            verdict = self._judge(sentence)
            self._verdicts.append(verdict)
            if verdict.reason == RESTATED:
                continue
            if verdict.reason == DECLINED:
                self._held.append(verdict)
            else:
                out += [*self._held, verdict]
                self._held.clear()
        return out

    def finish(self, text: str) -> CheckedAnswer:
        late: tuple[SentenceVerdict, ...] = ()
        if self._buffer.strip():
            last = self._judge(self._buffer.strip())
            self._verdicts.append(last)
            late = () if last.reason == RESTATED else (last,)  # never released, last or not
            self._buffer = ""
        if self._verdicts and all(v.reason in NO_CLAIM for v in self._verdicts):
            # The model found no answer in the passages the evidence let through. On the
            # calibration split that happened only to answerable questions (5 of 73, none of
            # the 26 others: docs/trust.md), so the passages' own closest sentences are shown,
            # as quotes; with nothing to quote it is an abstention.
            if not (self.passages and self.evidence):
                return CheckedAnswer(
                    ABSTAIN_MESSAGE, AnswerForm.NONE, rejected=tuple(self._verdicts)
                )
            quotes = [q.markdown() for q in self.evidence]
            return CheckedAnswer(
                "\n\n".join([DECLINED_INTRO, *quotes]),
                AnswerForm.QUOTED,
                tuple(self._quote_verdicts(0)),
                rejected=tuple(self._verdicts),
            )
        late = (*self._held, *late)
        self._held.clear()
        shown: list[SentenceVerdict] = []
        seen: set[str] = set()
        valid = {p.n for p in self.passages}
        changed = False
        for verdict in self._verdicts:
            if verdict.reason == RESTATED:
                changed = True  # beside a claim it adds nothing (kept in `rejected`)
                continue
            key = normalise(strip_citations(verdict.text))
            if not key or key in seen:
                changed = True  # a repeated sentence (runaway output) is shown once
                continue
            seen.add(key)
            fixed = _with_fixed_citations(verdict, valid, len(shown))
            changed |= fixed.text != verdict.text
            shown.append(fixed)
        supported = [v for v in shown if v.supported]
        claims = [v for v in shown if v.reason not in NO_CLAIM]
        mostly_unsupported = len(supported) < MIN_SUPPORTED_SHARE * len(claims)
        if self.passages and self.evidence and (mostly_unsupported or self.always_quote):
            # Quote the passages. The model's supported sentences stay as a short summary above
            # the quotes; its unsupported ones are not shown (they are kept as `rejected`).
            quotes = [q.markdown() for q in self.evidence]
            parts = [" ".join(v.text for v in supported)] if supported else [QUOTED_INTRO]
            displayed = (*_renumbered(supported), *self._quote_verdicts(len(supported)))
            rejected = tuple(v for v in shown if not v.supported)
            return CheckedAnswer(
                "\n\n".join([*parts, *quotes]), AnswerForm.QUOTED, displayed, late, rejected
            )
        body = " ".join(v.text for v in shown) if changed else text.strip()
        return CheckedAnswer(body, AnswerForm.GENERATED, tuple(shown), late)

    def _quote_verdicts(self, start: int) -> list[SentenceVerdict]:
        return [
            SentenceVerdict(
                index=start + i,
                text=q.markdown(),
                supported=True,
                citations=(q.n,),
                reason=f"quoted from [{q.n}]",
                source=q.n,
                evidence=q.text,
            )
            for i, q in enumerate(self.evidence)
        ]


def _renumbered(verdicts: list[SentenceVerdict]) -> list[SentenceVerdict]:
    return [replace(v, index=i) for i, v in enumerate(verdicts)]


def _with_fixed_citations(verdict: SentenceVerdict, valid: set[int], index: int) -> SentenceVerdict:
    """Drop [n] that point to no given source; give a supported sentence its passage's [n]."""
    text = re.sub(
        r"\s*\[(\d{1,3})\]" + NOT_A_PHONE,
        lambda m: m.group(0) if int(m.group(1)) in valid else "",
        verdict.text,
    )
    cited = citations_in(text)
    if verdict.supported and verdict.source is not None and verdict.source not in cited:
        stripped = text.rstrip()
        end = len(stripped) - len(stripped.rstrip(".!?"))
        head, tail = stripped[: len(stripped) - end], stripped[len(stripped) - end :]
        text = f"{head} [{verdict.source}]{tail}"
        cited = (*cited, verdict.source)
    return SentenceVerdict(
        index=index,
        text=text,
        supported=verdict.supported,
        citations=cited,
        reason=verdict.reason,
        source=verdict.source,
        evidence=verdict.evidence,
    )
