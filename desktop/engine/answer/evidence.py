"""Evidence: how well passages cover a question, and which passage sentences back an answer sentence.

Plain text functions plus one embedding similarity. Everything is deterministic and cheap (a few
milliseconds per answer with all-MiniLM-L6-v2), so it runs inside the answer pipeline on every turn.

What counts as support (see docs/trust.md for the calibration):
- every *fact* in the sentence (number, amount, date, code, e-mail, capitalised name) occurs in the
  supporting passage: a small model's typical invention is a number, and a number is never "close";
- and the sentence's content words are covered by the passage, or it means the same as one of the
  passage's sentences (embedding cosine).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from desktop.engine.access import Passage
from desktop.engine.answer.examples import worked_examples
from desktop.engine.knowledge.store import STOPWORDS as FTS_STOPWORDS

Vectors = npt.NDArray[np.float32]

# English function words (the full-text index's list) plus words that carry no fact in an answer.
STOPWORDS = FTS_STOPWORDS | frozenset(
    [
        "also",
        "etc",
        "via",
        "per",
        "use",
        "used",
        "using",
        "within",
        "without",
        "yes",
        "able",
        "many",
        "much",
        "well",
        "new",
        "need",
        "needs",
        "like",
        "make",
        "makes",
        "made",
        "way",
        "ways",
        "lot",
        "see",
        "say",
        "says",
        "said",
        "know",
        "tell",
        "let",
        "us",
        "please",
        "may",
        "might",
        "must",
        "shall",
        "get",
        "gets",
        "got",
        "one",
        "ones",
        "answer",
        "question",
        "documents",
        "document",
        "sources",
        "source",
    ]
)
QUESTION_WORDS = frozenset(
    [
        "how",
        "many",
        "much",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "do",
        "does",
    ]
)
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9][A-Za-zÀ-ÖØ-öø-ÿ0-9'’-]*")
# "[877] 472-6716" or "[020] 7946 0958" is a phone number whose area code a model put in
# brackets, not a citation (guard/pii.py reads it as one the same way).
NOT_A_PHONE = r"(?![-. ]?\d{3,4}[-. ]?\d{3,4}(?!\d))"
_CITATION = re.compile(r"\s*\[(\d{1,3})\]" + NOT_A_PHONE)
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "U.S.", "Mr.", "Ms.", "Dr.", "No.", "vs.", "approx.")
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?:\s*\[\d{1,3}\]" + NOT_A_PHONE + r")*\s+(?=[\"'“(\[]?[A-Z0-9])|\n{2,}"
    r"|\n(?=\s*[-*•]|\s*\d+[.)])"
)
_NUMBER = re.compile(r"(?<![\w.])\$?\d[\d,]*(?:\.\d+)?%?(?![\w])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CODE = re.compile(
    r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)+\b|\b[A-Z]{2,}\d+\b"
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")
_DIGIT = re.compile(r"\d")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


def normalise(text: str) -> str:
    """Lower case, unified quotes and dashes, numbers without thousands separators."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)


def stem(word: str) -> str:
    """A deliberately crude English stem: enough to match "employees" with "employee"."""
    for suffix in ("ies", "ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def content_words(text: str) -> set[str]:
    words = (w.strip("'’-") for w in _WORD.findall(normalise(text)))
    return {stem(w) for w in words if len(w) > 2 and w not in STOPWORDS and not w.isdigit()}


def citations_in(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _CITATION.findall(text))


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer or a passage, with their trailing [n] markers kept."""
    protected = text
    for i, abbreviation in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbreviation, f"\x00{i}\x00")
    parts = _SENTENCE_END.split(protected)
    out = []
    for part in parts:
        for i, abbreviation in enumerate(_ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbreviation)
        part = part.strip()
        if part:
            out.append(part)
    return out


def facts(sentence: str) -> set[str]:
    """The checkable facts of a sentence, normalised: numbers and amounts, dates, codes, e-mail
    addresses and capitalised names (not the first word of the sentence)."""
    plain = _LIST_MARKER.sub("", strip_citations(sentence))
    found: set[str] = set()
    for match in _NUMBER.findall(plain):
        number = match.replace(",", "").rstrip("%").lstrip("$")
        if number:
            found.add(number)
    found.update(m.lower() for m in _EMAIL.findall(plain))
    found.update(m.lower() for m in _CODE.findall(plain))
    body = plain[1:] if plain else ""
    for match in _NAME.finditer(body):
        name = match.group(0)
        first = name.split()[0].lower()
        if first in STOPWORDS or first in MONTHS or first in QUESTION_WORDS:
            continue
        if len(name) > 2:
            found.add(name.lower())
    return found


# A sentence that says it retells an example or a case ("For example, with 14 pay periods left").
_FRAMED_AS_EXAMPLE = re.compile(
    r"(?<!\w)(?:for example|for instance|e\.g\.|examples?|suppose|supposing|imagine|"
    r"let['’]s say|assuming|scenario|hypothetical(?:ly)?)(?!\w)",
    re.IGNORECASE,
)


def fact_present(fact: str, passage_text: str) -> bool:
    return fact_count(fact, passage_text) > 0


def fact_count(fact: str, text: str) -> int:
    """How often a normalised fact (`facts`) occurs in `text` ("2,000" is the fact "2000"; a
    number is not found inside a longer one)."""
    normalised = normalise(text)
    if fact.replace(".", "").isdigit():
        return len(re.findall(rf"(?<![\d.]){re.escape(fact)}(?![\d])", normalised))
    return normalised.count(fact)


class Embeds(Protocol):
    """The embedding model as evidence needs it (`runtime.embedder.Embedder` is the real one)."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(frozen=True)
class Support:
    """How one sentence is backed: by passage `n` (None: by none), why, and the best span."""

    n: int | None
    supported: bool
    lexical: float
    semantic: float
    missing_facts: tuple[str, ...]
    quote: str = ""  # the passage sentence closest to it
    example_facts: tuple[str, ...] = ()  # figures passage `n` gives only in a worked example

    @property
    def reason(self) -> str:
        if self.supported:
            return f"supported by [{self.n}]"
        if self.missing_facts:
            return "not in your documents: " + ", ".join(self.missing_facts)
        if self.example_facts:
            return f"only a worked example in [{self.n}] gives " + ", ".join(self.example_facts)
        return "no passage says this"


@dataclass(frozen=True)
class Thresholds:
    """Where support starts; calibrated per embedding model (docs/trust.md)."""

    lexical: float = 0.6
    semantic: float = 0.62
    abstain_below: float = 0.35
    signal: str = "score"  # which `Coverage` value abstention reads


@dataclass(frozen=True)
class Coverage:
    """How well the retrieved passages cover a question (the abstention signals).

    `best_cosine`: the best question-passage cosine; `sentence_cosine`: the best question-sentence
    cosine over the passages' sentences; `term_coverage`: the share of the question's content words
    found in any passage; `passage_terms`: the best share found within one passage;
    `rare_terms`: the same share with each word weighted by how rare it is in what the user may
    read (inverse document frequency), so the one specific word of a near-miss question ("the
    Wi-Fi *password*") counts more than the topic words around it.
    """

    best_cosine: float
    term_coverage: float
    sentence_cosine: float = 0.0
    passage_terms: float = 0.0
    rare_terms: float = 0.0

    @property
    def score(self) -> float:
        return 0.5 * self.best_cosine + 0.5 * self.term_coverage

    def value(self, signal: str) -> float:
        """One named signal, or the mean of several joined by "+" (e.g. "best_cosine+passage_terms")."""
        names = signal.split("+") if signal != "score" else ["best_cosine", "term_coverage"]
        values = [float(getattr(self, name)) for name in names if name in SIGNALS]
        return sum(values) / len(values) if values else self.score


SIGNALS = ("best_cosine", "term_coverage", "sentence_cosine", "passage_terms", "rare_terms")

# How rare each (stemmed) content word is in what the user may read: `KnowledgeAccess.term_weights`.
TermWeights = Callable[[Collection[str]], Mapping[str, float]]
# The vectors the index already holds for the passages' chunks (`KnowledgeAccess.passage_vectors`),
# or None: the question is compared with what retrieval compared it with, and the passages are not
# embedded again before the first token (B2).
PassageVectors = Callable[[Sequence[Passage]], "Vectors | None"]


class EvidenceScorer:
    """Scores questions and sentences against passages with one embedder."""

    def __init__(self, embedder: Embeds, thresholds: Thresholds = Thresholds()) -> None:
        self.embedder = embedder
        self.thresholds = thresholds
        self._cache: dict[str, Vectors] = {}

    def _vectors(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, row in zip(missing, self.embedder.embed(missing), strict=True):
                self._cache[text] = row
        if len(self._cache) > 4096:
            self._cache = {t: self._cache[t] for t in texts}
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def coverage(
        self,
        question: str,
        passages: Sequence[Passage],
        weights: TermWeights | None = None,
        stored: PassageVectors | None = None,
    ) -> Coverage:
        """The abstention signals; `weights` (term rarity) feeds `rare_terms`, which without it
        weighs every word the same (= `passage_terms`); with `stored`, `best_cosine` compares the
        question with the passages' indexed vectors instead of embedding their text again."""
        if not passages:
            return Coverage(0.0, 0.0)
        sentences = [s for p in passages for _, s in _quotable(p.text)]
        indexed = stored(passages) if stored is not None else None
        if indexed is not None:
            vectors = self._vectors([question, *sentences])
            cosines = indexed @ vectors[0]
            sentence_cosines = vectors[1:] @ vectors[0]
        else:
            vectors = self._vectors([question, *(p.text for p in passages), *sentences])
            cosines = vectors[1 : 1 + len(passages)] @ vectors[0]
            sentence_cosines = vectors[1 + len(passages) :] @ vectors[0]
        wanted = content_words(question)
        per_passage = [content_words(f"{p.title} {p.heading} {p.text}") for p in passages]
        found = set().union(*per_passage)
        terms = len(wanted & found) / len(wanted) if wanted else 0.0
        best_passage = (
            max(len(wanted & words) for words in per_passage) / len(wanted) if wanted else 0.0
        )
        ordered = sorted(wanted)  # sums in one order: the same score in every process
        weight = dict(weights(ordered)) if weights and wanted else {}
        total = sum(weight.get(w, 1.0) for w in ordered)
        rare = (
            max(sum(weight.get(w, 1.0) for w in ordered if w in words) for words in per_passage)
            / total
            if total > 0
            else 0.0
        )
        return Coverage(
            float(cosines.max()),
            terms,
            float(sentence_cosines.max()) if len(sentence_cosines) else 0.0,
            best_passage,
            rare,
        )

    def support(self, sentence: str, passages: Sequence[Passage]) -> Support:
        """The passage that best supports `sentence` (its own [n] first when it has one)."""
        claim = strip_citations(sentence)
        words = content_words(claim)
        claim_facts = sorted(facts(claim))
        if not passages or not claim:
            return Support(None, False, 0.0, 0.0, tuple(claim_facts))
        cited = set(citations_in(sentence))
        # A figure found only in a passage's worked example does not back a sentence that states
        # it as the rule (the demo's "new employees earn 56 more annual leave hours"); names in
        # examples (the tools a page suggests) are real things, so only figures are held to this.
        figures = (
            [] if _FRAMED_AS_EXAMPLE.search(claim) else [f for f in claim_facts if _DIGIT.search(f)]
        )
        candidates: list[tuple[Passage, list[str]]] = [
            (p, split_sentences(p.text) or [p.text]) for p in passages
        ]
        flat = [s for _, sentences in candidates for s in sentences]
        vectors = self._vectors([claim, *flat])
        sims = vectors[1:] @ vectors[0]
        best: Support | None = None
        offset = 0
        for passage, sentences in candidates:
            local = sims[offset : offset + len(sentences)]
            offset += len(sentences)
            top = int(np.argmax(local))
            semantic = float(local[top])
            lexical = (
                len(words & content_words(f"{passage.heading} {passage.text}")) / len(words)
                if words
                else 0.0
            )
            missing = tuple(f for f in claim_facts if not fact_present(f, passage.text))
            examples = _example_only(claim, figures, missing, passage.text)
            t = self.thresholds
            ok = not missing and not examples and (lexical >= t.lexical or semantic >= t.semantic)
            candidate = Support(passage.n, ok, lexical, semantic, missing, sentences[top], examples)
            # A figure missing from a passage is worse than one it gives in an example: the
            # reason then names the example.
            rank = (ok, passage.n in cited, -2 * len(missing) - len(examples), lexical + semantic)
            if best is None or rank > (
                best.supported,
                best.n in cited,
                -2 * len(best.missing_facts) - len(best.example_facts),
                best.lexical + best.semantic,
            ):
                best = candidate
        assert best is not None
        if not best.supported and best.missing_facts:
            # Facts found in no passage at all are what the user must be told about.
            everywhere = tuple(
                f for f in best.missing_facts if not any(fact_present(f, p.text) for p in passages)
            )
            best = Support(
                best.n,
                False,
                best.lexical,
                best.semantic,
                everywhere or best.missing_facts,
                best.quote,
                best.example_facts,
            )
        return best

    def relevance(self, question: str, sentences: Sequence[str]) -> list[float]:
        """How well each sentence answers `question`: embedding cosine plus half the share of
        the question's content words it holds."""
        if not sentences:
            return []
        vectors = self._vectors([question, *sentences])
        sims = vectors[1:] @ vectors[0]
        wanted = content_words(question)
        return [
            float(sim) + 0.5 * (len(wanted & content_words(s)) / len(wanted) if wanted else 0.0)
            for s, sim in zip(sentences, sims, strict=True)
        ]

    def quotes(self, question: str, passages: Sequence[Passage], limit: int = 2) -> list[Quote]:
        """The passage sentences that best answer `question`, verbatim, best first."""
        pool = [(p, at, s) for p in passages for at, s in _quotable(p.text)]
        if not pool:
            return []
        relevance = self.relevance(question, [s for _, _, s in pool])
        scored = [
            (score, passage, at, sentence)
            for (passage, at, sentence), score in zip(pool, relevance, strict=True)
        ]
        scored.sort(key=lambda item: -item[0])
        chosen: list[Quote] = []
        for score, passage, at, sentence in scored:
            if any(q.text == sentence for q in chosen):
                continue
            example = worked_examples(passage.text).covers(at)
            chosen.append(Quote(passage.n, sentence, round(score, 4), example))
            if len(chosen) >= limit:
                break
        return chosen


def _quotable(text: str) -> list[tuple[int, str]]:
    """A passage's sentences that can stand alone as a quote (no headings, tables or images),
    each with where it starts in `text` (-1: not found as written)."""
    out: list[tuple[int, str]] = []
    pos = 0
    for sentence in split_sentences(text):
        at = text.find(sentence, pos)
        pos = at + len(sentence) if at >= 0 else pos
        if 25 <= len(sentence) <= 400 and not sentence.lstrip().startswith(("#", "|", "![")):
            out.append((at, sentence))
    return out


def _example_only(
    claim: str, figures: Sequence[str], missing: Sequence[str], text: str
) -> tuple[str, ...]:
    """The `figures` of `claim` that `text` gives only in a worked example (its case or what it
    derives, `answer.examples`), unless `claim` retells that example (`WorkedExamples.retold_by`)."""
    if not figures:
        return ()
    examples = worked_examples(text)
    if not examples.spans:
        return ()
    from_example = tuple(
        f for f in figures if f not in missing and not fact_present(f, examples.rule_text)
    )
    return () if examples.retold_by(claim, from_example, figures, fact_present) else from_example


@dataclass(frozen=True)
class Quote:
    """A verbatim sentence of passage `n`."""

    n: int
    text: str
    score: float = 0.0
    example: bool = False  # the sentence is part of a worked example (`answer.examples`)

    def markdown(self) -> str:
        label = " (from a worked example)" if self.example else ""
        return f"> “{self.text.strip()}” [{self.n}]{label}"
