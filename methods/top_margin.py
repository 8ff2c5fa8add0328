"""`top-margin` — adaptive unmasking by the top-probability margin (Kim et al., "Train for the Worst, Plan for
the Best: Understanding Token Ordering in Masked Diffusions", ICML 2025), reward-free.

Update rule (masked family only): at each step t → s the ancestral sampler reveals each masked position with
probability (m_t − m_s)/m_t, in random order. Here the same number of positions per row is revealed, but the
ones chosen are those where the model is most decided, i.e. with the largest p_θ(x0ˡ = top-1 | x_t) −
p_θ(x0ˡ = top-2 | x_t); their tokens are drawn from p_θ (``MaskedFamily.margin_proposal``). Easy tokens first,
so a hard token is decided after what it depends on. Cost: T·F, like `none`; a budget above 1x is filled by
best-of-k over independent chains, selected by the proxy (as for every fixed-cost method), so only the 1x row
is reward-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, ancestral


@dataclass(frozen=True)
class Config:
    """No knobs: the step count is the run's, the reveal count per step the schedule's."""


class TopMargin(Method):
    key = "top-margin"
    paper = "Kim et al., Train for the Worst, Plan for the Best (ICML 2025): top-probability-margin unmasking"
    supports = frozenset({"discrete"})
    Config = Config

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=steps)

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return cfg

    def run(self, ctx: Context, cfg: Config) -> Output:
        owner = ctx.owners()  # (n,)
        return Output(ancestral(ctx, ctx.family, owner, "top-margin", proposal="margin_proposal"), owner)


METHOD = TopMargin()
