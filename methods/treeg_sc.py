"""`treeg-sc` — TreeG with branching in the current state (Guo et al., NeurIPS 2025, arXiv 2502.11420).

Update rule (methods.md §18.1): each returned sample keeps A active states; at a guided step t → s each branches
into K children from the base transition (continuous: μ_t(x̂0, ε̂) + σ_t·z_k; discrete: q_θ(x_s | x_t));
every child is scored by the look-ahead value r(x̂0(child)) (PM; `value="mc"` uses α·log mean exp over x0 draws);
the top-A of the pooled A·K survive. After the last step the best active state by r is returned.
Children are evaluated at s (the released code uses t; see the spec's note).
Cost per guided step A·K·F (+ A·K·R); budget b → the largest A with cost ≤ b·T at the configured K.
`treeg` is an alias of this key.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bench.method import FRACTION, Bound
from bench.search import SearchMethod, SearchSpec


@dataclass(frozen=True)
class Config:
    A: int = 1  # active set size per returned sample
    K: int = 4  # branches per active state
    window_start: float = 0.0  # guide only step indices ≥ window_start·T
    value: str = "pm"  # "pm" | "mc"
    mc: int = 4  # x0 draws of the MC value


class TreeGSC(SearchMethod):
    key = "treeg-sc"
    version = "2"
    paper = "Guo, Yang, Yuan, Wang 2025, TreeG (arXiv 2502.11420)"
    Config = Config
    bounds = {"value": Bound(choices=("pm", "mc")), "window_start": FRACTION}
    shrink = "K"
    window = "window_start"  # when K = 2 does not fit: guide only the latest steps that do

    def spec(self, cfg: Config) -> SearchSpec:
        return SearchSpec(A=cfg.A, K=cfg.K, select="top", window_start=cfg.window_start, value=cfg.value,
                          mc=cfg.mc)

    def widen(self, cfg: Config, w: int) -> Config:
        return replace(cfg, A=w)



METHOD = TreeGSC()
