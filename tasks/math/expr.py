"""Exact parsing over token lists: numbers, answers, `u op v = w` steps, and expressions in ``x``.

All arithmetic is on ``fractions.Fraction``. Every parser returns None on malformed input (never raises), so
rewards can call them on arbitrary model output such as ``9+=2332``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from tasks.math.tokens import DIGITS

MAX_DIGITS = 6  # longer digit runs are malformed (keeps the integers small)
MAX_POW = 30  # exponents above this are malformed in steps and expressions
STEP_OPS = ("+", "-", "*", "/", "^", "MOD")

Tokens = Sequence[str | None]


@dataclass(frozen=True)
class Step:
    """A parsed step ``u op v = w`` (non-negative integers)."""

    u: int
    op: str
    v: int
    w: int


def parse_int(toks: Tokens) -> int | None:
    """A non-negative integer written as 1–MAX_DIGITS digit tokens without a leading zero."""
    if not toks or len(toks) > MAX_DIGITS or any(t not in DIGITS for t in toks):
        return None
    if len(toks) > 1 and toks[0] == "0":
        return None
    return int("".join(toks))  # type: ignore[arg-type]


def parse_number(toks: Tokens) -> Fraction | None:
    """``-``? int (``/`` int)? as an exact Fraction (denominator non-zero)."""
    toks = list(toks)
    sign = 1
    if toks and toks[0] == "-":
        sign, toks = -1, toks[1:]
    if "/" in toks:
        k = toks.index("/")
        num, den = parse_int(toks[:k]), parse_int(toks[k + 1:])
        if num is None or not den:
            return None
        return sign * Fraction(num, den)
    n = parse_int(toks)
    return None if n is None else Fraction(sign * n)


def parse_answer(toks: Tokens) -> tuple[Fraction, ...] | None:
    """A comma-separated answer list, sorted; None if any item is malformed or the list is empty."""
    toks = list(toks)
    if not toks:
        return None
    items, cur = [], []
    for t in toks + [","]:
        if t == ",":
            val = parse_number(cur)
            if val is None:
                return None
            items.append(val)
            cur = []
        else:
            cur.append(t)
    return tuple(sorted(items))


def apply_op(u: int, op: str, v: int) -> Fraction | None:
    """u op v exactly, or None where undefined (division or MOD by zero, a huge power)."""
    if op == "+":
        return Fraction(u + v)
    if op == "-":
        return Fraction(u - v)
    if op == "*":
        return Fraction(u * v)
    if op == "/":
        return Fraction(u, v) if v else None
    if op == "^":
        return Fraction(u ** v) if v <= MAX_POW else None
    if op == "MOD":
        return Fraction(u % v) if v else None
    return None


def parse_step(toks: Tokens) -> Step | None:
    """``u op v = w`` with integer u, v, w; None when malformed."""
    toks = list(toks)
    if toks.count("=") != 1:
        return None
    k = toks.index("=")
    lhs, w = toks[:k], parse_int(toks[k + 1:])
    ops = [i for i, t in enumerate(lhs) if t in STEP_OPS]
    if w is None or len(ops) != 1:
        return None
    i = ops[0]
    u, v = parse_int(lhs[:i]), parse_int(lhs[i + 1:])
    if u is None or v is None:
        return None
    return Step(u, lhs[i], v, w)


def step_holds(step: Step) -> bool:
    """True when the step's arithmetic is exact."""
    val = apply_op(step.u, step.op, step.v)
    return val is not None and val == step.w


def numbers_in(toks: Tokens) -> set[int]:
    """Every maximal digit run of ``toks`` as an integer."""
    out, cur = set(), []
    for t in list(toks) + [None]:
        if t in DIGITS:
            cur.append(t)
        elif cur:
            out.add(int("".join(cur)))
            cur = []
    return out


class _Parser:
    """Recursive descent: expr := term (±term)*; term := factor ((*|/) factor)*; factor := base (^ factor)?;
    base := int | x | ( expr ) | '|' expr '|'. Evaluates at a given x; raises ValueError on malformed input."""

    def __init__(self, toks: Tokens, x: Fraction) -> None:
        self.toks, self.pos, self.x = list(toks), 0, x

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, tok: str) -> None:
        if self.peek() != tok:
            raise ValueError(f"expected {tok}")
        self.pos += 1

    def _fold(self, sub, ops: tuple[str, str]) -> Fraction:
        """sub (op sub)*, left-associative, for op in ``ops``."""
        val = sub()
        while self.peek() in ops:
            op = self.peek()
            self.pos += 1
            rhs = sub()
            if op == "/" and rhs == 0:
                raise ValueError("division by zero")
            val = val + rhs if op == "+" else val - rhs if op == "-" else val * rhs if op == "*" else val / rhs
        return val

    def expr(self) -> Fraction:
        return self._fold(self.term, ("+", "-"))

    def term(self) -> Fraction:
        return self._fold(self.factor, ("*", "/"))

    def factor(self) -> Fraction:
        base = self.base()
        if self.peek() == "^":
            self.pos += 1
            exp = self.factor()
            if exp.denominator != 1 or not 0 <= exp <= MAX_POW:
                raise ValueError("bad exponent")
            return base ** int(exp)
        return base

    def base(self) -> Fraction:
        tok = self.peek()
        if tok == "x":
            self.pos += 1
            return self.x
        if tok in ("(", "|"):
            self.pos += 1
            val = self.expr()
            self.take(")" if tok == "(" else "|")
            return abs(val) if tok == "|" else val
        start = self.pos
        while self.peek() in DIGITS:
            self.pos += 1
        n = parse_int(self.toks[start:self.pos])
        if n is None:
            raise ValueError("expected a number")
        return Fraction(n)


def evaluate(toks: Tokens, x: Fraction | int = 0) -> Fraction | None:
    """Value of an expression in ``x`` (tokens), or None when malformed."""
    p = _Parser(toks, Fraction(x))
    try:
        val = p.expr()
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return val if p.pos == len(p.toks) else None


def satisfies(equation: Tokens, x: Fraction) -> bool:
    """True when ``lhs = rhs`` (tokens) holds exactly at x."""
    toks = list(equation)
    if toks.count("=") != 1:
        return False
    k = toks.index("=")
    lhs, rhs = evaluate(toks[:k], x), evaluate(toks[k + 1:], x)
    return lhs is not None and rhs is not None and lhs == rhs
