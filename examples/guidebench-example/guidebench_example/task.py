"""`gmm1d`: a 1-D two-component Gaussian mixture with the analytic denoiser and an exact tilted target.

Data x0 ~ Σ_k π_k N(μ_k, s²). Under x_t = √ᾱ x0 + √(1−ᾱ) ε the posterior mean is analytic (as in guidebench's
`gmm`). Objective `linear`: r(x) = x, scored against p·exp(λ r) at λ = 1, whose components are exactly
N(μ_k + λ s², s²) with weights ∝ π_k exp(λ μ_k + λ² s²/2). Main metric: |sample mean − exact tilted mean|, with
its noise floor (the standard error of the mean of n exact samples) beside it.
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

MEANS = torch.tensor([-1.5, 1.0])  # (K,)
WEIGHTS = torch.tensor([0.6, 0.4])  # (K,)
STD = 0.4
LAM = 1.0


def linear(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """r(x) = x: (N, 1) -> (N,); differentiable."""
    return x0[:, 0]


def tilted_moments(lam: float = LAM) -> tuple[float, float]:
    """(mean, variance) of p·exp(λ x), exactly."""
    logw = WEIGHTS.double().log() + lam * MEANS.double() + 0.5 * lam**2 * STD**2  # (K,)
    w, m = torch.softmax(logw, 0), MEANS.double() + lam * STD**2  # (K,), (K,)
    mean = float((w * m).sum())
    return mean, float((w * (STD**2 + m**2)).sum()) - mean**2


class AnalyticEps(nn.Module):
    """ε(x_t, t) of the mixture, exact."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("abar", gaussian_alphas_bar("cosine").float())

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t.long()].view(-1, 1)  # (B, 1)
        var = STD**2 * a + 1 - a  # (B, 1)
        d = x - a.sqrt() * MEANS.to(x)  # (B, K)
        w = torch.softmax(WEIGHTS.to(x).log() - 0.5 * d.pow(2) / var, 1)  # (B, K)
        x0 = (w * (MEANS.to(x) + a.sqrt() * STD**2 / var * d)).sum(1, keepdim=True)  # (B, 1)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()


class Mixture1D(Task):
    name = "gmm1d"
    version = "1"
    family_kind = "continuous"
    default_objective = "linear"
    default_steps = 50
    default_n = 64
    metrics = {
        "mean_err": MetricMeta("tilted-mean error", False, "|sample mean - exact mean of p·exp(λ x)|"),
        "mean_se": MetricMeta("tilted-mean noise floor", False, "standard error of the mean of n exact samples"),
        "reward": MetricMeta("oracle reward (mean)", True, "mean of r(x) = x", per_sample=True),
    }

    @classmethod
    def objectives(cls) -> list[str]:
        return ["linear"]

    def build_family(self) -> GaussianFamily:
        return GaussianFamily(AnalyticEps().to(self.device), (1,), schedule="cosine", eta=1.0)

    def objective(self, spec: str) -> Objective:
        if spec != "linear":
            raise ValueError(f"gmm1d has no objective {spec!r}; choose from {self.objectives()}")
        proxy = Reward(spec, linear, differentiable=True, role="proxy", floor=-math.inf)
        oracle = Reward(spec, linear, differentiable=True, role="oracle")
        return Objective(spec, proxy, oracle, main_metric="mean_err", grad_proxy=proxy, exact_proxy=True,
                         target_lam=LAM)

    def decode(self, x0: torch.Tensor) -> list[Any]:
        return [round(float(v), 5) for v in x0[:, 0]]

    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        oracle = objective.oracle(x0, instance).double().cpu()  # (n,)
        mean, var = tilted_moments(objective.target_lam or LAM)
        metrics = {"mean_err": abs(float(oracle.mean()) - mean), "mean_se": math.sqrt(var / len(x0)),
                   "reward": float(oracle.mean())}
        return metrics, [{"x": d, "oracle": float(o), "reward": float(o)} for d, o in zip(self.decode(x0), oracle)]
