"""LIN, ABS and MINSQ: equations and minima where a 1–3-token edit switches the method.

LIN    Original ``a*x+b=c`` (M1: subtract, then divide); Simple: new x, either summand order; Hard (one of):
       ``a*x-b=c`` (add back), ``a*(x+b)=c`` (divide first), ``x/a+b=c`` (multiply); shortcut (c−b)/a.
ABS    Original ``a*(x-b)=c`` (divide, add back); Simple: new c; Hard ``a*|x-b|=c`` (two roots, answer both,
       ascending; the bars replace the brackets: a 2-token edit); shortcut the single M1 root b + c/a.
MINSQ  Original ``min x^2+b*x+c`` (c − (b/2)², b even); Simple: new c, either sign of b; Hard
       ``min x^2+b*|x|+c`` (b > 0: minimum at x = 0, equal to c); shortcut c − (b/2)².
"""
from __future__ import annotations

import random
from fractions import Fraction

from tasks.math.families.base import Chain, Reject, Triple, Variant, fmt, fmt_list, guarded, nearest, other


def _lin_m1(a: int, b: int, c: int, order: str) -> Variant:
    ch = Chain()
    x = ch(ch(c, "-", b), "/", a)
    text = f"{a}*x+{b}={c}" if order == "axb" else f"{b}+{a}*x={c}"
    return Variant(f"lin.{order}", text, ch.solution(str(x)), str(x))


def _lin_hard(form: str, a: int, b: int, c: int) -> Variant:
    ch = Chain()
    if form == "axmb":
        text, x = f"{a}*x-{b}={c}", ch(ch(c, "+", b), "/", a)
    elif form == "apar":
        text, x = f"{a}*(x+{b})={c}", ch(ch(c, "/", a), "-", b)
    else:
        text, x = f"x/{a}+{b}={c}", ch(ch(c, "-", b), "*", a)
    if x == 0:
        raise Reject("zero root")
    return Variant(f"lin.{form}", text, ch.solution(str(x)), str(x), fmt(Fraction(c - b, a)))


def _hard_ok(build, original: Variant):
    """ok(value) for ``nearest``: the Hard variant builds, its answer differs from the Original's and the shortcut."""
    def ok(v: int) -> bool:
        if not guarded(build)(v):
            return False
        h = build(v)
        return h.answer not in (original.answer, h.shortcut)
    return ok


def lin_triple(rng: random.Random) -> Triple:
    """One LIN seed tuple."""
    a, b, x = rng.randint(2, 9), rng.randint(1, 30), rng.randint(1, 20)
    orig = _lin_m1(a, b, a * x + b, "axb")
    x2 = other(rng, 1, 20, x)
    simple = _lin_m1(a, b, a * x2 + b, rng.choice(["axb", "bax"]))
    form = rng.choice(["axmb", "apar", "xdiv"])
    build = lambda c: _lin_hard(form, a, b, c)
    hard = build(nearest(a * x + b, _hard_ok(build, orig), 1, 999))
    return Triple(orig, simple, hard)


def lin_skill(rng: random.Random) -> Variant:
    """``x-b=c`` (add back), ``x+b=c``, ``a*x=c`` (divide) or ``x/a=c`` (multiply)."""
    form = rng.choice(["xmb", "xpb", "ax", "xdiv"])
    if form == "ax":
        return lin_skill_ax(rng)
    ch = Chain()
    if form == "xdiv":
        a, c = rng.randint(2, 9), rng.randint(1, 20)
        x = ch(c, "*", a)
        return Variant("lin.skill.xdiv", f"x/{a}={c}", ch.solution(str(x)), str(x))
    b, x = rng.randint(1, 30), rng.randint(1, 40)
    c = x - b if form == "xmb" else x + b
    if c < 1:
        raise Reject("non-positive c")
    ch(c, "+" if form == "xmb" else "-", b)
    return Variant(f"lin.skill.{form}", f"x{'-' if form == 'xmb' else '+'}{b}={c}", ch.solution(str(x)), str(x))


def _abs_m1(a: int, b: int, k: int) -> Variant:
    ch = Chain()
    x = ch(ch(a * k, "/", a), "+", b)
    return Variant("abs.par", f"{a}*(x-{b})={a * k}", ch.solution(str(x)), str(x))


def _abs_roots(ch: Chain, b: int, k: int) -> str:
    return fmt_list([ch(b, "-", k), ch(b, "+", k)])


def abs_triple(rng: random.Random) -> Triple:
    """One ABS seed tuple (k = c/a < b keeps both roots positive)."""
    a, b = rng.randint(2, 9), rng.randint(3, 30)
    k = rng.randint(1, b - 1)
    orig, simple = _abs_m1(a, b, k), _abs_m1(a, b, other(rng, 1, b - 1, k))
    ch = Chain()
    ch(a * k, "/", a)
    roots = _abs_roots(ch, b, k)
    hard = Variant("abs.bars", f"{a}*|x-{b}|={a * k}", ch.solution(roots), roots, str(b + k))
    return Triple(orig, simple, hard)


def abs_skill(rng: random.Random) -> Variant:
    """``|x-b|=k`` (two roots) or ``a*x=c`` (divide)."""
    if rng.random() < 0.5:
        return lin_skill_ax(rng)
    b = rng.randint(3, 30)
    k = rng.randint(1, b - 1)
    ch = Chain()
    roots = _abs_roots(ch, b, k)
    return Variant("abs.skill.bars", f"|x-{b}|={k}", ch.solution(roots), roots)


def lin_skill_ax(rng: random.Random) -> Variant:
    """``a*x=c`` → c/a."""
    a, x = rng.randint(2, 9), rng.randint(1, 20)
    ch = Chain()
    ch(a * x, "/", a)
    return Variant("lin.skill.ax", f"{a}*x={a * x}", ch.solution(str(x)), str(x))


def _minsq_m1(b: int, c: int, sign: str) -> Variant:
    ch = Chain()
    h = ch(b, "/", 2)
    w = ch(c, "-", ch(h, "*", h))
    if w == 0:
        raise Reject("zero minimum")
    return Variant(f"minsq.{'plus' if sign == '+' else 'minus'}", f"min x^2{sign}{b}*x+{c}", ch.solution(str(w)),
                   str(w))


def minsq_triple(rng: random.Random) -> Triple:
    """One MINSQ seed tuple (b even, c > (b/2)² so every value is positive)."""
    b = 2 * rng.randint(1, 9)
    lo = (b // 2) ** 2 + 1
    c = rng.randint(lo, min(99, lo + 50))
    orig = _minsq_m1(b, c, "+")
    simple = _minsq_m1(b, other(rng, lo, min(99, lo + 50), c), rng.choice("+-"))
    ch = Chain()
    ch(c, "+", ch(b, "*", 0))
    hard = Variant("minsq.absx", f"min x^2+{b}*|x|+{c}", ch.solution(str(c)), str(c), fmt(c - (b // 2) ** 2))
    return Triple(orig, simple, hard)


def minsq_skill(rng: random.Random) -> Variant:
    """``min x^2+c`` or ``min b*|x|+c``: the minimum at x = 0."""
    b, c = rng.randint(1, 20), rng.randint(1, 99)
    ch = Chain()
    if rng.random() < 0.5:
        ch(c, "+", ch(0, "*", 0))
        return Variant("minsq.skill.sq", f"min x^2+{c}", ch.solution(str(c)), str(c))
    ch(c, "+", ch(b, "*", 0))
    return Variant("minsq.skill.absx", f"min {b}*|x|+{c}", ch.solution(str(c)), str(c))
