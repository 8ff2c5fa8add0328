"""`dps` — Diffusion Posterior Sampling (Chung et al., ICLR 2023), in TFG's form.

Update rule (methods.md §7), one forward with grad per step (reused for the step and the normaliser, P4):
    x̂0 = x̂0(x_t);  ℓ = r(x̂0)                       (differentiable proxy; a log-likelihood-like reward)
    g  = ∇_{x_t} ℓ                  (norm="none")   or   ∇_{x_t} ℓ / |ℓ|   (norm="abs", the DPS ζ/‖y − A(x̂0)‖ form)
    x_{t−1} = DDIM(x_t; x̂0, ε_θ) + s·g
Normalisation (P9): "none" by default because toy rewards cross zero; "abs" for residual-norm rewards.
It is TFG's point (ρ = s constant, μ = 0, γ = 0, N_recur = 1) in the "plain" form of ``bench.guidance`` (no 1/√α_t).
Non-finite gradient rows get no guidance and are counted (P8). Continuous only (use `tag` on masked data).
Cost: T·(F + B + ∇R).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import guidance
from bench.method import NONNEG, Bound


@dataclass(frozen=True)
class Config:
    scale: float = 1.0  # s
    norm: str = "none"  # "none" | "abs"


def spec(cfg: Config) -> guidance.GuidanceSpec:
    """The TFG point of this config."""
    return guidance.GuidanceSpec(rho=cfg.scale, rho_schedule="constant", form="plain", norm=cfg.norm)


class DPS(guidance.GuidanceMethod):
    key = "dps"
    version = "2"
    paper = "Chung et al. 2023, Diffusion posterior sampling for general noisy inverse problems (ICLR)"
    Config = Config
    bounds = {"scale": NONNEG, "norm": Bound(choices=("none", "abs"))}
    tunable = {"scale": (0.25, 2.0, 8.0)}

    def spec(self, cfg: Config) -> guidance.GuidanceSpec:
        return spec(cfg)


METHOD = DPS()
