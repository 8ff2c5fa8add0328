"""Training losses of the two model families (Gaussian ε/v/x0, masked MDLM); `bench.train` wraps them."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from bench.diffusion.schedules import T_TRAIN, mask_prob, mask_prob_rate

EpsNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LogitNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GAUSSIAN_TARGETS = ("eps", "v", "x0")


def gaussian_loss(net: EpsNet, x0: torch.Tensor, alphas_bar: torch.Tensor,
                  gen: torch.Generator | None = None, target: str = "eps") -> torch.Tensor:
    """MSE at a uniform random step i of x_t = √ᾱ x0 + √(1−ᾱ) ε against the network's output.

    ``target``: ``"eps"`` (E‖ε − ε_θ‖², the default), ``"v"`` (v = √ᾱ ε − √(1−ᾱ) x0) or ``"x0"``; the network's
    output must be of the same kind (the sampler families read ε, so v/x0 networks convert before sampling).
    """
    if target not in GAUSSIAN_TARGETS:
        raise ValueError(f"gaussian_loss target {target!r}: expected one of {GAUSSIAN_TARGETS}")
    b = x0.shape[0]
    i = torch.randint(0, T_TRAIN, (b,), generator=gen, device=x0.device)  # (B,)
    abar = alphas_bar.to(x0.device, torch.float32)[i].view(b, *([1] * (x0.dim() - 1)))  # (B, 1, ...)
    eps = torch.randn(x0.shape, generator=gen, device=x0.device)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps  # (B, ...)
    goal = {"eps": eps, "v": abar.sqrt() * eps - (1 - abar).sqrt() * x0, "x0": x0}[target]  # (B, ...)
    return F.mse_loss(net(x_t, i.float()).float(), goal)


def masked_loss(net: LogitNet, x0: torch.Tensor, mask_id: int,
                gen: torch.Generator | None = None) -> torch.Tensor:
    """Continuous-time MDLM ELBO per token: E_t[(m'_t/m_t)·Σ_masked −log p_θ(x0ˡ | x_t)] / L.

    x0: (B, L) token ids in [0, mask_id). Uses antithetic (stratified) t for lower variance.
    """
    b, length = x0.shape
    u = torch.rand((), generator=gen, device=x0.device)
    t = ((u + torch.arange(b, device=x0.device) / b) % 1.0).clamp(min=1e-4)  # (B,)
    m = mask_prob(t)  # (B,)
    masked = torch.rand((b, length), generator=gen, device=x0.device) < m[:, None]  # (B, L)
    x_t = torch.where(masked, torch.full_like(x0, mask_id), x0)
    logits = net(x_t, t).float()  # (B, L, V)
    nll = F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")  # (B, L)
    weight = (mask_prob_rate(t) / m)[:, None]  # (B, 1)
    return (weight * nll * masked).sum() / (b * length)
