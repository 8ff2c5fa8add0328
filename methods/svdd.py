"""`svdd` — Soft Value-based Decoding, SVDD-PM (Li et al. 2024, arXiv 2408.08252).

Update rule (methods.md §15), per returned sample and step t → s:
    children c_1..c_M ~ p_θ(· | x_t)                 (the parent's forward is cached from the last selection)
    v_m = r(point(x̂0(c_m)))                           (PM value; one forward per child)
    m* = argmax_m v_m (α = 0)  or  m* ~ softmax(v/α)
    x_s = c_{m*}
Engine form: A = 1, K = M, select per parent. Cost ≈ M·T·F + M·T·R; budget b → the largest M that fits (forward cached).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bench.method import FRACTION, NONNEG
from bench.search import SearchMethod, SearchSpec


@dataclass(frozen=True)
class Config:
    M: int = 4  # children per step
    alpha: float = 0.0  # 0 = argmax selection; > 0 = softmax(v/α) sampling
    window_start: float = 0.0  # guide only the last (1 − window_start) of the steps


class SVDD(SearchMethod):
    key = "svdd"
    version = "2"
    paper = "Li et al. 2024, Derivative-free guidance via soft value-based decoding (arXiv 2408.08252)"
    Config = Config
    bounds = {"alpha": NONNEG, "window_start": FRACTION}

    def spec(self, cfg: Config) -> SearchSpec:
        sel = "parent" if cfg.alpha == 0 else "softmax"
        return SearchSpec(A=1, K=cfg.M, select=sel, alpha=cfg.alpha or 1.0, window_start=cfg.window_start)

    def widen(self, cfg: Config, w: int) -> Config:
        return replace(cfg, M=w)


METHOD = SVDD()
