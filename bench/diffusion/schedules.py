"""Noise schedules shared by training recipes and samplers.

Notation (specs/methods.md §2):

Gaussian family. Training uses ``T_TRAIN`` discrete steps indexed i = 0..T_TRAIN-1; ``alphas_bar[i]`` is the
cumulative signal level ᾱ after step i+1 (decreasing in i). A network predicts ε, x0 or v at (x_t, i) (the
family's ``prediction``) and is called with a float tensor of step indices of shape (B,). Samplers use a strided
subset of indices (``gaussian_timesteps``, the family's ``spacing``).

Masked family. Continuous time t ∈ (0, 1]; the mask probability is m_t = 1 − exp(−σ(t)) with the log-linear
schedule σ(t) = −log(1 − (1 − ε)·t), i.e. m_t = (1 − ε)·t. A network maps token ids (B, L) in [0, V] (V is
[MASK]) or a soft one-hot (B, L, V+1), plus t of shape (B,), to logits (B, L, V) over the V real tokens.
"""
from __future__ import annotations

import math

import torch

T_TRAIN = 1000
MASK_EPS = 1e-3


def gaussian_alphas_bar(kind: str = "cosine", n: int = T_TRAIN) -> torch.Tensor:
    """ᾱ for steps 1..n as a float64 tensor of shape (n,); ``kind`` is "cosine" or "linear"."""
    if kind == "linear":
        betas = torch.linspace(1e-4, 0.02, n, dtype=torch.float64)  # (n,)
        return torch.cumprod(1.0 - betas, dim=0)
    if kind == "cosine":
        s = 0.008
        steps = torch.arange(n + 1, dtype=torch.float64) / n  # (n+1,)
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        abar = f[1:] / f[0]
        betas = (1 - abar / torch.cat([f[:1] / f[0], abar[:-1]])).clamp(max=0.999)
        return torch.cumprod(1.0 - betas, dim=0)
    raise ValueError(f"unknown schedule {kind!r}; choose 'cosine' or 'linear'")


SPACINGS = ("linspace", "leading", "trailing")


def gaussian_timesteps(steps: int, spacing: str = "linspace", n: int = T_TRAIN) -> list[int]:
    """``steps`` training indices from noisy to clean, strictly decreasing.

    "linspace": round(linspace(n−1, 0, steps)) (first n−1, last 0); "leading": k·⌊n/steps⌋ for k = steps−1..0;
    "trailing": round(n − k·n/steps) − 1 for k = 0..steps−1 (first n−1; DDIM's and diffusers' names).
    """
    if not 1 <= steps <= n:
        raise ValueError(f"steps {steps}: expected 1..{n}")
    if spacing == "linspace":
        return torch.linspace(n - 1, 0, steps).round().long().tolist()
    if spacing == "leading":
        return [k * (n // steps) for k in range(steps - 1, -1, -1)]
    if spacing == "trailing":
        return [round(n - k * n / steps) - 1 for k in range(steps)]
    raise ValueError(f"unknown spacing {spacing!r}; choose from {SPACINGS}")


def mask_prob(t: torch.Tensor) -> torch.Tensor:
    """m_t = 1 − exp(−σ(t)) for the log-linear schedule; same shape as t."""
    return (1.0 - MASK_EPS) * t


def mask_prob_rate(t: torch.Tensor) -> torch.Tensor:
    """dm_t/dt; used by the continuous-time MDLM ELBO weight m'_t / m_t."""
    return torch.full_like(t, 1.0 - MASK_EPS)
