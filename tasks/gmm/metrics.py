"""Sample-set distances of the gmm task: energy distance to exact tilted samples and its noise floor.

Energy distance (Székely & Rizzo) between the empirical measures of X (n points) and Y (m points), V-statistic:
    E(X, Y) = 2·mean|X_i − Y_j| − mean|X_i − X_i'| − mean|Y_j − Y_j'|  (≥ 0; 0 iff the empirical measures agree).
If X and Y are independent draws of the same law, E[E(X, Y)] = δ·(1/n + 1/m) with δ = E|X − X'| (the two
within-set means average over their zero diagonals), so the floor of a set of n exact samples scored against
the m reference samples is δ·(1/n + 1/m), δ estimated without bias on the reference set.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from tasks.gmm.objectives import reference


def _mean_dist(a: torch.Tensor, b: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Mean Euclidean distance over all pairs (a_i, b_j), diagonal included (row chunks bound the memory)."""
    mode = "donot_use_mm_for_euclid_dist"  # exact differences: the same value on every CPU kernel
    total = sum(torch.cdist(a[i:i + chunk], b, compute_mode=mode).sum() for i in range(0, len(a), chunk))
    return total / (len(a) * len(b))


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """V-statistic energy distance between point sets x (n, d) and y (m, d)."""
    x, y = x.double(), y.double()
    return float(2 * _mean_dist(x, y) - _mean_dist(x, x) - _mean_dist(y, y))


@lru_cache(maxsize=None)
def _ref_terms(name: str) -> tuple[float, float]:
    """(mean|Y − Y'| with the diagonal, δ = unbiased E|Y − Y'|) of the reference set of objective ``name``."""
    y = reference(name)  # (m, 2)
    m = len(y)
    v = float(_mean_dist(y, y))
    return v, v * m / (m - 1)


def energy_to_target(name: str, x0: torch.Tensor) -> float:
    """Energy distance of samples x0 (n, 2) to the exact tilted reference set of objective ``name``."""
    x, y = x0.double().cpu(), reference(name)
    return float(2 * _mean_dist(x, y) - _mean_dist(x, x)) - _ref_terms(name)[0]


def energy_floor(name: str, n: int) -> float:
    """Expected ``energy_to_target`` of n iid exact tilted samples: δ·(1/n + 1/m)."""
    delta = _ref_terms(name)[1]
    return delta * (1.0 / n + 1.0 / len(reference(name)))
