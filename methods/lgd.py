"""`lgd` — Loss-Guided Diffusion, Monte-Carlo form (Song et al., "Loss-Guided Diffusion Models for Plug-and-Play
Controllable Generation", ICML 2023), rule as in TFG's `methods/lgd.py` (methods.md §11).

Update rule, per step t → t−1 (one forward with grad, one VJP, n reward rows):
    x̂0 = x̂0(x_t)                                                        (with grad)
    g  = ∇_{x_t} log( (1/n)·Σ_i exp ℓ(x̂0 + √(1−ᾱ_t)·ξ_i) ),  ξ_i ~ N(0, I)   (logsumexp − log n, P3)
    x_{t−1} = DDIM(x_t; x̂0, ε_θ) + s·g
Normalisation (P9): TFG's code also divides g by n; we do not (fold constants into s). No |ℓ| division, no
gradient rescale (TFG clips only for molecules). ξ are fresh per step from the sample's stream. TFG point:
ρ = s ('constant'), μ = 0, γ_t = √(1−ᾱ_t) (σ̄ = 1, 'decrease'), n_ε = n, N_recur = 1, "plain" form of
``bench.guidance``. Non-finite gradient rows are zeroed and counted (P8). Cost: T·(F + B + n·∇R).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import guidance
from bench.method import NONNEG


@dataclass(frozen=True)
class Config:
    scale: float = 1.0  # s
    n_mc: int = 10  # n, Monte-Carlo copies of x̂0 (named n_mc: `n` is the run's sample count)


def spec(cfg: Config) -> guidance.GuidanceSpec:
    """The TFG point of this config."""
    return guidance.GuidanceSpec(rho=cfg.scale, sigma=1.0, sigma_schedule="decrease", n_eps=cfg.n_mc, form="plain")


class LGD(guidance.GuidanceMethod):
    key = "lgd"
    version = "2"
    paper = "Song et al. 2023, Loss-guided diffusion models for plug-and-play controllable generation (ICML)"
    Config = Config
    bounds = {"scale": NONNEG}

    def spec(self, cfg: Config) -> guidance.GuidanceSpec:
        return spec(cfg)


METHOD = LGD()
