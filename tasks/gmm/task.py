"""`gmm`: a 2-D Gaussian mixture with the analytic denoiser (no network) and exact tilted targets.

Data x0 ~ Σ_k π_k N(μ_k, s² I). Under x_t = √ᾱ x0 + √(1−ᾱ) ε the posterior mean is analytic:
    E[x0 | x_t] = Σ_k w_k(x_t)·(μ_k + √ᾱ s²/(ᾱ s² + 1 − ᾱ)·(x_t − √ᾱ μ_k)),  w_k ∝ π_k N(x_t; √ᾱ μ_k, (ᾱ s² + 1 − ᾱ) I)
Objectives: `linear` r(x) = a·x (differentiable; tilted target analytic: each component shifts by s²a/α and
reweights by exp(a·μ_k/α + s²|a|²/(2α²))); `region` r(x) = 1[x in box] (non-differentiable; tilted mass on a grid).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from bench.diffusion.gaussian import GaussianFamily
from bench.diffusion.schedules import gaussian_alphas_bar
from bench.reward import Reward
from bench.task import MetricMeta, Objective, Task

MEANS = torch.tensor([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0], [0.0, 0.0]])
WEIGHTS = torch.tensor([0.3, 0.25, 0.2, 0.1, 0.15])
STD = 0.5
LINEAR_A = torch.tensor([1.0, 0.5])
BOX = (1.0, 1.0)  # region: x > 1 and y > 1


class AnalyticEps(nn.Module):
    """ε(x_t, t) of the mixture, exact."""

    def __init__(self, schedule: str = "cosine") -> None:
        super().__init__()
        self.register_buffer("abar", gaussian_alphas_bar(schedule).float())

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t.long()].view(-1, 1, 1)  # (B, 1, 1)
        mu, var = MEANS.to(x) * a.sqrt(), STD**2 * a + 1 - a  # (B, K, 2), (B, 1, 1)
        d = x.unsqueeze(1) - mu  # (B, K, 2)
        logw = WEIGHTS.to(x).log() - 0.5 * d.pow(2).sum(-1) / var.squeeze(-1)  # (B, K)
        w = torch.softmax(logw, 1).unsqueeze(-1)  # (B, K, 1)
        x0 = (w * (MEANS.to(x) + a.sqrt() * STD**2 / var * d)).sum(1)  # (B, 2)
        return (x - a.view(-1, 1).sqrt() * x0) / (1 - a.view(-1, 1)).sqrt()


def linear_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    return x0 @ LINEAR_A.to(x0)


def region_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    return ((x0[:, 0] > BOX[0]) & (x0[:, 1] > BOX[1])).float()


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


class GMMTask(Task):
    name = "gmm"
    version = "1"
    family_kind = "continuous"
    default_objective = "linear"
    default_steps = 100
    default_n = 64
    metrics = {
        "reward": MetricMeta("oracle reward (mean)", True, "exact reward of the returned samples"),
        "reward_std": MetricMeta("reward std", False, "spread of the exact reward"),
        "mean_x": MetricMeta("mean x", True, "first coordinate of the sample mean"),
        "mean_y": MetricMeta("mean y", True, "second coordinate of the sample mean"),
    }

    @classmethod
    def objectives(cls) -> list[str]:
        return ["linear", "region"]

    def build_family(self) -> GaussianFamily:
        return GaussianFamily(AnalyticEps().to(self.device), (2,), schedule="cosine", eta=1.0)

    def objective(self, spec: str) -> Objective:
        fns = {"linear": (linear_reward, True), "region": (region_reward, False)}
        if spec not in fns:
            raise ValueError(f"gmm has no objective {spec!r}; choose from {self.objectives()}")
        fn, diff = fns[spec]
        proxy = Reward(spec, fn, differentiable=diff, role="proxy", floor=-math.inf)
        oracle = Reward(spec, fn, differentiable=diff, role="oracle")
        info = {"diff_proxy": proxy} if diff else {}
        return Objective(spec, proxy, oracle, main_metric="reward", info=info)

    def decode(self, x0: torch.Tensor) -> list[Any]:
        return [tuple(round(v, 5) for v in row) for row in x0.tolist()]

    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        oracle = objective.oracle(x0, instance)
        proxy = objective.proxy(x0, instance)
        metrics = {"reward": float(oracle.mean()), "reward_std": float(oracle.std()) if len(oracle) > 1 else 0.0,
                   "mean_x": float(x0[:, 0].mean()), "mean_y": float(x0[:, 1].mean())}
        rows = [{"x": d, "proxy": float(p), "oracle": float(o)} for d, p, o in zip(self.decode(x0), proxy, oracle)]
        return metrics, rows
