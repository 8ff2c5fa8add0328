"""The gmm mixture, its rewards and their exact tilted targets q(x) ∝ p(x)·exp(λ r(x)).

Objectives and the λ each is scored at (``TARGET_LAM``):
* ``linear`` r(x) = a·x, unbounded, differentiable, λ = 1. The tilted target is an analytic mixture: component k
  shifts by λ s² a and reweights by exp(λ a·μ_k + λ² s²|a|²/2).
* ``region`` r(x) = 1[x > 1 and y > 1], bounded, non-differentiable, λ = 1.
* ``bump`` r(x) = exp(−|x − c|²/(2w²)) with c = (2, 2), w = 0.5, in [0, 1], differentiable, λ = 4: strong enough
  that the target moves most mass to the small (weight 0.1) component under the bump (mean (−0.30, −0.50) ->
  (0.97, 0.88), E r 0.05 -> 0.46) while keeping mass on the other modes, so collapsing onto c is not exact.
* ``label=k`` (k = 0..4) r(x) = log p(k | x), the exact component posterior, differentiable, λ = 1: the tilted
  target p(x)·p(k | x) / π_k is component k itself, N(μ_k, s² I). The condition of classifier-free guidance
  (the analytic denoiser takes ``label``), so CFG and the reward methods aim at the same exact target.
Exact samples: the analytic mixture (linear), component k (label), or rejection from p with acceptance
exp(λ(r − 1)) (bounded r ≤ 1).
"""
from __future__ import annotations

from functools import lru_cache

import torch

MEANS = torch.tensor([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0], [0.0, 0.0]])
WEIGHTS = torch.tensor([0.3, 0.25, 0.2, 0.1, 0.15])
STD = 0.5
LINEAR_A = torch.tensor([1.0, 0.5])
BOX = (1.0, 1.0)  # region: x > 1 and y > 1
BUMP_C, BUMP_W = (2.0, 2.0), 0.5
TARGET_LAM = {"linear": 1.0, "region": 1.0, "bump": 4.0}
N_REF = 4096  # exact tilted reference samples per objective (fixed seed)
REF_SEED = 0


def linear_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    return x0 @ LINEAR_A.to(x0)


def region_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    return ((x0[:, 0] > BOX[0]) & (x0[:, 1] > BOX[1])).float()


def bump_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """Gaussian bump exp(−|x − c|²/(2w²)) in [0, 1]; differentiable."""
    d2 = (x0 - torch.tensor(BUMP_C, dtype=x0.dtype, device=x0.device)).pow(2).sum(-1)  # (N,)
    return torch.exp(-d2 / (2 * BUMP_W**2))


def label_of(name: str) -> int | None:
    """k of an objective name ``label=k`` (0 <= k < K), None for any other name."""
    head, _, k = name.partition("=")
    return int(k) if head == "label" and k.isdigit() and int(k) < len(MEANS) else None


def label_reward(k: int):
    """r(x) = log p(k | x) under the clean mixture: (N,) <= 0, differentiable."""
    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        d2 = (x0.unsqueeze(1) - MEANS.to(x0)).pow(2).sum(-1)  # (N, K)
        logj = WEIGHTS.to(x0).log() - 0.5 * d2 / STD**2  # (N, K) joint up to a shared constant
        return logj[:, k] - torch.logsumexp(logj, 1)
    return fn


# name -> (reward, differentiable, bounded above by 1)
REWARDS = {"linear": (linear_reward, True, False), "region": (region_reward, False, True),
           "bump": (bump_reward, True, True)}
LABEL_LAM = 1.0  # label=k objectives: p·p(k|x) is component k exactly


def tilted_linear(alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact p(x)·exp(a·x/α): (weights (K,), means (K, 2)) of the tilted mixture (same STD)."""
    a = LINEAR_A.double()
    logw = WEIGHTS.double().log() + MEANS.double() @ a / alpha + STD**2 * a.dot(a) / (2 * alpha**2)
    return torch.softmax(logw, 0), MEANS.double() + STD**2 * a / alpha


def tilted_mean(alpha: float) -> torch.Tensor:
    """Mean of the exactly tilted linear target, (2,)."""
    w, mu = tilted_linear(alpha)
    return (w[:, None] * mu).sum(0)


def density_grid(reward, alpha: float, lim: float = 5.0, n: int = 401) -> tuple[torch.Tensor, torch.Tensor]:
    """Tilted density p·exp(r/α) normalised on an n×n grid: (points (n², 2), mass (n²,))."""
    g = torch.linspace(-lim, lim, n, dtype=torch.float64)
    pts = torch.cartesian_prod(g, g)  # (n², 2)
    d = pts.unsqueeze(1) - MEANS.double()  # (n², K, 2)
    logp = torch.logsumexp(WEIGHTS.double().log() - 0.5 * d.pow(2).sum(-1) / STD**2, 1)
    logq = logp + reward(pts, torch.zeros(len(pts), dtype=torch.long)).double() / alpha
    return pts, torch.softmax(logq, 0)


def _mixture(weights: torch.Tensor, means: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """n draws of Σ_k w_k N(μ_k, STD² I): (n, 2) float64."""
    k = torch.multinomial(weights.double(), n, replacement=True, generator=gen)  # (n,)
    return means.double()[k] + STD * torch.randn(n, 2, generator=gen, dtype=torch.float64)


def exact_samples(name: str, n: int, seed: int, lam: float | None = None) -> torch.Tensor:
    """n exact draws of the tilted target of objective ``name`` at λ (default ``TARGET_LAM``): (n, 2) float64."""
    gen = torch.Generator().manual_seed(seed)
    k = label_of(name)
    if k is not None:
        if lam not in (None, LABEL_LAM):
            raise ValueError(f"{name}: exact samples exist at λ = 1 only (component {k})")
        return MEANS[k].double() + STD * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    lam = TARGET_LAM[name] if lam is None else lam
    fn, _, bounded = REWARDS[name]
    if not bounded:
        return _mixture(*tilted_linear(1.0 / lam), n, gen)
    out, have = [], 0
    while have < n:  # rejection from p: accept with probability exp(λ (r − 1)) ≤ 1
        x = _mixture(WEIGHTS, MEANS, 8 * n, gen)  # (8n, 2)
        r = fn(x, torch.zeros(len(x), dtype=torch.long))  # (8n,)
        keep = x[torch.rand(len(x), generator=gen, dtype=torch.float64) < torch.exp(lam * (r - 1))]
        out.append(keep)
        have += len(keep)
    return torch.cat(out)[:n]


@lru_cache(maxsize=None)
def reference(name: str) -> torch.Tensor:
    """The fixed reference set of exact tilted samples of objective ``name``: (N_REF, 2) float64."""
    return exact_samples(name, N_REF, REF_SEED)


@lru_cache(maxsize=None)
def target_mean(name: str) -> torch.Tensor:
    """Exact mean of the tilted target at ``TARGET_LAM``: analytic (linear, label) or grid quadrature, (2,)."""
    if label_of(name) is not None:
        return MEANS[label_of(name)].double()
    fn, _, bounded = REWARDS[name]
    if not bounded:
        return tilted_mean(1.0 / TARGET_LAM[name])
    pts, mass = density_grid(fn, 1.0 / TARGET_LAM[name])
    return (pts * mass[:, None]).sum(0)
