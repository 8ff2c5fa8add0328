"""`treeg-g` — TreeG with gradient-guided branching (Guo et al., NeurIPS 2025, arXiv 2502.11420).

Update rule (methods.md §18.3): each returned sample keeps A active states; at a guided step t → s each state
takes one forward with grad and one VJP (`bench.twist.value_and_grad`), and branches into K children from the
gradient-tilted transition (discrete: the TAG rule, q_θ(k)·exp(γ(G[ℓ,k] − G[ℓ,M])); continuous: the DPS-form
shift N(μ_θ + γ·σ_t²·∇_{x_t} r(x̂0), σ_t²)); the children are scored by the MC look-ahead value
α·log mean_m exp(r(x0^m)/α) over `mc` x0 draws (or PM), and the top-A of the pooled A·K survive.
Cost per guided step: A·(1+K)·F + A·B + value reward calls; budget b → the largest A at the configured K.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bench.method import FRACTION, NONNEG, Bound, Context
from bench.search import SearchMethod, SearchSpec
from bench.twist import tilted_proposal, value_and_grad


@dataclass(frozen=True)
class Config:
    A: int = 1  # active set size per returned sample
    K: int = 4  # branches per active state
    gamma: float = 2.0  # gradient scale (γ = 1/guide_temp; guide_temp 0.5 in the released molecule code)
    value: str = "mc"  # "mc" | "pm"
    mc: int = 4  # x0 draws of the MC value
    window_start: float = 0.0


class TreeGG(SearchMethod):
    key = "treeg-g"
    version = "2"
    paper = "Guo, Yang, Yuan, Wang 2025, TreeG (arXiv 2502.11420)"
    needs_grad = True
    Config = Config
    bounds = {"gamma": NONNEG, "value": Bound(choices=("mc", "pm")), "window_start": FRACTION}
    shrink = "K"
    window = "window_start"  # when K = 2 does not fit: guide only the latest steps that do
    tunable = {"gamma": (0.25, 2.0, 8.0)}

    def spec(self, cfg: Config) -> SearchSpec:
        return SearchSpec(A=cfg.A, K=cfg.K, select="top", window_start=cfg.window_start, value=cfg.value,
                          mc=cfg.mc, branch_forwards=1)

    def widen(self, cfg: Config, w: int) -> Config:
        return replace(cfg, A=w)


    def branch(self, cfg: Config):
        def guided(ctx: Context, x, t, s, pred, owner, k):
            tilt = value_and_grad(ctx, x, t, owner)
            return tilted_proposal(ctx, x, t, s, tilt, cfg.gamma).sample(ctx.streams, owner, k)
        return guided


METHOD = TreeGG()
