"""Shared pieces of the family generators: variants, exact step chains, and rejection.

A family module exposes ``triple(rng) -> Triple`` (Original / Simple / Hard built from one seed tuple; the Hard
variant carries the shortcut answer) and ``skill(rng) -> Variant`` (a skill source: the Hard method in a different
surface form). Both raise ``Reject`` when a draw breaks a constraint; the generator then draws again.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

MAX_VALUE = 999  # intermediate values have at most 3 digits


class Reject(Exception):
    """A draw that breaks a constraint (non-integer or too large intermediate, equal answers, too long)."""


@dataclass(frozen=True)
class Variant:
    """One problem: its form tag, text, gold solution ``steps#answer``, answer and (Hard only) shortcut answer."""

    form: str
    problem: str
    solution: str
    answer: str
    shortcut: str | None = None


@dataclass(frozen=True)
class Triple:
    """The three variants of one seed tuple (paired by problem_id in the splits)."""

    original: Variant
    simple: Variant
    hard: Variant


def fmt(value: Fraction | int) -> str:
    """Exact answer text: ``p`` or ``p/q`` (``-`` for negatives)."""
    v = Fraction(value)
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def fmt_list(values: list[int]) -> str:
    """Comma-separated ascending integer list."""
    return ",".join(str(v) for v in sorted(values))


class Chain:
    """Gold steps ``u op v = w`` computed exactly; rejects non-integer, negative or > MAX_VALUE results."""

    _OPS: dict[str, Callable[[int, int], Fraction]] = {
        "+": lambda u, v: Fraction(u + v), "-": lambda u, v: Fraction(u - v), "*": lambda u, v: Fraction(u * v),
        "/": lambda u, v: Fraction(u, v), "^": lambda u, v: Fraction(u ** v), "MOD": lambda u, v: Fraction(u % v),
    }

    def __init__(self) -> None:
        self.steps: list[str] = []

    def __call__(self, u: int, op: str, v: int) -> int:
        w = self._OPS[op](u, v)
        if w.denominator != 1 or not 0 <= w <= MAX_VALUE:
            raise Reject(f"{u}{op}{v} = {w}")
        sep = " " if op == "MOD" else ""
        self.steps.append(f"{u}{sep}{op}{sep}{v}={int(w)}")
        return int(w)

    def solution(self, answer: str) -> str:
        """``step;step;…#answer``."""
        return ";".join(self.steps) + "#" + answer


def nearest(center: int, ok: Callable[[int], bool], lo: int, hi: int, radius: int = 60) -> int:
    """The value closest to ``center`` in [lo, hi] (ties: the larger) with ok(value); Reject if none within radius."""
    for d in range(radius + 1):
        for v in (center + d, center - d) if d else (center,):
            if lo <= v <= hi and ok(v):
                return v
    raise Reject(f"no value near {center}")


def other(rng: random.Random, lo: int, hi: int, avoid: int) -> int:
    """A uniform draw from [lo, hi] different from ``avoid``."""
    v = rng.randint(lo, hi - 1)
    return v + 1 if v >= avoid else v


def guarded(fn: Callable[[int], Variant]) -> Callable[[int], bool]:
    """ok(value) for ``nearest``: True when fn(value) builds without Reject."""
    def ok(v: int) -> bool:
        try:
            fn(v)
        except Reject:
            return False
        return True
    return ok
