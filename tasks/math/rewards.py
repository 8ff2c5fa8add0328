"""PerturbArith rewards on token tensors, with explicit roles. All are batched over (N, L) ids (MASK = V allowed;
a soft (N, L, V') input is read by argmax) and never raise: malformed rows such as ``9+=2332`` score as failures.

- ``r_exact`` (role **oracle**; needs the label): 1 when the text after ``#`` is a well-formed answer equal to the
  gold answer as an exact sorted Fraction list (no tolerance, no percent leniency), else 0 (malformed, masked or
  missing answers are wrong). For scoring and pass@N ceilings only.
- ``r_check`` (role **proxy**; label-free): reads the problem from the row's own prompt and verifies the answer;
  per family see ``CHECKS``. 1 or 0; RATE has no checker and always gets 0 (a constant, so it never ranks).
- ``r_step`` (role **proxy**; label-free, partial sequences): over the *fully unmasked* steps before ``#``, the
  fraction of checks that pass, times a grounding term. Checks: each step parses as ``u op v = w`` (non-negative
  integers, op in + - * / ^ MOD) and holds exactly; plus, once the answer is unmasked (or the row is complete
  without one), one consistency check that every answer value is the result of a valid step. Grounding is 0 when
  the first step is fully unmasked but uses no number of the problem. A row with nothing checkable gets ``EMPTY``.
  Blind spot, kept on purpose: M1 applied to a Hard problem is valid arithmetic and scores 1.
- ``shortcut_hit``: 1 when the answer equals the Hard problem's shortcut answer (M1 applied literally).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

import torch

from tasks.math import expr
from tasks.math.tokens import A_ID, MASK_ID, PAD, PAD_ID, Q_ID, VOCAB, P, V, tokenize

ROLES = {"r_exact": "oracle", "r_check": "proxy", "r_step": "proxy"}
CHECKS = {
    "LIN": "substitutes the answer into the equation (exact); a linear equation has one root, so this is exact",
    "ABS": "substitutes every listed root (distinct values); soundness only: the single-root shortcut passes",
    "SUM": "recomputes the sum (or count) by enumerating the range with its STEP",
    "MODPOW": "recomputes a*b mod m, a^k mod m (pow) or a plain reduction",
    "RATE": "none: word problems have no label-free checker here; r_check is 0 for every sample",
    "MINSQ": "evaluates the expression on the integers -100..100 and compares with the minimum (the generator's "
             "minimisers are integers in that range)",
}
CHECK_AVAILABLE = {fam: fam != "RATE" for fam in CHECKS}
EMPTY = 0.0  # r_step of a row with no checkable step and no answer check
GRID = range(-100, 101)
_BAD = "<bad>"  # an out-of-range id: never parses


@dataclass(frozen=True)
class RowView:
    """What the rewards need from one row: problem tokens, the step segments and the answer state."""

    problem: tuple[str, ...] | None  # None when the prompt layout is broken
    segments: tuple[tuple[str | None, ...], ...]  # steps before '#' (None = [MASK])
    answer: tuple[Fraction, ...] | None  # parsed answer (None unless state == "ok")
    state: str  # "ok" | "masked" | "malformed" | "missing"


def _tok(i: int) -> str | None:
    return None if i == MASK_ID else (VOCAB[i] if 0 <= i < V else _BAD)


def _problem(prompt: Sequence[int]) -> tuple[str, ...] | None:
    body = [i for i in prompt if i != PAD_ID]
    if len(body) < 3 or body[0] != Q_ID or body[-1] != A_ID or list(prompt[:len(prompt) - len(body)]) != [
            PAD_ID] * (len(prompt) - len(body)):
        return None
    toks = tuple(_tok(i) for i in body[1:-1])
    return None if any(t in (None, _BAD, PAD, "Q", "A") for t in toks) else toks


def _answer(after: list[str | None]) -> tuple[tuple[Fraction, ...] | None, str]:
    """Parse the tokens after '#': the answer up to the first PAD, then PAD only."""
    end = after.index(PAD) if PAD in after else len(after)
    ans, tail = after[:end], after[end:]
    if None in ans or None in tail:
        return None, "masked"
    if any(t != PAD for t in tail):
        return None, "malformed"
    val = expr.parse_answer(ans)
    return (val, "ok") if val is not None else (None, "malformed")


def _split(toks: list[str | None]) -> tuple[tuple[str | None, ...], ...]:
    if not toks:
        return ()
    segs, cur = [], []
    for t in toks + [";"]:
        if t == ";":
            segs.append(tuple(cur))
            cur = []
        else:
            cur.append(t)
    return tuple(segs)


@lru_cache(maxsize=1 << 14)  # ~16k rows, a few tens of MB at most
def view(row: tuple[int, ...]) -> RowView:
    """Parse one row of ids (cached: particles of one instance share rows)."""
    toks = [_tok(i) for i in row[P:]]
    problem = _problem(row[:P])
    if "#" not in toks:
        while toks and toks[-1] == PAD:
            toks.pop()
        return RowView(problem, _split(toks), None, "masked" if None in toks else "missing")
    k = toks.index("#")
    ans, state = _answer(toks[k + 1:])
    return RowView(problem, _split(toks[:k]), ans, state)


def _rows(x0: torch.Tensor) -> list[tuple[int, ...]]:
    """(N, L) ids (or (N, L, V') soft input, read by argmax) as tuples."""
    ids = x0.argmax(-1) if x0.dim() == 3 else x0  # (N, L)
    return [tuple(r) for r in ids.long().cpu().tolist()]


def step_score(v: RowView) -> float:
    """r_step of one parsed row."""
    checks, results = [], set()
    for seg in v.segments:
        if None in seg:
            continue
        step = expr.parse_step(seg)
        ok = step is not None and expr.step_holds(step)
        checks.append(ok)
        if ok:
            results.add(Fraction(step.w))
    if v.state == "ok":
        checks.append(bool(v.answer) and all(a in results for a in v.answer))
    elif v.state in ("missing", "malformed"):
        checks.append(False)
    if not checks:
        return EMPTY
    return _grounding(v) * sum(checks) / len(checks)


def _grounding(v: RowView) -> float:
    if not v.segments or None in v.segments[0]:
        return 1.0
    step = expr.parse_step(v.segments[0])
    nums = expr.numbers_in(v.problem or ())
    return float(step is not None and (step.u in nums or step.v in nums))


@lru_cache(maxsize=4096)
def _truth(problem: tuple[str, ...]) -> tuple[Fraction, ...] | None:
    """The brute-force answer of a SUM / COUNT / MOD / min problem; None for other kinds or malformed text."""
    toks = list(problem)
    if toks and toks[0] in ("SUM", "COUNT") and ".." in toks:
        k = toks.index("..")
        step = 1
        hi_toks = toks[k + 1:]
        if "STEP" in hi_toks:
            j = hi_toks.index("STEP")
            step, hi_toks = expr.parse_int(hi_toks[j + 1:]), hi_toks[:j]
        lo, hi = expr.parse_int(toks[1:k]), expr.parse_int(hi_toks)
        if lo is None or hi is None or not step:
            return None
        rng = range(lo, hi + 1, step)
        return (Fraction(sum(rng) if toks[0] == "SUM" else len(rng)),)
    if "MOD" in toks:
        k = toks.index("MOD")
        m, lhs = expr.parse_int(toks[k + 1:]), toks[:k]
        if not m:
            return None
        if "^" in lhs:
            j = lhs.index("^")
            a, e = expr.parse_int(lhs[:j]), expr.parse_int(lhs[j + 1:])
            return None if a is None or e is None else (Fraction(pow(a, e, m)),)
        val = expr.evaluate(lhs)
        return None if val is None or val.denominator != 1 else (Fraction(int(val) % m),)
    if toks and toks[0] == "min":
        vals = [expr.evaluate(toks[1:], x) for x in GRID]
        return None if None in vals else (min(vals),)
    return None


def check_score(v: RowView) -> float:
    """r_check of one parsed row (label-free)."""
    if v.state != "ok" or v.problem is None or "has" in v.problem:
        return 0.0
    if "=" in v.problem:
        ok = len(set(v.answer)) == len(v.answer) and all(expr.satisfies(v.problem, a) for a in v.answer)
        return float(ok)
    truth = _truth(v.problem)
    return float(truth is not None and truth == v.answer)


def _safe(fn, row: tuple[int, ...]) -> float:
    try:
        return fn(view(row))
    except Exception:  # noqa: BLE001 - the contract: a malformed row scores as a failure, never raises
        return 0.0


def r_step(x0: torch.Tensor, instance: torch.Tensor | None = None) -> torch.Tensor:
    """Step-checker proxy, (N,) float in [0, 1]; defined on partial rows (MASK allowed)."""
    return torch.tensor([_safe(step_score, r) for r in _rows(x0)], dtype=torch.float32)


def r_check(x0: torch.Tensor, instance: torch.Tensor | None = None) -> torch.Tensor:
    """Label-free verifier proxy, (N,) float in {0, 1}."""
    return torch.tensor([_safe(check_score, r) for r in _rows(x0)], dtype=torch.float32)


def parse_label(text: str | None) -> tuple[Fraction, ...] | None:
    """A label (gold or shortcut answer text) as a sorted Fraction tuple; None for None or malformed text."""
    if text is None:
        return None
    try:
        return expr.parse_answer(tokenize(text))
    except ValueError:
        return None


def _match(x0: torch.Tensor, labels: Sequence[tuple[Fraction, ...] | None], instance: torch.Tensor) -> torch.Tensor:
    out = []
    for row, i in zip(_rows(x0), instance.long().cpu().tolist()):
        try:
            v = view(row)
            out.append(float(v.state == "ok" and labels[i] is not None and v.answer == labels[i]))
        except Exception:  # noqa: BLE001 - never raise on model output
            out.append(0.0)
    return torch.tensor(out, dtype=torch.float32)


class ExactOracle:
    """r_exact bound to the gold answers of a problem list: ``oracle(x0, instance) -> (N,)`` in {0, 1}."""

    role = "oracle"

    def __init__(self, answers: Sequence[str]) -> None:
        self.labels = [parse_label(a) for a in answers]

    def __call__(self, x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        return _match(x0, self.labels, instance)


class ShortcutDetector:
    """1 where the answer equals the problem's shortcut answer (0 where a problem has none)."""

    def __init__(self, shortcuts: Sequence[str | None]) -> None:
        self.labels = [parse_label(s) for s in shortcuts]

    def __call__(self, x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        return _match(x0, self.labels, instance)


def answer_key(x0: torch.Tensor, instance: torch.Tensor | None = None) -> list[tuple[Fraction, ...] | None]:
    """Label-free final answer of each row (sorted Fraction tuple), None unless the answer parses ("ok"): the
    objective's answer key for majority vote. Reads the row only, never a label."""
    return [v.answer if v.state == "ok" else None for v in map(view, _rows(x0))]


def answer_state(x0: torch.Tensor) -> list[str]:
    """Per row: "ok", "masked", "malformed" or "missing" (for the malformed-output rate)."""
    return [view(r).state for r in _rows(x0)]


def r_exact(x0: torch.Tensor, answers: Sequence[str], instance: torch.Tensor) -> torch.Tensor:
    """Oracle accuracy of each row against ``answers[instance]``: (N,) float in {0, 1}."""
    return ExactOracle(answers)(x0, instance)
