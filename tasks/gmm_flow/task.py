"""`gmm_flow`: the gmm mixture under the linear (rectified-flow) path with its analytic velocity.

Same data, objectives, exact tilted targets and metrics as `gmm` (``tasks.gmm``); only the model differs: the
sampler is ``bench.diffusion.flow.FlowFamily`` and the network is the exact velocity of the mixture under
x_τ = (1 − τ)·x1 + τ·ε. Given component k, x_τ ~ N((1−τ)μ_k, v_k I) with v_k = (1−τ)²s² + τ², so
    E[x1 | x_τ] = Σ_k w_k(x_τ)·(μ_k + (1−τ)s²/v_k·(x_τ − (1−τ)μ_k)),   w_k ∝ π_k N(x_τ; (1−τ)μ_k, v_k I)
    u(x_τ, τ) = (E[x1 | x_τ] − x_τ)/τ
The report then shows every continuous method on a diffusion (`gmm`) and a flow (`gmm_flow`) model of the same
distribution side by side. ``label`` / ``null_label`` and the blurred weak model (``std``) mirror gmm's.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.diffusion.flow import FlowFamily
from tasks.gmm.objectives import MEANS, STD, WEIGHTS
from tasks.gmm.task import WEAK_STD, GMMTask, condition_weights


class AnalyticVelocity(nn.Module):
    """u(x_τ, τ) of the mixture under the linear path, exact; ``label`` (B,) = k restricts to component k."""

    null_label = len(MEANS)

    def __init__(self, std: float = STD) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        tau = t.to(x.dtype).view(-1, 1, 1)  # (B, 1, 1)
        a, s2 = 1 - tau, self.std**2
        var = a * a * s2 + tau * tau  # (B, 1, 1)
        d = x.unsqueeze(1) - a * MEANS.to(x)  # (B, K, 2)
        logw = WEIGHTS.to(x).log() - 0.5 * d.pow(2).sum(-1) / var.squeeze(-1) - torch.log(var.squeeze(-1))  # (B, K)
        w = torch.softmax(condition_weights(logw, label, self.null_label), 1).unsqueeze(-1)  # (B, K, 1)
        x1 = (w * (MEANS.to(x) + a * s2 / var * d)).sum(1)  # (B, 2) E[x1 | x_τ]
        return (x1 - x) / tau.view(-1, 1)  # (B, 2)


class GMMFlowTask(GMMTask):
    name = "gmm_flow"
    version = "1"

    def build_family(self) -> FlowFamily:
        return FlowFamily(AnalyticVelocity().to(self.device), (2,), eta=1.0)

    def autoguide(self) -> tuple[nn.Module, float]:
        """A blurred velocity of the same mixture (component std WEAK_STD > STD), at the same cost."""
        return AnalyticVelocity(std=WEAK_STD).to(self.device), 1.0
