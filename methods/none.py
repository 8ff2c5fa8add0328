"""`none` — unguided sampling (the 1× budget).

Update rule (methods.md §5): continuous x_{t−1} = DDIM(x_t; x̂0(x_t), ε_θ) with η; discrete x_s ~ q_θ(· | x_t).
Cost: T·F. It is the engine with A = K = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bench.meter import Calibration
from bench.search import SearchMethod, SearchSpec


@dataclass(frozen=True)
class Config:
    """No knobs: the step count and η belong to the run and the family."""


class NoGuidance(SearchMethod):
    key = "none"
    paper = "unguided ancestral sampling"
    Config = Config

    def spec(self, cfg: Config) -> SearchSpec:
        return SearchSpec(A=1, K=1)

    def widen(self, cfg: Config, w: int) -> Config:
        return replace(cfg)

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return cfg

    def sized_at_run(self, cfg: Config) -> bool:
        return True  # the unguided reference: T forwards at every budget, never best-of-k


METHOD = NoGuidance()
