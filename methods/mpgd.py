"""`mpgd` — Manifold Preserving Guided Diffusion (He, Murata, Lai, Takida, Uesaka, Kim, Liao, Mitsufuji, Kolter,
Salakhutdinov, Ermon, ICLR 2024, arXiv 2311.16424), Algorithm 1 as in TFG's `methods/mpgd.py` (methods.md §10).

Update rule, per step t → t−1 (one forward without grad; no backprop through ε_θ):
    pred = denoise(x_t)
    x0′  = pred.x̂0 + c_t·∇_{x0} ℓ(pred.x̂0)
    x_{t−1} = DDIM(x_t; x0′, ε_θ)  =  DDIM(x_t; x̂0, ε_θ) + √ᾱ_{t−1}·(x0′ − x̂0)
c_t = c̄·w_t·T/Σw; the paper's schedule is unverified, so the default is 'constant' (c_t = c̄).
Normalisation (P9): none (plain gradient of the log-reward). TFG point: ρ = 0, μ = c, γ = 0, N_recur = 1,
N_iter = 1. The AE/latent variants are not implemented. x0′ is clamped when the family clamps x̂0; non-finite
gradient rows are zeroed and counted (P8). Cost: T·(F + ∇R), no B.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import guidance
from bench.method import NONNEG, Bound


@dataclass(frozen=True)
class Config:
    c: float = 1.0  # c̄, step on x0
    schedule: str = "constant"  # "increase" | "decrease" | "constant"


def spec(cfg: Config) -> guidance.GuidanceSpec:
    """The TFG point of this config."""
    return guidance.GuidanceSpec(mu=cfg.c, mu_schedule=cfg.schedule, n_iter=1, form="tfg")


class MPGD(guidance.GuidanceMethod):
    key = "mpgd"
    version = "2"
    paper = "He et al. 2024, Manifold preserving guided diffusion (ICLR)"
    Config = Config
    bounds = {"c": NONNEG, "schedule": Bound(choices=("increase", "decrease", "constant"))}

    def spec(self, cfg: Config) -> guidance.GuidanceSpec:
        return spec(cfg)


METHOD = MPGD()
