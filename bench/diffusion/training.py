"""Training losses of the two model families (Gaussian ε/v/x0, masked MDLM); `bench.train` wraps them."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from bench.diffusion.prediction import PREDICTIONS, convert
from bench.diffusion.schedules import T_TRAIN, mask_prob, mask_prob_rate

EpsNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LogitNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GAUSSIAN_TARGETS = PREDICTIONS


def gaussian_loss(net: EpsNet, x0: torch.Tensor, alphas_bar: torch.Tensor,
                  gen: torch.Generator | None = None, target: str = "eps",
                  prediction: str | None = None) -> torch.Tensor:
    """MSE at a uniform random step i of x_t = √ᾱ x0 + √(1−ᾱ) ε against the network's output.

    ``target``: the space the error is measured in, ``"eps"`` (E‖ε − ε̂‖², the default), ``"v"``
    (v = √ᾱ ε − √(1−ᾱ) x0) or ``"x0"``. ``prediction``: what the network outputs (default: the target); a
    different one is converted into the target's space (float32 ᾱ), e.g. a v-network under an ε loss, whose
    error is ᾱ·‖v − v̂‖². The sampling family must be built with the same ``prediction``.
    """
    prediction = prediction or target
    for name, kind in (("target", target), ("prediction", prediction)):
        if kind not in GAUSSIAN_TARGETS:
            raise ValueError(f"gaussian_loss {name} {kind!r}: expected one of {GAUSSIAN_TARGETS}")
    b = x0.shape[0]
    i = torch.randint(0, T_TRAIN, (b,), generator=gen, device=x0.device)  # (B,)
    abar = alphas_bar.to(x0.device, torch.float32)[i].view(b, *([1] * (x0.dim() - 1)))  # (B, 1, ...)
    eps = torch.randn(x0.shape, generator=gen, device=x0.device)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps  # (B, ...)
    goal = {"eps": eps, "v": abar.sqrt() * eps - (1 - abar).sqrt() * x0, "x0": x0}[target]  # (B, ...)
    out = convert(net(x_t, i.float()), prediction, target, x_t, abar)  # (B, ...) in the target's space
    return F.mse_loss(out.float(), goal)


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
