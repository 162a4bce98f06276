"""Check a golden set against the corpus it was written from, and count what it holds.

    .venv/bin/python -m eval.golden_check [--golden eval/golden/handbook.jsonl] [--corpus DIR]

Every rule a golden question must meet, checked against the Markdown pages themselves:
answerable questions name pages their profile may read, and each key fact appears (after
`trust_metrics.normalise`) on one of those pages; restricted questions name a page their profile
may *not* read, and none of their key facts appears on any page it may read (so a key fact in the
answer can only have come through a leak); unanswerable questions name no page and say in
`checked` which search showed the handbook does not answer them. Audiences and roles are the demo
pack's own (`desktop.engine.packs.demo`), so the set follows the demo if its mapping changes.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import re
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.engine.packs.demo import AUDIENCES, PROFILES
from eval.trust_metrics import normalise

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GOLDEN = ROOT / "eval/golden/handbook.jsonl"
DEFAULT_CORPUS = ROOT.parent / "shared/corpora/18f-handbook"
FIELDS = {"id", "question", "profile", "answerable", "expected_sources", "key_facts", "category"}
FIELDS |= {"tags", "split"}
OPTIONAL = {"conversation", "checked", "note"}
SPLITS = {"calibration", "test"}

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_CHECKED = re.compile(r"^grep -riE '(.+)' \S+: no match$")


@functools.cache
def _needle(fact: str) -> str:
    return f" {normalise(fact)} "


@dataclass(frozen=True)
class Corpus:
    """The pages of a corpus: raw Markdown (for `checked` searches) and normalised reader text
    (for key facts), by path relative to the corpus root."""

    raw: Mapping[str, str]
    text: Mapping[str, str]  # padded with a space each side, for whole-token matching

    @classmethod
    def load(cls, root: Path) -> Corpus:
        raw = {
            path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*.md"))
        }
        return cls(raw, {path: f" {normalise(page_text(text))} " for path, text in raw.items()})

    def has_fact(self, path: str, fact: str) -> bool:
        needle = _needle(fact)
        return bool(needle.strip()) and needle in self.text[path]

    def grep(self, pattern: str) -> list[str]:
        """Pages matching like `grep -riE pattern` (per line, case-insensitive)."""
        regex = re.compile(pattern, re.I | re.M)  # '.' stops at line ends, as in grep
        return [path for path, text in self.raw.items() if regex.search(text)]


@dataclass(frozen=True)
class DemoAccess:
    """The demo pack's audience of each page and the audiences each profile may read."""

    default: str
    rules: tuple[tuple[str, str], ...]
    readable: Mapping[str, frozenset[str]]  # profile ("" = default) -> audiences

    @classmethod
    def load(cls) -> DemoAccess:
        data = tomllib.loads(AUDIENCES)
        roles = {name: set(audiences) for name, audiences in data["roles"].items()}
        readable = {
            profile: frozenset(a for role in role_names for a in roles[role])
            for profile, (_user, role_names) in PROFILES.items()
        }
        rules = tuple((r["glob"], r["audience"]) for r in data.get("rule", []))
        return cls(data["default"], rules, readable)

    def audience_of(self, path: str) -> str:
        for pattern, audience in self.rules:
            if fnmatch.fnmatch(path, pattern):
                return audience
        return self.default

    def may_read(self, profile: str, path: str) -> bool:
        return self.audience_of(path) in self.readable[profile]


def page_text(markdown: str) -> str:
    """A page as a reader sees it, for fact checks: no front matter, link text without URLs."""
    return _LINK.sub(r"\1", _FRONT_MATTER.sub("", markdown))


def load_golden(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def problems(
    questions: Sequence[Mapping[str, Any]], corpus: Corpus, access: DemoAccess
) -> list[str]:
    """Every way the set breaks its rules (empty: the set is sound)."""
    found: list[str] = []
    ids = Counter(str(q.get("id")) for q in questions)
    found += [f"{i}: duplicate id" for i, n in ids.items() if n > 1]
    for q in questions:
        qid = q.get("id")
        missing = FIELDS - q.keys()
        unknown = q.keys() - FIELDS - OPTIONAL
        if missing or unknown:
            found.append(f"{qid}: missing {sorted(missing)} unknown {sorted(unknown)}")
            continue
        profile = q["profile"]
        if profile not in access.readable:
            found.append(f"{qid}: unknown profile {profile!r}")
            continue
        if q["split"] not in SPLITS:
            found.append(f"{qid}: split must be one of {sorted(SPLITS)}")
        for turn in q.get("conversation", []):
            if set(turn) != {"role", "content"} or turn["role"] not in ("user", "assistant"):
                found.append(f"{qid}: conversation turns are {{role: user|assistant, content}}")
        sources = list(q["expected_sources"])
        for source in sources:
            if source not in corpus.text:
                found.append(f"{qid}: no page {source}")
        if any(s not in corpus.text for s in sources):
            continue
        restricted = "restricted" in q["tags"]
        if q["answerable"]:
            if restricted or not sources or not q["key_facts"]:
                found.append(f"{qid}: answerable needs pages and key facts, and no 'restricted'")
            for source in sources:
                if not access.may_read(profile, source):
                    found.append(f"{qid}: profile {profile!r} may not read {source}")
            for fact in q["key_facts"]:
                if not any(corpus.has_fact(s, fact) for s in sources):
                    found.append(f"{qid}: key fact {fact!r} is on none of {sources}")
        elif restricted:
            if not sources or not q["key_facts"]:
                found.append(f"{qid}: restricted needs the restricted page and its key facts")
            for source in sources:
                if access.may_read(profile, source):
                    found.append(f"{qid}: profile {profile!r} may read {source}")
            readable = [p for p in corpus.text if access.may_read(profile, p)]
            for fact in q["key_facts"]:
                if not any(corpus.has_fact(s, fact) for s in sources):
                    found.append(f"{qid}: key fact {fact!r} is on none of {sources}")
                leaks = [p for p in readable if corpus.has_fact(p, fact)]
                if leaks:
                    found.append(f"{qid}: key fact {fact!r} is readable by {profile!r} in {leaks}")
        else:
            search = _CHECKED.match(str(q.get("checked", "")))
            if sources or q["key_facts"] or search is None:
                found.append(
                    f"{qid}: unanswerable names no pages or facts and is `checked` with "
                    "\"grep -riE '<regex>' <corpus>: no match\""
                )
            elif hits := corpus.grep(search.group(1)):
                found.append(f"{qid}: `checked` search matches {hits}")
    return found


def counts(questions: Iterable[Mapping[str, Any]]) -> dict[str, Counter[str]]:
    """How many questions by kind, split, category, tag and profile."""
    out: dict[str, Counter[str]] = {
        "kind": Counter(),
        "split": Counter(),
        "category": Counter(),
        "tag": Counter(),
        "profile": Counter(),
    }
    for q in questions:
        kind = (
            "answerable"
            if q["answerable"]
            else "restricted"
            if "restricted" in q["tags"]
            else "unanswerable"
        )
        out["kind"][kind] += 1
        out["split"][f"{q['split']}/{kind}"] += 1
        out["category"][q["category"]] += 1
        out["tag"].update(q["tags"])
        out["profile"][q["profile"] or "(default)"] += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)
    questions = load_golden(args.golden)
    found = problems(questions, Corpus.load(args.corpus), DemoAccess.load())
    for line in found:
        print(line)
    for name, counter in counts(questions).items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))
    print(f"{len(questions)} questions, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
