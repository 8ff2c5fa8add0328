"""`cfg-pp` — CFG++ (Chung et al., "CFG++: Manifold-constrained Classifier Free Guidance for Diffusion Models",
ICLR 2025), Gaussian family only.

Update rule, per step t → s with λ ∈ [0, 1]:
    x̂0_λ = x̂0_∅ + λ·(x̂0_c − x̂0_∅)                         (the CFG combination, on x̂0)
    x_s  = √ᾱ_s·x̂0_λ + √(1−ᾱ_s−σ²)·ε̂_∅ + σ·z              (renoised with the *unconditional* ε̂, not the guided)
CFG would renoise with the guided ε̂ as well; using ε̂_∅ keeps x_s on the data manifold's noisy shell, so small λ
(its paper: λ ∈ [0, 1] ≈ CFG ω ∈ [1, 12.5]) replaces large ω. The x̂0 / ε̂ bookkeeping is the family's
(``GaussianFamily.renoised_with``). c is the objective's condition (``Task.condition``). Guidance interval as in
``cfg``. Cost: 2 forwards per active step, 1 elsewhere; budgets above it are best-of-k.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.meter import Counts
from bench.method import FRACTION, Context, Output
from bench.quality import QualityConfig, QualityMethod


@dataclass(frozen=True)
class Config(QualityConfig):
    w: float = 0.6  # λ


class CFGpp(QualityMethod):
    key = "cfg-pp"
    kind = "cfg"
    paper = "Chung et al., CFG++: Manifold-constrained Classifier Free Guidance (ICLR 2025)"
    supports = frozenset({"continuous"})
    toy_objectives = {"gmm": "label=3"}
    Config = Config
    bounds = {"w": FRACTION, "lo": FRACTION, "hi": FRACTION}

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=steps + sum(self.spec(cfg).active_steps(steps, off_at_one=False)))

    def run(self, ctx: Context, cfg: Config) -> Output:
        strong, weak = ctx.quality.branches(self.kind)
        on = self.spec(cfg).active_steps(ctx.steps, off_at_one=False)  # λ = 1 still renoises with ε̂_∅
        f_c, f_0 = ctx.quality.with_net(ctx.family, strong), ctx.quality.with_net(ctx.family, weak)
        owner = ctx.owners()  # (n,)
        x = ctx.family.prior(ctx.streams, owner)  # (n, *shape)
        for i, (t, s) in enumerate(ctx.progress(ctx.family.timesteps(ctx.steps), self.key)):
            cond = f_c.denoise(x, t)
            if on[i]:
                null = f_0.denoise(x, t)
                pred = ctx.family.renoised_with(null, null.x0 + cfg.w * (cond.x0 - null.x0))
            else:
                pred = cond
            x = ctx.family.proposal(x, t, s, pred).sample(ctx.streams, owner)  # (n, *shape)
        return Output(x, owner)


METHOD = CFGpp()
