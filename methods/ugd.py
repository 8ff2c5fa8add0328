"""`ugd` — Universal Guidance (Bansal, Chu, Schwarzschild, Sengupta, Goldblum, Geiping, Goldstein, "Universal
Guidance for Diffusion Models", ICLR 2024, arXiv 2302.07121), rule as in TFG's `methods/ugd.py` (methods.md §9).

Update rule, per step t → t−1, for r = 1..k (self-recurrence; one forward with grad and one VJP per pass, P4):
    x̂0 = x̂0(x_t)                                            (with grad)
    ε̂  = ε_θ(x_t) − s·√(1−ᾱ_t)·∇_{x_t} ℓ(x̂0)                (forward guidance)
    x0′ = detach(x̂0); m times: x0′ += s·∇_{x0} ℓ(x0′)        (backward guidance, ∇_{x0} only)
    ε̂  = ε̂ − √(ᾱ_t/(1−ᾱ_t))·(x0′ − x̂0)
    x_{t−1} = DDIM(x_t; x0 implied by ε̂, ε̂)                  (implied x0 = x̂0 + s(1−ᾱ_t)/√ᾱ_t·∇ℓ + (x0′ − x̂0))
    if r < k:  x_t = Renoise(x_{t−1})
Normalisation (P9): one constant step s for both guidances, no |ℓ| division. This differs from TFG's mean guidance
(Δ_0 enters through ε̂, not as √ᾱ_{t−1}·Δ_0): the "ugd" form of ``bench.guidance``. Non-finite gradient rows
(UGD issue #22) are zeroed and counted in diagnostics["nan_grad_rows"] (P8).
Cost: k·T·(F + B + (1+m)·∇R); ``for_budget`` sets the most k whose forward-equivalents fit.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import guidance
from bench.method import NONNEG, Bound


@dataclass(frozen=True)
class Config:
    scale: float = 1.0  # s, forward and backward guidance step
    m: int = 3  # backward-guidance steps (TFG iter_steps − 1, iter_steps = 4)
    k: int = 1  # self-recurrence passes per step


def spec(cfg: Config) -> guidance.GuidanceSpec:
    """The TFG point of this config (ugd form)."""
    return guidance.GuidanceSpec(rho=cfg.scale, mu=cfg.scale, n_iter=cfg.m, n_recur=cfg.k, form="ugd")


class UGD(guidance.GuidanceMethod):
    key = "ugd"
    version = "2"
    paper = "Bansal et al. 2024, Universal guidance for diffusion models (ICLR)"
    Config = Config
    bounds = {"scale": NONNEG, "m": Bound(lo=0)}
    recurrence = "k"

    def spec(self, cfg: Config) -> guidance.GuidanceSpec:
        return spec(cfg)


METHOD = UGD()
