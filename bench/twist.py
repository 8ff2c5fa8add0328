"""Gradient-tilted transitions shared by `tag`, `treeg-g` and `tds`, through any family's differentiable path.

value_and_grad: one forward with grad at x_t, reused for the step (pitfall P4):
    X = family.grad_input(x_t);  ℓ = r(family.soft_x0(denoise(X)));  g = ∇_X ℓ
    (Gaussian: X = x_t, soft_x0 = x̂0, a VJP through the network; masked: X = onehot(x_t), soft_x0 = E[x0 | X])
tilt: the base transition tilted by the gradient with scale γ, family.tilt (Gaussian: N(μ_θ + γ·σ_t²·g, σ_t²),
TDS's twisted proposal; masked: TAG's q_θ(k)·exp(γ(G[ℓ,k] − G[ℓ,M])), methods.md §14).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.method import Context


@dataclass
class Tilt:
    """A prediction at x_t (detached), the proxy value there, and its gradient w.r.t. the family's grad input."""

    pred: Any
    value: torch.Tensor  # (R,)
    grad: torch.Tensor  # shaped like family.grad_input(x_t): Gaussian (R, *shape); masked (R, L, V+1)


def value_and_grad(ctx: Context, x: torch.Tensor, t, owner: torch.Tensor) -> Tilt:
    """One forward with grad and one VJP through the denoiser and the differentiable proxy."""
    fam = ctx.family
    inp = fam.grad_input(x).requires_grad_(True)
    with torch.enable_grad():
        pred = fam.denoise(inp, t)
        value = ctx.grad_reward(fam.soft_x0(pred), owner)  # (R,)
        grad = torch.autograd.grad(torch.nan_to_num(value).sum(), inp)[0]
    grad = torch.nan_to_num(grad)
    return Tilt(pred.detach(x_t=x), value.detach(), grad)


def tilted_proposal(ctx: Context, x: torch.Tensor, t, s, tilt: Tilt, scale: float):
    """The base transition p_θ(x_s | x_t) tilted by the gradient (the family's proposal type)."""
    fam = ctx.family
    return fam.tilt(fam.proposal(x, t, s, tilt.pred), x, tilt.grad, scale)
