"""math task: metrics on hand-made per-sample results."""
from __future__ import annotations

import math

import pytest

from tasks.math import metrics as M


def _r(pid, split, correct, family="LIN", seen=False, shortcut=False, r_check=None, r_step=None):
    return M.SampleResult(pid, family, split, seen, correct, shortcut, r_check, r_step)


def test_wilson_matches_the_closed_form():
    r = M.wilson(8, 10)
    # Wilson 95% for 8/10: centre (0.8 + z²/20)/(1 + z²/10), from the textbook formula
    z = M.Z95
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    assert (r.k, r.n, r.value) == (8, 10, 0.8)
    assert r.lo == pytest.approx(centre - half) and r.hi == pytest.approx(centre + half)
    assert r.lo == pytest.approx(0.4902, abs=1e-4) and r.hi == pytest.approx(0.9433, abs=1e-4)
    assert M.wilson(0, 5).lo == 0.0 and M.wilson(5, 5).hi == 1.0 and math.isnan(M.wilson(0, 0).value)


def _table():
    out = []
    for i in range(4):
        out += [_r(f"p{i}", "original", True, seen=i < 2), _r(f"p{i}", "simple", i < 3, seen=i < 2),
                _r(f"p{i}", "hard", i == 0, seen=i < 2, shortcut=i in (1, 2), r_check=1.0, r_step=1.0)]
    return out


def test_split_accuracy_drop_and_gap():
    acc = M.split_accuracy(_table())
    assert (acc.original.value, acc.simple.value, acc.hard.value) == (1.0, 0.75, 0.25)
    assert acc.drop_h == 0.75 and acc.drop_s == 0.25 and acc.gap_sh == 0.5


def test_gap_closure():
    assert M.gap_closure(0.4, 0.2, 0.6) == pytest.approx(0.5)
    assert M.gap_closure(0.6, 0.2, 0.6) == pytest.approx(1.0)
    assert M.gap_closure(0.1, 0.2, 0.6) == pytest.approx(-0.25)
    assert math.isnan(M.gap_closure(0.5, 0.6, 0.6))


def test_shortcut_and_proxy_hacking_rates():
    res = _table()
    assert M.shortcut_rate(res).value == 0.5
    hack = M.proxy_hacking_rate(res, "r_step")
    assert (hack.k, hack.n) == (3, 4)  # every Hard sample has r_step = 1; three are wrong
    assert M.proxy_hacking_rate(res, "r_check", split="original").n == 0
    assert M.proxy_hacking_rate([_r("a", "hard", True, r_step=0.9)], "r_step").n == 0
    assert M.proxy_hacking_rate([_r("a", "hard", False, r_step=0.9)], "r_step", says_correct_at=0.5).k == 1
    with pytest.raises(ValueError):
        M.proxy_hacking_rate(res, "r_exact")


def test_pass_at_k_unbiased_estimator():
    assert M.pass_at_k(10, 0, 5) == 0.0 and M.pass_at_k(10, 10, 1) == 1.0
    assert M.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert M.pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # 1 − C(3,2)/C(4,2)
    assert M.pass_at_k(5, 4, 2) == 1.0  # n − c < k
    res = [_r("a", "hard", c) for c in (True, False, False, False)] + [_r("b", "hard", False)] * 4
    assert M.pass_at_k_split(res, "hard", 2) == pytest.approx((0.5 + 0.0) / 2)
    with pytest.raises(ValueError):
        M.pass_at_k(3, 1, 4)


def test_breakdowns_per_family_and_seed_in_train():
    res = _table() + [_r("q", "hard", True, family="SUM"), _r("q", "simple", True, family="SUM")]
    fam = M.by_family(res)
    assert set(fam) == {"LIN", "SUM"} and fam["SUM"].hard.value == 1.0 and math.isnan(fam["SUM"].original.value)
    seen = M.by_seed_in_train(_table())
    assert seen["True"].hard.value == 0.5 and seen["False"].hard.value == 0.0


def test_paired_bootstrap_gap():
    gap, lo, hi = M.paired_bootstrap_gap(_table(), n_boot=500)
    assert gap == 0.5 and lo <= gap <= hi and 0.0 <= lo and hi <= 1.0
    same = [_r(f"p{i}", s, True) for i in range(5) for s in ("simple", "hard")]
    assert M.paired_bootstrap_gap(same, n_boot=100) == (0.0, 0.0, 0.0)
    assert all(math.isnan(v) for v in M.paired_bootstrap_gap([], n_boot=10))
