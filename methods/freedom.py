"""`freedom` — FreeDoM (Yu, Wang, Zhao, Ghanem, Zhang, "FreeDoM: Training-Free Energy-Guided Conditional Diffusion
Model", ICCV 2023, arXiv 2303.09833), rule as in TFG's `methods/freedom.py` (methods.md §8).

Update rule, per step t → t−1, for r = 1..N_recur (one forward with grad and one VJP per pass, P4):
    x̂0 = x̂0(x_t)                                   (with grad)
    x_{t−1} = DDIM(x_t; x̂0, ε_θ) + ρ_t·∇_{x_t} ℓ(x̂0)
    if r < N_recur:  x_t = Renoise(x_{t−1})         (time travel, fresh z)
ρ_t = ρ̄·w_t·T/Σw with w = α_t ('increase', TFG's default), 1 − α_t ('decrease') or 1 ('constant').
Normalisation (P9): no |ℓ| division, no 1/√α_t (unlike `tfg`); ρ̄ is the mean step over the trajectory.
Recurrence runs at every step (the paper's "semantic stage" window is unverified). TFG point: ρ > 0, μ = 0, γ = 0,
N_recur ≥ 1, "plain" form of ``bench.guidance``. Non-finite gradient rows are zeroed and counted (P8).
Cost: N_recur·T·(F + B + ∇R); ``for_budget`` sets the most N_recur whose forward-equivalents fit.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import guidance
from bench.method import NONNEG, Bound


@dataclass(frozen=True)
class Config:
    rho: float = 1.0  # ρ̄, mean guidance step over the trajectory
    schedule: str = "increase"  # w_t: "increase" | "decrease" | "constant"
    n_recur: int = 1  # N_recur, passes per step (time travel)


def spec(cfg: Config) -> guidance.GuidanceSpec:
    """The TFG point of this config."""
    return guidance.GuidanceSpec(rho=cfg.rho, rho_schedule=cfg.schedule, n_recur=cfg.n_recur, form="plain")


class FreeDoM(guidance.GuidanceMethod):
    key = "freedom"
    version = "2"
    paper = "Yu et al. 2023, FreeDoM: Training-free energy-guided conditional diffusion model (ICCV)"
    Config = Config
    bounds = {"rho": NONNEG, "schedule": Bound(choices=("increase", "decrease", "constant"))}
    recurrence = "n_recur"

    def spec(self, cfg: Config) -> guidance.GuidanceSpec:
        return spec(cfg)


METHOD = FreeDoM()
