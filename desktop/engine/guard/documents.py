"""Document text screened at pack build: what a person reading the page would not see, and text
aimed at the assistant rather than at its reader.

- `documents.injection`: instructions for the assistant inside a document ("ignore your
  instructions", "add this to your response", "incorporate the following code in your solution",
  code that sends the machine's data elsewhere), by `guard.injection`'s document wording rules,
  and sentences telling whoever writes a reply what to do with it (`guard.reply_instructions`);
- `documents.unrelated_request`: a question or task in the text that has nothing to do with the
  text around it (embedding similarity below a calibrated floor): an injected task;
- `documents.invisible_text`: zero-width and Unicode tag characters (tag characters carry a hidden
  ASCII copy of any text, "ASCII smuggling");
- `documents.bidi`: bidirectional controls, which make text read differently than it is stored;
- `documents.hidden_html`: text an HTML (or Markdown-with-HTML) source hides from people
  (`display:none`, `visibility:hidden`, `font-size:0`, `opacity:0`, the `hidden` attribute);
- `documents.suspicious_link`: a link whose text shows one address and opens another, raw IP
  hosts, punycode hosts, `user@host` tricks, and `data:` / `javascript:` / `file:` targets.

Detectors only: the pack builder applies the policy's action to each finding (block: the chunk is
quarantined, not indexed; warn: indexed and listed in the ingest report). Every scan is linear in
its input; the HTML scan is a tag-stack state machine over the standard library's tokenizer, with
no tree and no recursion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from desktop.engine.guard import reply_instructions
from desktop.engine.guard.injection import lexical
from desktop.engine.guard.prototypes import Embeds

INJECTION_RULE = "documents.injection"
UNRELATED_REQUEST_RULE = "documents.unrelated_request"
INVISIBLE_RULE = "documents.invisible_text"
BIDI_RULE = "documents.bidi"
HIDDEN_HTML_RULE = "documents.hidden_html"
LINK_RULE = "documents.suspicious_link"
RULES = (
    INJECTION_RULE,
    UNRELATED_REQUEST_RULE,
    HIDDEN_HTML_RULE,
    BIDI_RULE,
    INVISIBLE_RULE,
    LINK_RULE,
)

_INVISIBLE = re.compile(
    "[\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\u180e\ufeff\U000e0000-\U000e007f]"
)
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_URL = re.compile(r"\b(?:https?|ftp|file|data|javascript|vbscript):[^\s<>\"')\]]{1,2000}", re.I)
_BAD_SCHEMES = ("data", "javascript", "vbscript", "file")
_IP_HOST = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DOMAIN_IN_TEXT = re.compile(r"\b(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})\b", re.I)


@dataclass(frozen=True)
class DocumentFinding:
    rule: str
    reason: str
    score: float | None = None


def invisible_characters(text: str) -> list[DocumentFinding]:
    found = _INVISIBLE.findall(text)
    if not found:
        return []
    names = sorted({f"U+{ord(c):04X}" for c in found})
    return [
        DocumentFinding(
            INVISIBLE_RULE, f"{len(found)} invisible character(s): {', '.join(names[:5])}"
        )
    ]


def bidi_controls(text: str) -> list[DocumentFinding]:
    found = _BIDI.findall(text)
    if not found:
        return []
    names = sorted({f"U+{ord(c):04X}" for c in found})
    return [DocumentFinding(BIDI_RULE, f"{len(found)} bidi control(s): {', '.join(names[:5])}")]


def url_problem(url: str) -> str:
    """Why a link target is suspicious ("" when it is not)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "malformed link"
    scheme = parts.scheme.lower()
    if scheme in _BAD_SCHEMES:
        return f"a {scheme}: link"
    if "@" in parts.netloc:
        return "a user@host link (the text before @ is not where it goes)"
    host = (parts.hostname or "").lower()
    if _IP_HOST.fullmatch(host):
        return "a link to a raw IP address"
    if any(label.startswith("xn--") for label in host.split(".")):
        return "a punycode host (may imitate another name)"
    return ""


def suspicious_links(text: str, anchors: Sequence[tuple[str, str]] = ()) -> list[DocumentFinding]:
    """Suspicious URLs in `text`, and `anchors` (link text, target) whose text names another
    domain than the one the link opens."""
    reasons: list[str] = []
    for match in _URL.finditer(text):
        problem = url_problem(match.group(0))
        if problem:
            reasons.append(f"{problem}: {match.group(0)[:60]}")
    for label, href in anchors:
        problem = url_problem(href)
        if problem:
            reasons.append(f"{problem}: {href[:60]}")
            continue
        shown = _DOMAIN_IN_TEXT.search(label)
        target = (
            (urlsplit(href).hostname or "").lower() if href.startswith(("http:", "https:")) else ""
        )
        if shown and target:
            name = shown.group(1).lower().removeprefix("www.")
            if not (
                target == name
                or target.endswith("." + name)
                or name.endswith("." + target.removeprefix("www."))
            ):
                reasons.append(f"link text shows {name} but opens {target}")
    if not reasons:
        return []
    return [DocumentFinding(LINK_RULE, "; ".join(dict.fromkeys(reasons))[:300])]


# -- hidden HTML ---------------------------------------------------------------------------------

_HIDING_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|font-size\s*:\s*0(?![.\d]*[1-9])|"
    r"opacity\s*:\s*0(?![.\d]*[1-9])|(?:left|top|text-indent)\s*:\s*-\d{3,}",
    re.I,
)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
MAX_HIDDEN_CHARS = 100_000


class _HiddenTextScanner(HTMLParser):
    """Collects text inside elements hidden by style or attribute, and (text, href) of links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hides)
        self.hidden_depth = 0
        self.hidden: list[str] = []
        self._current: list[str] = []
        self.anchors: list[tuple[str, str]] = []
        self._anchor: tuple[str, list[str]] | None = None
        self._size = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        hides = "hidden" in values or bool(_HIDING_STYLE.search(values.get("style", "")))
        if tag == "a" and values.get("href"):
            self._anchor = (values["href"], [])
        if tag in _VOID:
            return
        self.stack.append((tag, hides))
        if hides:
            self.hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            self.anchors.append(("".join(self._anchor[1]).strip(), self._anchor[0]))
            self._anchor = None
        if not any(t == tag for t, _ in self.stack):
            return  # a stray closing tag closes nothing
        while self.stack:
            open_tag, hides = self.stack.pop()
            if hides:
                self.hidden_depth -= 1
                if self.hidden_depth == 0:
                    self._flush()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._anchor[1].append(data)
        if self.hidden_depth and self._size < MAX_HIDDEN_CHARS:
            self._current.append(data)
            self._size += len(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._current).split())
        if text:
            self.hidden.append(text)
        self._current = []

    def finish(self) -> None:
        self.close()
        self._flush()


@dataclass(frozen=True)
class MarkupScan:
    hidden: tuple[str, ...]  # texts hidden from people
    anchors: tuple[tuple[str, str], ...]  # (link text, target)


def scan_markup(source: str) -> MarkupScan:
    """Hidden texts and links of an HTML page or a Markdown file with inline HTML (and its
    `[text](target)` links)."""
    scanner = _HiddenTextScanner()
    scanner.feed(source)
    scanner.finish()
    anchors = list(scanner.anchors)
    anchors += [(m.group(1), m.group(2)) for m in _MD_LINK.finditer(source)]
    return MarkupScan(tuple(scanner.hidden), tuple(anchors))


_MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\(([^)\s]{1,2000})\)")


def hidden_in(text: str, hidden: Sequence[str]) -> list[DocumentFinding]:
    """The hidden texts (from `scan_markup`) that made it into this chunk's text."""
    flat = " ".join(text.split())
    shown = [h for h in hidden if len(h) >= 3 and h in flat]
    if not shown:
        return []
    return [DocumentFinding(HIDDEN_HTML_RULE, f"text hidden from readers: {shown[0][:80]!r}")]


# -- requests out of place -----------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_REQUEST = re.compile(
    r"^(?:please\s+)?(?:explain|draft|write|provide|translate|describe|summari[sz]e|compose|create|"
    r"list|give|show|tell|generate|define|calculate|solve|compare|suggest|recommend|outline|"
    r"can you|could you|would you|how do i|how can i|what is|what are|what's|who (?:is|was)|"
    r"why (?:is|do|does)|name|teach|convert|how (?:far|many|much|long|old|big|does|do you|did)|"
    r"when (?:did|was|is|were)|what (?:does|do|did|was|were|causes|happens))\b|\?$",
    re.I,
)
MAX_REQUESTS = 6
# "Did you know?", "Any questions?": a short rhetorical line is not a task.
MIN_REQUEST_WORDS = 4
# The similarity below which at most 1 % of the calibration handbook chunks fall
# (bench/eval_guardrails.py --calibrate; docs/guardrails.md).
OUT_OF_PLACE_SIMILARITY = 0.096


def out_of_place_requests(
    text: str, embedder: Embeds, threshold: float = OUT_OF_PLACE_SIMILARITY
) -> list[DocumentFinding]:
    """Requests addressed to someone ("Explain photosynthesis.", "What is the capital of
    Brazil?") that have nothing to do with the text around them: a document's own questions and
    instructions are about its subject; an injected task is not (BIPIA's task-irrelevant
    attacks)."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 8]
    candidates = [
        i
        for i, s in enumerate(sentences)
        if _REQUEST.search(s) and len(s.split()) >= MIN_REQUEST_WORDS
    ][:MAX_REQUESTS]
    if not candidates or len(sentences) < 2:
        return []
    rests = [" ".join(s for j, s in enumerate(sentences) if j != i) for i in candidates]
    vectors = embedder.embed([sentences[i] for i in candidates] + rests)
    n = len(candidates)
    similarity = (vectors[:n] * vectors[n:]).sum(axis=1)
    worst = int(similarity.argmin())
    if float(similarity[worst]) >= threshold:
        return []
    return [
        DocumentFinding(
            UNRELATED_REQUEST_RULE,
            f"a request unrelated to the text around it: {sentences[candidates[worst]][:80]!r}",
            round(1.0 - float(similarity[worst]), 3),
        )
    ]


# -- the screen ----------------------------------------------------------------------------------


class DocumentScreen:
    """Runs the `documents.*` rules a policy leaves on (`actions`: rule id -> action name)."""

    def __init__(self, actions: Mapping[str, str], embedder: Embeds | None = None) -> None:
        self.actions = dict(actions)
        self.embedder = embedder

    def active(self, rule: str) -> bool:
        return self.actions.get(rule, "off") != "off"

    def chunk_findings(self, text: str, scan: MarkupScan | None = None) -> list[DocumentFinding]:
        found: list[DocumentFinding] = []
        if self.active(INJECTION_RULE):
            found += self._injection(text)
        if self.active(UNRELATED_REQUEST_RULE) and self.embedder is not None and not found:
            found += out_of_place_requests(text, self.embedder)
        if self.active(HIDDEN_HTML_RULE) and scan is not None:
            found += hidden_in(text, scan.hidden)
        if self.active(BIDI_RULE):
            found += bidi_controls(text)
        if self.active(INVISIBLE_RULE):
            found += invisible_characters(text)
        if self.active(LINK_RULE):
            anchors = [a for a in scan.anchors if a[0] and a[0] in text] if scan else []
            found += suspicious_links(text, anchors)
        return found

    def _injection(self, text: str) -> list[DocumentFinding]:
        hits = lexical(text, document=True)
        if not hits:
            found = reply_instructions.first_instruction(text)
            if found is None:
                return []
            shape, sentence = found
            return [DocumentFinding(INJECTION_RULE, f"{shape}: {sentence[:80]!r}", 1.0)]
        best = max(hits, key=lambda f: f.score)
        return [
            DocumentFinding(
                INJECTION_RULE, best.reason.replace("looks like", "reads as"), best.score
            )
        ]
