"""`treeg-sd` — TreeG with branching in the destination (clean) space (Guo et al. 2025, arXiv 2502.11420).

Update rule (methods.md §18.2, our MDLM/DDIM instantiation): each returned sample keeps A active states; at a
guided step t → s each draws K destinations x0^(k) ~ p_θ(x0 | x_t) (`sample_x0`: discrete categorical draws;
continuous x̂0 + s·ρ_t·z with ρ_t = √(1−ᾱ_t)/√(2−ᾱ_t)); the destinations are scored exactly by r; the top-A
(x_t, x0*) pairs of the pooled A·K survive and each moves by the bridge q(x_s | x_t, x0*) (continuous: the
η-DDIM step toward x0*, the spec's `dsg = False` form). Cost: A·F per step + A·K·R per guided step;
budget b → the largest A that fits b·T forward-equivalents.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bench.method import FRACTION
from bench.search import SearchMethod, SearchSpec


@dataclass(frozen=True)
class Config:
    A: int = 1  # active set size per returned sample
    K: int = 8  # destination draws per active state (reward calls, no forwards)
    window_start: float = 0.0


class TreeGSD(SearchMethod):
    key = "treeg-sd"
    version = "2"
    paper = "Guo, Yang, Yuan, Wang 2025, TreeG (arXiv 2502.11420)"
    Config = Config
    bounds = {"window_start": FRACTION}
    shrink = "K"  # at a budget where even A = 1 does not fit, fewer destination draws (K = 1: unguided)
    window = "window_start"  # when K = 2 does not fit: guide only the latest steps that do

    def spec(self, cfg: Config) -> SearchSpec:
        return SearchSpec(A=cfg.A, K=cfg.K, branch="sd", select="top", window_start=cfg.window_start)

    def widen(self, cfg: Config, w: int) -> Config:
        return replace(cfg, A=w)


METHOD = TreeGSD()
