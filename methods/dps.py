"""`dps` — Diffusion Posterior Sampling (Chung et al., ICLR 2023), in TFG's form.

Update rule (methods.md §7), one forward with grad per step (reused for the step and the normaliser, P4):
    x̂0 = x̂0(x_t);  ℓ = r(x̂0)                       (differentiable proxy; a log-likelihood-like reward)
    g  = ∇_{x_t} ℓ                  (norm="none")   or   ∇_{x_t} ℓ / |ℓ|   (norm="abs", the DPS ζ/‖y − A(x̂0)‖ form)
    x_{t−1} = DDIM(x_t; x̂0, ε_θ) + s·g
Normalisation (P9): "none" by default because toy rewards cross zero; "abs" for residual-norm rewards.
Continuous only (use `tag` on masked data). Cost: T·(F + B + ∇R).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.method import Context, Method, Output


@dataclass(frozen=True)
class Config:
    scale: float = 1.0  # s
    norm: str = "none"  # "none" | "abs"


class DPS(Method):
    key = "dps"
    paper = "Chung et al. 2023, Diffusion posterior sampling for general noisy inverse problems (ICLR)"
    supports = frozenset({"continuous"})
    needs_grad = True
    Config = Config

    def cost(self, cfg: Config, steps: int) -> float:
        return float(steps)

    def for_budget(self, cfg: Config, budget: float, steps: int) -> Config:
        return cfg

    def run(self, ctx: Context, cfg: Config) -> Output:
        fam, owner = ctx.family, ctx.owners()
        x = fam.prior(ctx.streams, owner)
        for t, s in ctx.progress(fam.timesteps(ctx.steps), "dps"):
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                pred = fam.denoise(x, t)
                ell = ctx.grad_reward(pred.x0, owner)  # (n,)
                g = torch.autograd.grad(ell.sum(), x)[0]  # (n, *shape)
            if cfg.norm == "abs":
                g = g / ell.detach().abs().clamp_min(1e-8).view(-1, *[1] * (g.dim() - 1))
            pred.x0, pred.eps = pred.x0.detach(), pred.eps.detach()
            x = fam.proposal(x.detach(), t, s, pred).sample(ctx.streams, owner) + cfg.scale * g
        return Output(x.detach(), owner)


METHOD = DPS()
