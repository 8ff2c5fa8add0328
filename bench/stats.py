"""Bootstrap statistics for the report: intervals of a cell's mean and paired comparisons between cells.

A cell holds one value per seed (set-level metrics) or one array of per-sample values per seed (per-sample
metrics). The cell mean is the mean of the seed means. Intervals are 95% percentile bootstraps:

- per-sample metrics: a nested bootstrap (resample seeds with replacement, then resample the samples within each
  chosen seed with replacement) so that both seed-to-seed and sample-to-sample variation count;
- set-level metrics: a bootstrap over seeds. With S seeds the chance that a resample repeats the lowest seed S
  times is S**-S; while that exceeds the 2.5% tail the percentile interval is just [min, max] of the seeds
  (S = 2: 25%, S = 3: 3.7%), so below ``MIN_SEEDS`` = 4 seeds the interval is Student's t over the seed values
  (mean ± t_{0.975, S-1}·sd/√S, normal seeds assumed; wide on purpose: t = 12.7 for 2 seeds), and "n/a" for 1.

Every bootstrap is seeded (deterministic): the same data give the same interval.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

N_BOOT = 2000
LEVEL = 0.95
MIN_SEEDS = next(s for s in range(2, 100) if s ** -s < (1 - LEVEL) / 2)  # 4: fewer give [min, max]
# Student t quantiles t_{0.975, df} for the seed counts below MIN_SEEDS (df = S - 1; tests check them against scipy)
T975 = {1: 12.706204736174707, 2: 4.302652729749464}
METHOD_TEXT = ("95% percentile bootstrap of the cell mean (mean of seed means), 2000 resamples, fixed seed: "
               "per-sample metrics resample seeds, then samples within each chosen seed (nested); set-level "
               "metrics resample seeds (with 2 or 3 seeds, where a percentile bootstrap is just [min, max], a "
               "Student-t interval over the seed values instead; n/a for one seed). Paired comparisons draw the "
               "same seeds for both cells (matched seeds) and, at equal sample counts, pair sample i with sample "
               "i (same generator).")


@dataclass(frozen=True)
class Interval:
    """Mean and 95% interval of one cell's metric; ``lo``/``hi`` are NaN when no interval exists."""

    mean: float
    lo: float
    hi: float
    seeds: int
    n: int  # samples per seed (the report fills it in for set-level metrics too)
    kind: str  # "nested" | "seeds" | "t" | "none"

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.lo) and np.isfinite(self.hi))


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of cell A against cell B on matching seeds: mean difference A - B and its interval;
    ``outcome`` is "win" / "tie" / "loss" for A (direction from higher_is_better), or "n/a" without an interval."""

    diff: float
    lo: float
    hi: float
    seeds: int
    outcome: str


def rng_for(*arrays: np.ndarray) -> np.random.Generator:
    """A generator seeded from the data it resamples (crc32 of the float64 bytes): the same values give the same
    interval wherever they appear (two cells with identical data show identical intervals), in any process."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a, dtype=np.float64).tobytes(), crc)
    return np.random.default_rng(crc)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def _seed_boot(means: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot,) bootstrap means over seeds."""
    idx = rng.integers(0, len(means), (n_boot, len(means)))  # (B, S)
    return means[idx].mean(1)


def _nested_boot(groups: list[np.ndarray], seed_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) nested bootstrap means for given seed draws ``seed_idx`` (B, S): samples resampled per draw."""
    n_boot, n_seeds = seed_idx.shape
    out = np.zeros(n_boot)
    for s, vals in enumerate(groups):  # each seed's samples, resampled wherever that seed was drawn
        hits = np.argwhere(seed_idx == s)  # (H, 2) rows (boot, position)
        if len(hits) == 0:
            continue
        draws = vals[rng.integers(0, len(vals), (len(hits), len(vals)))].mean(1)  # (H,)
        np.add.at(out, hits[:, 0], draws)
    return out / n_seeds


def _percentiles(boot: np.ndarray) -> tuple[float, float]:
    alpha = (1 - LEVEL) / 2
    return float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """95% Student-t interval of the mean of 2 or 3 values (df = len - 1)."""
    half = T975[len(values) - 1] * float(np.std(values, ddof=1)) / np.sqrt(len(values))
    return float(values.mean()) - half, float(values.mean()) + half


def seed_interval(values: list[float], n_boot: int = N_BOOT) -> Interval:
    """Mean of per-seed values and a bootstrap-over-seeds interval (none below ``MIN_SEEDS`` finite seeds)."""
    means = _finite(np.array(values, dtype=float))
    if len(means) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, 0, "none")
    if len(means) == 1:
        return Interval(float(means.mean()), float("nan"), float("nan"), 1, 0, "none")
    if len(means) < MIN_SEEDS:
        lo, hi = t_interval(means)
        return Interval(float(means.mean()), lo, hi, len(means), 0, "t")
    lo, hi = _percentiles(_seed_boot(means, rng_for(means), n_boot))
    return Interval(float(means.mean()), lo, hi, len(means), 0, "seeds")


def nested_interval(groups: list[np.ndarray], n_boot: int = N_BOOT) -> Interval:
    """Mean of seed means and a nested (seeds, then samples within seed) bootstrap interval."""
    groups = [g for g in (_finite(g) for g in groups) if len(g)]
    if not groups:
        return Interval(float("nan"), float("nan"), float("nan"), 0, 0, "none")
    rng = rng_for(*groups)
    mean = float(np.mean([g.mean() for g in groups]))
    seed_idx = rng.integers(0, len(groups), (n_boot, len(groups)))  # (B, S)
    lo, hi = _percentiles(_nested_boot(groups, seed_idx, rng))
    return Interval(mean, lo, hi, len(groups), max(len(g) for g in groups), "nested")


def _outcome(lo: float, hi: float, higher_is_better: bool) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    if lo <= 0 <= hi:
        return "tie"
    better = lo > 0 if higher_is_better else hi < 0
    return "win" if better else "loss"


def paired_seeds(a: dict[int, float], b: dict[int, float], higher_is_better: bool,
                 n_boot: int = N_BOOT) -> Comparison:
    """A - B on the seeds both have (set-level metric): bootstrap over matched seeds (Student t on the paired
    differences below ``MIN_SEEDS``; n/a for one seed)."""
    seeds = sorted(s for s in set(a) & set(b) if np.isfinite(a[s]) and np.isfinite(b[s]))
    diffs = np.array([a[s] - b[s] for s in seeds])
    if len(diffs) < 2:
        return Comparison(float(diffs.mean()) if len(diffs) else float("nan"), float("nan"), float("nan"),
                          len(diffs), "n/a")
    if len(diffs) < MIN_SEEDS:
        lo, hi = t_interval(diffs)
        return Comparison(float(diffs.mean()), lo, hi, len(diffs), _outcome(lo, hi, higher_is_better))
    lo, hi = _percentiles(_seed_boot(diffs, rng_for(diffs), n_boot))
    return Comparison(float(diffs.mean()), lo, hi, len(diffs), _outcome(lo, hi, higher_is_better))


def paired_nested(a: dict[int, np.ndarray], b: dict[int, np.ndarray], higher_is_better: bool,
                  n_boot: int = N_BOOT) -> Comparison:
    """A - B on matched seeds (per-sample metric), nested bootstrap with the same seed draws for both cells.

    When both cells have the same number of samples in every matched seed, sample i of A is paired with sample i
    of B (common random numbers: both come from the generator of (seed, i)) and the per-sample differences are
    resampled; otherwise each cell's samples are resampled independently within each drawn seed."""
    seeds = sorted(s for s in set(a) & set(b) if len(_finite(a[s])) and len(_finite(b[s])))
    if not seeds:
        return Comparison(float("nan"), float("nan"), float("nan"), 0, "n/a")
    if all(len(a[s]) == len(b[s]) for s in seeds):
        iv = nested_interval([np.asarray(a[s], float) - np.asarray(b[s], float) for s in seeds], n_boot)
        return Comparison(iv.mean, iv.lo, iv.hi, iv.seeds, _outcome(iv.lo, iv.hi, higher_is_better))
    ga, gb = [_finite(a[s]) for s in seeds], [_finite(b[s]) for s in seeds]
    rng = rng_for(*ga, *gb)
    diff = float(np.mean([x.mean() for x in ga]) - np.mean([x.mean() for x in gb]))
    seed_idx = rng.integers(0, len(seeds), (n_boot, len(seeds)))  # (B, S), shared by both cells
    boot = _nested_boot(ga, seed_idx, rng) - _nested_boot(gb, seed_idx, rng)
    lo, hi = _percentiles(boot)
    return Comparison(diff, lo, hi, len(seeds), _outcome(lo, hi, higher_is_better))


def mean_sd(values: list[float | None]) -> str:
    """``mean ± sd`` of the finite values (records store NaN as null), ``-`` when there are none; for tables
    over seeds."""
    vals = [float(v) for v in values if v is not None and v == v]
    if not vals:
        return "-"
    return f"{np.mean(vals):.3f} ± {(np.std(vals, ddof=1) if len(vals) > 1 else 0.0):.3f}"
