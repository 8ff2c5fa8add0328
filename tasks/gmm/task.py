"""`gmm`: a 2-D Gaussian mixture with the analytic denoiser (no network) and exact tilted targets.

Data x0 ~ Σ_k π_k N(μ_k, s² I). Under x_t = √ᾱ x0 + √(1−ᾱ) ε the posterior mean is analytic:
    E[x0 | x_t] = Σ_k w_k(x_t)·(μ_k + √ᾱ s²/(ᾱ s² + 1 − ᾱ)·(x_t − √ᾱ μ_k)),  w_k ∝ π_k N(x_t; √ᾱ μ_k, (ᾱ s² + 1 − ᾱ) I)
Objectives (``objectives.py``): `linear` (unbounded), `region` (indicator), `bump` (bounded, differentiable). Each
is scored against its exact tilted target p·exp(λ r) at ``Objective.target_lam``: the main metric is the energy
distance to a fixed set of exact tilted samples (``metrics.py``), with its noise floor and the tilted-mean error
beside it; the oracle reward is secondary (a sample set that leaves the data has a large reward and a large
energy distance).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from bench.diffusion.gaussian import GaussianFamily
from bench.diffusion.prediction import eps_from_x0
from bench.diffusion.schedules import gaussian_alphas_bar
from bench.reward import Reward
from bench.task import MetricMeta, Objective, Task
from tasks.gmm.metrics import energy_floor, energy_to_target
from tasks.gmm.objectives import (  # noqa: F401  (re-exported for tests and scripts)
    BOX,
    LABEL_LAM,
    LINEAR_A,
    MEANS,
    REWARDS,
    STD,
    TARGET_LAM,
    WEIGHTS,
    density_grid,
    label_of,
    label_reward,
    linear_reward,
    region_reward,
    target_mean,
    tilted_linear,
    tilted_mean,
)


def condition_weights(logw: torch.Tensor, label: torch.Tensor | None, null: int) -> torch.Tensor:
    """Component log-weights (B, K) of a conditional model: a row with label k keeps only component k, a row with
    the null label (or no label) keeps the mixture."""
    if label is None:
        return logw
    k = torch.arange(logw.shape[1], device=logw.device)  # (K,)
    off = (label.view(-1, 1) != k) & (label.view(-1, 1) != null)  # (B, K)
    return logw.masked_fill(off, -torch.inf)


WEAK_STD = 0.8  # autoguidance's weak model: the same means and weights, blurrier components


class AnalyticEps(nn.Module):
    """ε(x_t, t) of the mixture, exact; ``label`` (B,) = k restricts it to component k (the conditional model),
    ``null_label`` (= K, the default) is the whole mixture. ``std`` other than STD is a blurred model of the same
    data (gmm's autoguidance weak model)."""

    null_label = len(MEANS)

    def __init__(self, schedule: str = "cosine", std: float = STD) -> None:
        super().__init__()
        self.register_buffer("abar", gaussian_alphas_bar(schedule).float())
        self.std = std

    def forward(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        a = self.abar[t.long()].view(-1, 1, 1)  # (B, 1, 1)
        s2 = self.std**2
        mu, var = MEANS.to(x) * a.sqrt(), s2 * a + 1 - a  # (B, K, 2), (B, 1, 1)
        d = x.unsqueeze(1) - mu  # (B, K, 2)
        logw = WEIGHTS.to(x).log() - 0.5 * d.pow(2).sum(-1) / var.squeeze(-1)  # (B, K)
        w = torch.softmax(condition_weights(logw, label, self.null_label), 1).unsqueeze(-1)  # (B, K, 1)
        x0 = (w * (MEANS.to(x) + a.sqrt() * s2 / var * d)).sum(1)  # (B, 2)
        return eps_from_x0(x, a.view(-1, 1), x0)  # (B, 2) the family's conversion, ᾱ per row


class GMMTask(Task):
    name = "gmm"
    version = "2"  # 2: main metric = energy distance to the exact tilted target; bump objective
    family_kind = "continuous"
    default_objective = "linear"
    default_steps = 100
    default_n = 64
    metrics = {
        "energy": MetricMeta("energy distance to target", False,
                             "V-statistic energy distance to 4096 exact samples of p·exp(λ r), λ = target_lam"),
        "energy_floor": MetricMeta("energy floor", False,
                                   "expected energy distance of n iid exact tilted samples (noise floor)"),
        "mean_err": MetricMeta("tilted-mean error", False, "|sample mean - exact tilted mean| (Euclidean)"),
        "reward": MetricMeta("oracle reward (mean)", True, "exact reward of the returned samples (secondary)",
                             per_sample=True),
        "reward_std": MetricMeta("reward std", False, "spread of the exact reward"),
        "mean_x": MetricMeta("mean x", True, "first coordinate of the sample mean"),
        "mean_y": MetricMeta("mean y", True, "second coordinate of the sample mean"),
    }

    @classmethod
    def objectives(cls) -> list[str]:
        return [*REWARDS, "label=<k>"]

    def build_family(self) -> GaussianFamily:
        return GaussianFamily(AnalyticEps().to(self.device), (2,), schedule="cosine", eta=1.0, prediction="eps",
                              spacing="linspace")

    def objective(self, spec: str) -> Objective:
        k = label_of(spec)
        if k is not None:
            r = Reward(spec, label_reward(k), differentiable=True, role="proxy", floor=-math.inf)
            return Objective(spec, r, Reward(spec, label_reward(k), differentiable=True, role="oracle"),
                             main_metric="energy", grad_proxy=r, exact_proxy=True, target_lam=LABEL_LAM)
        if spec not in REWARDS:
            raise ValueError(f"gmm has no objective {spec!r}; choose from {', '.join(REWARDS)} or label=k "
                             f"(k = 0..{len(MEANS) - 1})")
        fn, diff, _ = REWARDS[spec]
        proxy = Reward(spec, fn, differentiable=diff, role="proxy", floor=-math.inf)
        oracle = Reward(spec, fn, differentiable=diff, role="oracle")
        return Objective(spec, proxy, oracle, main_metric="energy", grad_proxy=proxy if diff else None,
                         exact_proxy=True, target_lam=TARGET_LAM[spec])

    def condition(self, objective: Objective) -> int | None:
        """label=k conditions the analytic model on component k (CFG's strong branch)."""
        return label_of(objective.name)

    def autoguide(self) -> tuple[nn.Module, float]:
        """A blurred model of the same mixture (component std WEAK_STD > STD), at the same cost."""
        return AnalyticEps(std=WEAK_STD).to(self.device), 1.0

    def decode(self, x0: torch.Tensor) -> list[Any]:
        return [tuple(round(v, 5) for v in row) for row in x0.tolist()]

    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        oracle = objective.oracle(x0, instance)
        proxy = objective.proxy(x0, instance)
        mean = x0.double().mean(0).cpu()  # (2,)
        metrics = {"energy": energy_to_target(objective.name, x0),
                   "energy_floor": energy_floor(objective.name, len(x0)),
                   "mean_err": float((mean - target_mean(objective.name)).norm()),
                   "reward": float(oracle.mean()), "reward_std": float(oracle.std()) if len(oracle) > 1 else 0.0,
                   "mean_x": float(mean[0]), "mean_y": float(mean[1])}
        rows = [{"x": d, "proxy": float(p), "oracle": float(o), "reward": float(o)}
                for d, p, o in zip(self.decode(x0), proxy, oracle)]
        return metrics, rows
