"""`tag` — first-order discrete guidance through the one-hot input (Nisonoff et al., ICLR 2025, arXiv 2406.01572).

Update rule (methods.md §14, our MDLM "discrete DPS" form), per step t → s:
    X = onehot(x_t) with grad;  P = E[x0 | X] (revealed rows copied);  G = ∇_X r(P)     (one forward + one VJP)
    q(x_sˡ = k) ∝ q_θ(x_sˡ = k | x_t)·exp(γ·(G[ℓ,k] − G[ℓ,M]))   for masked ℓ and real k
    q(x_sˡ = M) ∝ q_θ(x_sˡ = M | x_t);  revealed tokens copied
Exponents clamped to ±80. Discrete only (the continuous analogue is `dps`). Cost: T·(F + B + ∇R); no width
knob, so a larger budget runs best-of-k chains (the runner).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.meter import Calibration, Counts
from bench.method import NONNEG, Context, Method, Output
from bench.twist import tilted_proposal, value_and_grad


@dataclass(frozen=True)
class Config:
    gamma: float = 2.0  # γ = 1/guide_temp (UniTreeG guide_temp 0.5)


class TAG(Method):
    key = "tag"
    version = "2"
    paper = "Nisonoff et al. 2025, Unlocking guidance for discrete state-space diffusion and flow models (ICLR)"
    supports = frozenset({"discrete"})
    needs_grad = True
    Config = Config
    bounds = {"gamma": NONNEG}
    tunable = {"gamma": (0.25, 2.0, 8.0)}

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=steps, backward=steps, grad_reward=steps)

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return cfg

    def run(self, ctx: Context, cfg: Config) -> Output:
        fam, owner = ctx.family, ctx.owners()
        x = fam.prior(ctx.streams, owner)
        for t, s in ctx.progress(fam.timesteps(ctx.steps), "tag"):
            tilt = value_and_grad(ctx, x, t, owner)
            x = tilted_proposal(ctx, x, t, s, tilt, cfg.gamma).sample(ctx.streams, owner)
        return Output(x, owner)


METHOD = TAG()
