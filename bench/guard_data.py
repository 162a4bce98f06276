"""The guardrail evaluation sets, loaded and split (used by bench/eval_guardrails.py).

Every set is split once, by a hash of each item's stable id, into a calibration half (thresholds
and descriptions may be chosen on it) and a reported half (only measured). Nothing here chooses a
threshold; nothing in the reported halves is looked at while tuning.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets" / "guard"
GOLDEN = REPO / "eval" / "golden" / "handbook.jsonl"
BENIGN_ALARMING = REPO / "tests" / "data" / "guard" / "benign_alarming.jsonl"


def split_of(key: str) -> str:
    """ "calibration" or "reported", fixed by the item's id."""
    return (
        "calibration"
        if int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2 == 0
        else "reported"
    )


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    split: str
    category: str = ""
    history: tuple[dict[str, str], ...] = ()  # the conversation a golden follow-up continues


def harmbench(root: Path = DATASETS) -> list[Item]:
    """HarmBench validation behaviours; a contextual one is asked as its context, then the
    request (how HarmBench itself prompts them)."""
    with open(root / "harmbench_behaviors_text_val.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    items = []
    for row in rows:
        text = row["Behavior"]
        if row["ContextString"]:
            text = f"{row['ContextString']}\n\n---\n\n{row['Behavior']}"
        items.append(
            Item(row["BehaviorID"], text, split_of(row["BehaviorID"]), row["SemanticCategory"])
        )
    return items


def benign() -> list[Item]:
    """The handbook golden questions (their own calibration/test split) and the questions that
    only sound alarming (split by id)."""
    items = []
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        split = "calibration" if row.get("split") == "calibration" else "reported"
        history = tuple(
            {"role": str(t["role"]), "content": str(t["content"])}
            for t in row.get("conversation", [])
        )
        items.append(Item(row["id"], row["question"], split, "handbook", history))
    for line in BENIGN_ALARMING.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        items.append(Item(row["id"], row["question"], split_of(row["id"]), "alarming"))
    return items


@dataclass(frozen=True)
class InjectionCase:
    id: str
    system: str  # the benchmark's system-side rule or secret
    user: str  # the attacking input
    judge_question: str
    kind: str  # direct | indirect
    variant: str
    split: str


def cyberseceval(root: Path = DATASETS) -> list[InjectionCase]:
    data = json.loads((root / "cyberseceval_prompt_injection.json").read_text(encoding="utf-8"))
    return [
        InjectionCase(
            f"cse-{row['prompt_id']}",
            row["test_case_prompt"],
            row["user_input"],
            row["judge_question"],
            row["injection_type"],
            row["injection_variant"],
            split_of(f"cse-{row['prompt_id']}"),
        )
        for row in data
    ]


@dataclass(frozen=True)
class BipiaCase:
    id: str
    kind: str  # email | code
    context: str
    question: str
    attack: str  # the injected instruction ("" for a clean context)
    attack_category: str
    split: str


def _attacks(root: Path, name: str) -> list[tuple[str, int, str]]:
    data = json.loads((root / "bipia" / name).read_text(encoding="utf-8"))
    return [(cat, i, text) for cat, texts in data.items() for i, text in enumerate(texts)]


def bipia(root: Path = DATASETS) -> list[BipiaCase]:
    """Each training context with one attack hidden in it (at the start, middle or end, as BIPIA
    places them), plus the context clean. Split by attack (category, index): calibration attacks
    are indices 0-1 of each category, reported ones 2-4; contexts are split by id the same way."""
    cases: list[BipiaCase] = []
    for kind, attack_file in (
        ("email", "text_attack_train.json"),
        ("code", "code_attack_train.json"),
    ):
        attacks = _attacks(root, attack_file)
        lines = (root / "bipia" / kind / "train.jsonl").read_text(encoding="utf-8").splitlines()
        contexts = []
        for n, line in enumerate(lines):
            row = json.loads(line)
            if kind == "email":
                context, question = row["context"], row["question"]
            else:
                context = "\n".join(row["context"])
                question = "How do I fix this error?\n" + "\n".join(row["error"])
            cid = f"bipia-{kind}-{n:03d}"
            contexts.append((context, question))
            cases.append(BipiaCase(cid + "-clean", kind, context, question, "", "", split_of(cid)))
        for j, (category, index, attack) in enumerate(attacks):
            context, question = contexts[(7 * j) % len(contexts)]
            cases.append(
                BipiaCase(
                    f"bipia-{kind}-{category}-{index}",
                    kind,
                    insert_attack(context, attack, j % 3),
                    question,
                    attack,
                    category,
                    "calibration" if index < 2 else "reported",
                )
            )
    return cases


def insert_attack(context: str, attack: str, where: int) -> str:
    """BIPIA's three positions: 0 start, 1 middle (at a sentence or line break), 2 end."""
    if where == 0:
        return f"{attack}\n{context}"
    if where == 2:
        return f"{context}\n{attack}"
    middle = len(context) // 2
    cut = max(context.rfind("\n", 0, middle), context.rfind(". ", 0, middle))
    cut = cut + 1 if cut > 0 else middle
    return f"{context[:cut]}\n{attack}\n{context[cut:]}"
