"""PerturbArith metrics: pure functions over typed per-sample results.

Accuracy per split with 95% Wilson intervals; Drop_H = Acc_O − Acc_H, Drop_S = Acc_O − Acc_S, Gap_SH =
Acc_S − Acc_H; gap closure GC(B) = (Acc_H(B) − Acc_H(base)) / (Acc_S(base) − Acc_H(base)); shortcut rate (Hard
samples whose answer is the shortcut answer); proxy-hacking rate per proxy (among samples the proxy calls correct,
the fraction the oracle calls wrong); pass@k by the unbiased estimator 1 − C(n−c, k)/C(n, k) (Chen et al. 2021);
a paired bootstrap interval for Gap_SH over problem_id; breakdowns per family and per seed_in_train.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

PROXIES = ("r_check", "r_step", "v_phi")
Z95 = 1.959963984540054


@dataclass(frozen=True)
class SampleResult:
    """One returned sample, scored. ``shortcut`` is only meaningful on the Hard split; proxies are None where a
    run did not compute them."""

    problem_id: str
    family: str
    split: str
    seed_in_train: bool
    correct: bool
    shortcut: bool = False
    r_check: float | None = None
    r_step: float | None = None
    v_phi: float | None = None


@dataclass(frozen=True)
class Rate:
    """A proportion k/n with its 95% Wilson interval (nan when n = 0)."""

    k: int
    n: int
    value: float
    lo: float
    hi: float


@dataclass(frozen=True)
class SplitAccuracy:
    """Acc_O, Acc_S, Acc_H and the differences between them."""

    original: Rate
    simple: Rate
    hard: Rate

    @property
    def drop_h(self) -> float:
        return self.original.value - self.hard.value

    @property
    def drop_s(self) -> float:
        return self.original.value - self.simple.value

    @property
    def gap_sh(self) -> float:
        return self.simple.value - self.hard.value


def wilson(k: int, n: int, z: float = Z95) -> Rate:
    """k successes out of n with the Wilson score interval."""
    if n == 0:
        return Rate(0, 0, math.nan, math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return Rate(k, n, p, max(0.0, mid - half), min(1.0, mid + half))


def _rate(flags: Iterable[bool]) -> Rate:
    flags = list(flags)
    return wilson(sum(flags), len(flags))


def accuracy(results: Sequence[SampleResult], split: str) -> Rate:
    """Oracle accuracy over the samples of one split."""
    return _rate(r.correct for r in results if r.split == split)


def split_accuracy(results: Sequence[SampleResult]) -> SplitAccuracy:
    """Acc_O, Acc_S, Acc_H."""
    return SplitAccuracy(*(accuracy(results, s) for s in ("original", "simple", "hard")))


def gap_closure(acc_h: float, acc_h_base: float, acc_s_base: float) -> float:
    """GC(B): the share of the base Simple→Hard gap recovered; nan when the base has no gap (≤ 0)."""
    gap = acc_s_base - acc_h_base
    return (acc_h - acc_h_base) / gap if gap > 0 else math.nan


def shortcut_rate(results: Sequence[SampleResult]) -> Rate:
    """Fraction of Hard samples whose answer equals the shortcut answer."""
    return _rate(r.shortcut for r in results if r.split == "hard")


def proxy_hacking_rate(results: Sequence[SampleResult], proxy: str, says_correct_at: float = 1.0,
                       split: str | None = None) -> Rate:
    """Among samples with proxy ≥ ``says_correct_at`` (1 = the maximum of r_check / r_step), the fraction the
    oracle calls wrong; samples without that proxy are skipped. ``split`` restricts to one split."""
    if proxy not in PROXIES:
        raise ValueError(f"unknown proxy {proxy!r}; choose from {PROXIES}")
    picked = [r for r in results if (split is None or r.split == split) and getattr(r, proxy) is not None
              and getattr(r, proxy) >= says_correct_at]
    return _rate(not r.correct for r in picked)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 − C(n−c, k)/C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_at_k_split(results: Sequence[SampleResult], split: str, k: int) -> float:
    """Mean pass@k over the problems of one split (each problem's samples are its n draws)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        if r.split == split:
            counts[r.problem_id][0] += 1
            counts[r.problem_id][1] += int(r.correct)
    if not counts:
        return math.nan
    return sum(pass_at_k(n, c, k) for n, c in counts.values()) / len(counts)


def _per_problem(results: Sequence[SampleResult], split: str) -> dict[str, float]:
    acc: dict[str, list[int]] = defaultdict(list)
    for r in results:
        if r.split == split:
            acc[r.problem_id].append(int(r.correct))
    return {pid: sum(v) / len(v) for pid, v in acc.items()}


def paired_bootstrap_gap(results: Sequence[SampleResult], n_boot: int = 2000, seed: int = 0,
                         a: str = "simple", b: str = "hard") -> tuple[float, float, float]:
    """Acc_a − Acc_b over the problem_ids present in both splits, with a 95% paired-bootstrap interval."""
    pa, pb = _per_problem(results, a), _per_problem(results, b)
    ids = sorted(set(pa) & set(pb))
    if not ids:
        return math.nan, math.nan, math.nan
    diffs = [pa[i] - pb[i] for i in ids]
    rng = random.Random(seed)
    boots = sorted(sum(rng.choice(diffs) for _ in ids) / len(ids) for _ in range(n_boot))
    lo, hi = boots[int(0.025 * (n_boot - 1))], boots[int(math.ceil(0.975 * (n_boot - 1)))]
    return sum(diffs) / len(diffs), lo, hi


def breakdown(results: Sequence[SampleResult], key: Callable[[SampleResult], object]) -> dict[str, SplitAccuracy]:
    """SplitAccuracy per group, e.g. ``key=lambda r: r.family`` or ``lambda r: r.seed_in_train``."""
    groups: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        groups[str(key(r))].append(r)
    return {g: split_accuracy(rs) for g, rs in sorted(groups.items())}


def by_family(results: Sequence[SampleResult]) -> dict[str, SplitAccuracy]:
    """SplitAccuracy per family."""
    return breakdown(results, lambda r: r.family)


def by_seed_in_train(results: Sequence[SampleResult]) -> dict[str, SplitAccuracy]:
    """SplitAccuracy for seen ("True") and unseen ("False") seed tuples."""
    return breakdown(results, lambda r: r.seed_in_train)
