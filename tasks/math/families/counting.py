"""SUM, MODPOW and RATE: counting, modular powers and a controlled-word rate problem.

SUM     Original ``SUM m..n`` (count n−m+1, Gauss); Simple: new n; Hard ``SUM m..n STEP 2`` (h = (n−m)/2,
        count h+1, mean m+h; n moves by at most 1 so that n−m is even); shortcut the M1 formula
        (n−m+1)(m+n)/2 on the Hard range.
MODPOW  Original ``a*b MOD m`` (multiply, reduce); Simple: new b; Hard ``a^b MOD m`` (m prime: Fermat, reduce the
        exponent mod m−1, then power and reduce; b moves to the nearest exponent that keeps a^e ≤ 999); shortcut
        (a·b) mod m.
RATE    Original ``NAME has p buys q packs of r`` (p + q·r); Simple: new name and p; Hard ``… gives q packs of r``
        (p − q·r; p moves to the nearest value that keeps the result positive); shortcut p + q·r.
"""
from __future__ import annotations

import random

from tasks.math.families.base import Chain, Reject, Triple, Variant, guarded, nearest, other
from tasks.math.tokens import NAMES

PRIMES = (5, 7, 11, 13)


def _sum_m1(m: int, n: int) -> Variant:
    ch = Chain()
    k = ch(ch(n, "-", m), "+", 1)
    w = ch(ch(k, "*", ch(m, "+", n)), "/", 2)
    return Variant("sum.gauss", f"SUM {m}..{n}", ch.solution(str(w)), str(w))


def _sum_step2(m: int, n: int) -> Variant:
    if (n - m) % 2:
        raise Reject("odd range")
    ch = Chain()
    h = ch(ch(n, "-", m), "/", 2)
    k = ch(h, "+", 1)  # the count first: the same steps as the COUNT m..n STEP 2 skill source
    w = ch(k, "*", ch(m, "+", h))  # count × mean term, the mean (m+n)/2 = m + h
    short = (n - m + 1) * (m + n) // 2
    return Variant("sum.step2", f"SUM {m}..{n} STEP 2", ch.solution(str(w)), str(w), str(short))


def sum_triple(rng: random.Random) -> Triple:
    """One SUM seed tuple."""
    m = rng.randint(1, 15)
    n = rng.randint(m + 4, m + 24)
    orig, simple = _sum_m1(m, n), _sum_m1(m, other(rng, m + 4, m + 24, n))
    hard = _sum_step2(m, n if (n - m) % 2 == 0 else n + 1)
    return Triple(orig, simple, hard)


def sum_skill(rng: random.Random) -> Variant:
    """``COUNT m..n STEP 2`` or ``COUNT m..n``: the count alone."""
    m = rng.randint(1, 15)
    n = rng.randint(m + 2, m + 30)
    ch = Chain()
    if rng.random() < 0.5:
        k = ch(ch(n, "-", m), "+", 1)
        return Variant("sum.skill.count", f"COUNT {m}..{n}", ch.solution(str(k)), str(k))
    n += (n - m) % 2
    k = ch(ch(ch(n, "-", m), "/", 2), "+", 1)
    return Variant("sum.skill.count2", f"COUNT {m}..{n} STEP 2", ch.solution(str(k)), str(k))


def _mod_m1(a: int, b: int, m: int) -> Variant:
    ch = Chain()
    r = ch(ch(a, "*", b), "MOD", m)
    return Variant("modpow.mul", f"{a}*{b} MOD {m}", ch.solution(str(r)), str(r))


def _mod_fermat(a: int, b: int, m: int) -> Variant:
    ch = Chain()
    e = ch(b, "MOD", m - 1)
    if e == 0:
        raise Reject("exponent reduces to 0")
    r = ch(ch(a, "^", e), "MOD", m)
    return Variant("modpow.fermat", f"{a}^{b} MOD {m}", ch.solution(str(r)), str(r), str(a * b % m))


def modpow_triple(rng: random.Random) -> Triple:
    """One MODPOW seed tuple (m prime, a not a multiple of m, b a two-digit exponent)."""
    m = rng.choice(PRIMES)
    a = rng.choice([v for v in range(2, 10) if v % m])
    b = rng.randint(10, 60)
    orig, simple = _mod_m1(a, b, m), _mod_m1(a, other(rng, 10, 60, b), m)
    build = lambda k: _mod_fermat(a, k, m)

    def ok(k: int) -> bool:
        return guarded(build)(k) and build(k).answer not in (orig.answer, build(k).shortcut)
    return Triple(orig, simple, build(nearest(b, ok, 10, 99)))


def modpow_skill(rng: random.Random) -> Variant:
    """``a^e MOD m`` with a small exponent, or a plain reduction ``b MOD f``."""
    ch = Chain()
    if rng.random() < 0.5:
        m = rng.choice(PRIMES)
        a, e = rng.randint(2, 9), rng.randint(1, m - 2)
        r = ch(ch(a, "^", e), "MOD", m)
        return Variant("modpow.skill.pow", f"{a}^{e} MOD {m}", ch.solution(str(r)), str(r))
    b, f = rng.randint(10, 99), rng.choice([p - 1 for p in PRIMES])
    r = ch(b, "MOD", f)
    return Variant("modpow.skill.mod", f"{b} MOD {f}", ch.solution(str(r)), str(r))


def _rate(name: str, p: int, verb: str, q: int, r: int) -> Variant:
    ch = Chain()
    s = ch(q, "*", r)
    w = ch(p, "+" if verb == "buys" else "-", s)
    if w == 0:
        raise Reject("zero result")
    short = str(p + s) if verb == "gives" else None
    form = "rate.buys" if verb == "buys" else "rate.gives"
    return Variant(form, f"{name} has {p} {verb} {q} packs of {r}", ch.solution(str(w)), str(w), short)


def rate_triple(rng: random.Random) -> Triple:
    """One RATE seed tuple."""
    name, q, r = rng.choice(NAMES), rng.randint(2, 9), rng.randint(2, 12)
    p = rng.randint(5, 60)
    orig = _rate(name, p, "buys", q, r)
    simple = _rate(rng.choice([n for n in NAMES if n != name]), other(rng, 5, 60, p), "buys", q, r)
    build = lambda v: _rate(name, v, "gives", q, r)
    hard = build(nearest(p, lambda v: guarded(build)(v) and build(v).answer != orig.answer, 1, 99, radius=99))
    return Triple(orig, simple, hard)


def rate_skill(rng: random.Random) -> Variant:
    """``NAME has p gives s`` (subtract) or ``NAME has p buys s`` (add)."""
    name, p, s = rng.choice(NAMES), rng.randint(5, 99), rng.randint(1, 60)
    verb = rng.choice(["gives", "buys"])
    ch = Chain()
    w = ch(p, "-" if verb == "gives" else "+", s)
    if w == 0:
        raise Reject("zero result")
    return Variant(f"rate.skill.{verb}", f"{name} has {p} {verb} {s}", ch.solution(str(w)), str(w))
