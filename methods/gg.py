"""`gg` — gradient guidance with a look-ahead loss (Guo, Yuan, Yang, Chen, Wang, "Gradient Guidance for Diffusion
Models: An Optimization Perspective", NeurIPS 2024, arXiv 2404.14743; yukang123/GGDMOptim `simulations/diffusion.py`
`cond_score_v2` and `simulations/main.py::optimize`; methods.md §13). G_loss form with the outer loop (Algorithm 1).

    z_0 = unguided samples                                   (one unguided pass, T·F)
    for k = 1..rounds:
        g_k = ∇r(z_{k−1})                                     per sample, ctx.grad_reward with grad on x0 (as the code)
        y_k = δ + g_kᵀ z_{k−1}                                per-sample target
        z_k = sample with, at every step t → t−1 (one forward with grad, one VJP):
            v = g_kᵀ x̂0(x_t);  ∇v = ∇_{x_t} v;  h_t = 1 − ᾱ_t
            β_t = β_coef·(ᾱ_t/2)/(ᾱ_t·σ² + h_t‖∇v‖²)   (theoretical; β_coef·β when ``beta`` is set)
            s′ = s_θ − β_t·∇_{x_t}(y_k − v)²,  i.e.  ε′ = −√h_t·s′ = ε_θ + √h_t·β_t·2(v − y_k)·∇v
            x_{t−1} = DDIM(x_t; x0 implied by ε′, ε′)          (the ordinary step with ε′)
    return z_rounds
Normalisation (P9): the reward enters linearised through g_k (no |ℓ| division); δ is the per-round increment of
g_kᵀz. Non-finite gradient rows (of g_k or ∇v) get no guidance and are counted (P8). The score-matching fine-tune
(Algorithm 2) is out of scope. Cost per returned sample: (rounds + 1)·T·F + rounds·T·B + rounds·∇R; the spec's
rounds·T·(F+B) omits the unguided z_0 pass, which we count. ``for_budget`` sets the most rounds whose cost fits
the budget in forward-equivalents (at least 0).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from bench import guidance
from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, fit_width


@dataclass(frozen=True)
class Config:
    delta: float = 0.05  # δ, target increment per round (--interval)
    sigma: float = 0.1  # σ, reward noise level in y = f(x) + noise
    beta: float | None = None  # constant β_t (--beta); None = the theoretical β_t
    beta_coef: float = 1.0  # multiplier of β_t (--beta_coef)
    rounds: int = 3  # guided sampling rounds after the unguided z_0


def reward_gradient(ctx: Context, z: torch.Tensor, owner: torch.Tensor, diag: dict[str, int]) -> torch.Tensor:
    """g = ∇_{x0} r(z) per sample: (n, *shape)."""
    x0 = z.detach().requires_grad_(True)
    with torch.enable_grad():
        r = ctx.grad_reward(x0, owner)  # (n,)
        g = torch.autograd.grad(r.sum(), x0)[0] if r.requires_grad else torch.zeros_like(x0)
    return guidance.guard(g, diag)


def beta_t(cfg: Config, a: float, dv: torch.Tensor) -> torch.Tensor:
    """β_t per row, (B, 1, ...) broadcastable to dv (B, *shape)."""
    shape = (-1, *[1] * (dv.dim() - 1))
    if cfg.beta is not None:
        return torch.full((dv.shape[0],), cfg.beta * cfg.beta_coef, device=dv.device).view(shape)
    norm2 = dv.flatten(1).pow(2).sum(1)  # (B,)
    return (cfg.beta_coef * (a / 2) / (a * cfg.sigma**2 + (1 - a) * norm2)).view(shape)


def guided_step(ctx: Context, cfg: Config, x: torch.Tensor, t: int, s: int, g: torch.Tensor, y: torch.Tensor,
                owner: torch.Tensor, diag: dict[str, int]) -> torch.Tensor:
    """One G_loss step t → s: ε′ = ε_θ + √h_t·β_t·2(v − y)·∇v, then DDIM with ε′ and its implied x0."""
    fam, a = ctx.family, ctx.family.abar(t)
    pred, v, dv = guidance.denoise_vjp(fam, x, t, lambda x0: (g * x0).flatten(1).sum(1))  # v (B,), dv (B, *shape)
    dv = guidance.guard(dv, diag)
    resid = (v - y).view(-1, *[1] * (dv.dim() - 1))  # (B, 1, ...)
    push = guidance.guard(fam.noise_std(t) * beta_t(cfg, a, dv) * 2 * resid * dv, diag)  # (B, *shape) √h_t·…
    guided = fam.from_eps(pred.x_t, t, pred.eps + push)  # ε′ and its implied x0 (clamped like x̂0, P8)
    return fam.proposal(pred.x_t, t, s, guided).sample(ctx.streams, owner)


def guided_pass(ctx: Context, cfg: Config, g: torch.Tensor, y: torch.Tensor, owner: torch.Tensor,
                diag: dict[str, int], desc: str) -> torch.Tensor:
    """A full sampling pass from the prior guided toward g·x0 = y: (n, *shape)."""
    x = ctx.family.prior(ctx.streams, owner)  # (n, *shape)
    for t, s in ctx.progress(ctx.family.timesteps(ctx.steps), desc):
        x = guided_step(ctx, cfg, x, t, s, g, y, owner, diag).detach()
    return x


class GG(Method):
    key = "gg"
    version = "2"
    paper = "Guo et al. 2024, Gradient guidance for diffusion models: an optimization perspective (NeurIPS)"
    supports = frozenset({"continuous"})
    needs_grad = True
    Config = Config

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=(cfg.rounds + 1) * steps, backward=cfg.rounds * steps, grad_reward=cfg.rounds)

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        cost = lambda r: self.cost(dataclasses.replace(cfg, rounds=r), steps, cal)  # noqa: E731
        return dataclasses.replace(cfg, rounds=fit_width(cost, budget * steps, start=0))

    def run(self, ctx: Context, cfg: Config) -> Output:
        owner = ctx.owners()
        z = guidance.sample(ctx, guidance.GuidanceSpec(), "gg z0").x0  # (n, *shape), unguided
        diag: dict[str, int] = {"nan_grad_rows": 0}
        targets = []
        for k in range(cfg.rounds):
            g = reward_gradient(ctx, z, owner, diag)  # (n, *shape)
            y = cfg.delta + (g * z).flatten(1).sum(1)  # (n,)
            targets.append(float(y.mean()))
            z = guided_pass(ctx, cfg, g, y, owner, diag, f"gg round {k + 1}")
        return Output(z.detach(), owner, diagnostics={**diag, "mean_target_per_round": targets})


METHOD = GG()
