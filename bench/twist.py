"""Gradient-tilted transitions shared by `tag`, `treeg-g` and `tds` (both families).

value_and_grad: one forward with grad at x_t, reused for the step (pitfall P4):
    continuous  ℓ = r(x̂0(x_t)),  g = ∇_{x_t} ℓ                                   (VJP through ε_θ)
    discrete    X = onehot(x_t);  ℓ = r(P),  P = E[x0 | X] (revealed rows copied);  G = ∇_X ℓ   (TAG)
tilt: the base transition tilted by the gradient, with scale γ:
    continuous  N(μ_θ + γ·σ_t²·g, σ_t²)                                          (TDS's twisted proposal)
    discrete    q(x_sˡ = k) ∝ q_θ(x_sˡ = k)·exp(γ·(G[ℓ,k] − G[ℓ,M])) on masked ℓ; [MASK] and revealed rows unchanged
                (methods.md §14; the exponent is clamped to ±80, pitfall P8)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench.diffusion.gaussian import GaussProposal
from bench.diffusion.masked import CatProposal
from bench.method import Context


@dataclass
class Tilt:
    """A prediction at x_t (detached), the proxy value there, and its gradient w.r.t. the input."""

    pred: Any
    value: torch.Tensor  # (R,)
    grad: torch.Tensor  # continuous (R, *shape); discrete (R, L, V+1)


def value_and_grad(ctx: Context, x: torch.Tensor, t, owner: torch.Tensor) -> Tilt:
    """One forward with grad and one VJP through the denoiser and the differentiable proxy."""
    fam = ctx.family
    inp = (x.detach().float() if fam.kind == "continuous" else fam.onehot(x)).requires_grad_(True)
    with torch.enable_grad():
        pred = fam.denoise(inp, t)
        clean = pred.x0 if fam.kind == "continuous" else fam.soft_x0(pred)
        value = ctx.grad_reward(clean, owner)  # (R,)
        grad = torch.autograd.grad(torch.nan_to_num(value).sum(), inp)[0]
    grad = torch.nan_to_num(grad)
    return Tilt(_detach(pred, x), value.detach(), grad)


def _detach(pred, x: torch.Tensor):
    fields = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in vars(pred).items()}
    if "x_t" in fields:
        fields["x_t"] = x.detach()
    return type(pred)(**fields)


def tilted_proposal(ctx: Context, x: torch.Tensor, t, s, tilt: Tilt, scale: float):
    """The base transition p_θ(x_s | x_t) tilted by the gradient (a GaussProposal or CatProposal)."""
    fam = ctx.family
    base = fam.proposal(x, t, s, tilt.pred)
    if fam.kind == "continuous":
        return GaussProposal(base.mean + scale * base.std**2 * tilt.grad, base.std)
    g = tilt.grad  # (R, L, V+1)
    expo = (scale * (g[..., : fam.vocab] - g[..., fam.vocab:])).clamp(-80, 80)  # (R, L, V)
    probs = base.probs.clone()
    masked = (x == fam.mask_id).unsqueeze(-1)  # (R, L, 1)
    real = torch.where(masked, probs[..., : fam.vocab] * expo.exp(), probs[..., : fam.vocab])
    probs = torch.cat([real, probs[..., fam.vocab:]], -1)
    return CatProposal(probs / probs.sum(-1, keepdim=True).clamp_min(1e-30))
