"""PerturbArith splits: Original / Simple / Hard per seed tuple, checked and written as JSONL with a manifest.

``generate_splits(seed)`` is deterministic (``random.Random`` seeded per family with a string, which does not
depend on PYTHONHASHSEED). Every triple passes ``violations`` (empty list) before it is kept:

- answer(Hard) ≠ answer(Original), answer(Hard) ≠ shortcut answer, answer(Simple) ≠ answer(Original);
- every gold step is ``u op v = w`` with non-negative integers that holds exactly, and the answer after ``#``
  is the result of a step (so every intermediate is an integer);
- problem and solution fit the layout (≤ P − 2 prompt tokens, ≤ L − P answer tokens, L = 64);
- the three problem texts differ (and, across the splits, every problem text is unique).

Regenerate the committed files with ``python3 -m tasks.math.generator --write``; ``--check`` compares them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tasks.math import expr, tokens
from tasks.math.families import FAMILIES, Reject, Triple, Variant
from tasks.math.records import DATA_DIR, SPLITS, Problem, dumps, split_path

GENERATOR_VERSION = "1"
EVAL_SEED = 13  # the committed splits
PER_FAMILY = 50  # 6 families × 50 = 300 problems per split
MAX_TRIES = 10_000


class GeneratorError(RuntimeError):
    """A family that cannot produce a valid draw within MAX_TRIES."""


@dataclass(frozen=True)
class Splits:
    """The three paired splits (same problem_id order in each)."""

    original: list[Problem]
    simple: list[Problem]
    hard: list[Problem]

    def by_name(self, split: str) -> list[Problem]:
        """The records of one split by name."""
        return {"original": self.original, "simple": self.simple, "hard": self.hard}[split]

    def texts(self) -> set[str]:
        """Every problem text of the three splits."""
        return {p.problem for s in SPLITS for p in self.by_name(s)}


def solution_violations(v: Variant) -> list[str]:
    """Broken gold steps, a dangling answer, or a layout overflow of one variant."""
    out = []
    body, _, ans = v.solution.partition("#")
    if ans != v.answer or expr.parse_answer(tokens.tokenize(ans)) is None:
        out.append(f"{v.problem}: answer {ans!r} does not parse or differs from {v.answer!r}")
    results = set()
    for text in body.split(";"):
        step = expr.parse_step(tokens.tokenize(text))
        if step is None or not expr.step_holds(step):
            out.append(f"{v.problem}: step {text!r} is not an exact integer step")
        else:
            results.add(step.w)
    if not all(int(a) in results for a in v.answer.split(",")):
        out.append(f"{v.problem}: answer {v.answer} is not a step result")
    try:
        tokens.encode(v.problem, v.solution)
    except tokens.TokenError as err:
        out.append(str(err))
    return out


def _same(a: str | None, b: str | None) -> bool:
    """Exact equality of two answer texts (as sorted Fraction lists)."""
    if a is None or b is None:
        return False
    return expr.parse_answer(tokens.tokenize(a)) == expr.parse_answer(tokens.tokenize(b))


def hard_violations(v: Variant) -> list[str]:
    """Gold-step and layout violations of a Hard variant, plus a missing shortcut or answer == shortcut."""
    out = solution_violations(v)
    if v.shortcut is None or _same(v.answer, v.shortcut):
        out.append(f"{v.problem}: missing shortcut or answer(H) == shortcut")
    return out


def violations(t: Triple) -> list[str]:
    """Every generator assertion that the triple breaks (empty when it is valid)."""
    out = solution_violations(t.original) + solution_violations(t.simple) + hard_violations(t.hard)
    if _same(t.hard.answer, t.original.answer):
        out.append(f"{t.hard.problem}: answer(H) == answer(O)")
    if _same(t.simple.answer, t.original.answer):
        out.append(f"{t.simple.problem}: answer(S) == answer(O)")
    if len({t.original.problem, t.simple.problem, t.hard.problem}) < 3:
        out.append(f"{t.original.problem}: repeated problem text in a triple")
    return out


def draw(fn, rng: random.Random, what: str, check=None):
    """Call a family generator until it yields a draw without Reject / TokenError for which ``check`` (default:
    ``violations`` for a triple, ``solution_violations`` for a variant) returns an empty list."""
    for _ in range(MAX_TRIES):
        try:
            item = fn(rng)
        except (Reject, tokens.TokenError):
            continue
        test = check or (violations if isinstance(item, Triple) else solution_violations)
        if test(item):
            continue
        return item
    raise GeneratorError(f"{what}: no valid draw in {MAX_TRIES} tries")


def edit_ratio(text: str, reference: str) -> float:
    """Token Levenshtein distance from ``reference`` to ``text`` over the reference's token count (3 decimals)."""
    a, b = tokens.tokenize(reference), tokens.tokenize(text)
    prev = list(range(len(b) + 1))
    for i, ta in enumerate(a, 1):
        cur = [i]
        for j, tb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ta != tb)))
        prev = cur
    return round(prev[-1] / max(1, len(a)), 3)


def _records(pid: str, family: str, t: Triple, seen: bool) -> tuple[Problem, Problem, Problem]:
    def rec(split: str, v: Variant) -> Problem:
        return Problem(pid, family, split, v.form, v.problem, v.answer, v.solution, v.shortcut, seen,
                       edit_ratio(v.problem, t.original.problem))
    return rec("original", t.original), rec("simple", t.simple), rec("hard", t.hard)


def _fresh(fn, rng: random.Random, fam: str, texts: set[str]) -> Triple:
    """A valid triple none of whose problem texts is in ``texts``."""
    for _ in range(MAX_TRIES):
        t = draw(fn, rng, fam)
        if not {t.original.problem, t.simple.problem, t.hard.problem} & texts:
            return t
    raise GeneratorError(f"{fam}: no fresh triple in {MAX_TRIES} tries")


def generate_splits(seed: int = EVAL_SEED, per_family: int = PER_FAMILY) -> Splits:
    """The paired splits, ``per_family`` seed tuples per family; half of each family is ``seed_in_train``."""
    out: dict[str, list[Problem]] = {s: [] for s in SPLITS}
    texts: set[str] = set()
    for fam, spec in FAMILIES.items():
        rng = random.Random(f"perturbarith:{seed}:{fam}")
        seen = [i < per_family // 2 for i in range(per_family)]
        rng.shuffle(seen)
        for i in range(per_family):
            t = _fresh(spec.triple, rng, fam, texts)
            texts |= {t.original.problem, t.simple.problem, t.hard.problem}
            for rec in _records(f"{fam}-{i:03d}", fam, t, seen[i]):
                out[rec.split].append(rec)
    return Splits(out["original"], out["simple"], out["hard"])


def manifest(splits: Splits, seed: int = EVAL_SEED) -> dict:
    """Seed, layout, file hashes and counts per split and family."""
    files = {}
    for s in SPLITS:
        recs = splits.by_name(s)
        files[split_path(s).name] = {
            "split": s, "n": len(recs), "sha256": hashlib.sha256(dumps(recs).encode()).hexdigest(),
            "per_family": dict(Counter(p.family for p in recs)), "per_form": dict(sorted(Counter(
                p.form for p in recs).items())), "seed_in_train": sum(p.seed_in_train for p in recs),
            "mean_edit_ratio": round(sum(p.edit_ratio for p in recs) / max(1, len(recs)), 3)}
    return {"name": "perturbarith", "generator_version": GENERATOR_VERSION, "seed": seed,
            "per_family": PER_FAMILY, "L": tokens.L, "P": tokens.P, "vocab_size": tokens.V, "files": files,
            "regenerate": "python3 -m tasks.math.generator --write"}


def write_splits(root: Path = DATA_DIR, seed: int = EVAL_SEED) -> Splits:
    """Generate and write the three JSONL files and manifest.json under ``root``."""
    splits = generate_splits(seed)
    root.mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        split_path(s, root).write_text(dumps(splits.by_name(s)))
    (root / "manifest.json").write_text(json.dumps(manifest(splits, seed), indent=2) + "\n")
    return splits


def main(argv: list[str] | None = None) -> int:
    """CLI: ``--write`` regenerates the committed files, ``--check`` verifies them byte for byte."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    if args.write:
        splits = write_splits()
        print(json.dumps(manifest(splits)["files"], indent=2))
        return 0
    splits = generate_splits()
    stale = [s for s in SPLITS if not split_path(s).exists() or split_path(s).read_text() != dumps(
        splits.by_name(s))]
    for s in stale:
        print(f"stale: {split_path(s)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
