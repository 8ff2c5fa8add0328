"""`tfg` — Training-Free Guidance, unified (Ye, Lin, Han et al., "TFG: Unified Training-Free Guidance for Diffusion
Models", NeurIPS 2024, arXiv 2409.15761; core file `methods/tfg.py` of YWolfeee/Training-Free-Guidance; §12).

Update rule, per step t → t−1, for r = 1..N_recur (one forward with grad and one VJP per pass when ρ̄ ≠ 0, P4):
    x̂0  = x̂0(x_t)
    γ_t = σ̄·√(1−ᾱ_t) ('decrease') or σ̄ ('constant')
    ℓ̃(x0) = log (1/n_ε)·Σ_j exp ℓ(x0 + γ_t·ξ_j)              (logsumexp − log n_ε, P3)
    Δ_t = ρ_t·∇_{x_t} ℓ̃(x̂0(x_t))                               (variance guidance, VJP through ε_θ)
    x0′ = detach(x̂0); N_iter times: x0′ += μ_t·∇_{x0} ℓ̃(x0′);  Δ_0 = x0′ − x̂0   (mean guidance)
    x_{t−1} = DDIM(x_t; x̂0, ε_θ) + Δ_t/√α_t + √ᾱ_{t−1}·Δ_0
    if r < N_recur:  x_t = Renoise(x_{t−1})
ρ_t = ρ̄·w_t·T/Σw, μ_t likewise, w ∈ {increase: α_t, decrease: 1 − α_t, constant: 1}. Normalisation (P9): no |ℓ|
division, no gradient rescale; ξ are fresh for every reward evaluation (whether Δ_t and Δ_0 share them is
unverified) and are not drawn when γ_t = 0. Defaults: TFG's schedules (ρ, μ 'increase', σ 'decrease'),
N_iter = 4, n_ε = 1, N_recur = 1 and the released CIFAR-10 label setting (ρ̄, μ̄, σ̄) = (1, 0.25, 0.001).
x0′ is clamped when the family clamps x̂0; non-finite gradient rows are zeroed and counted (P8).
Cost: N_recur·T·(F + B + (1 + N_iter)·n_ε·∇R) (no B when ρ̄ = 0); ``for_budget`` sets the most N_recur that fit
the budget in forward-equivalents (at least 1; the runner adds best-of-k chains when two or more fit).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import guidance
from bench.method import NONNEG, Bound


@dataclass(frozen=True)
class Config:
    rho: float = 1.0  # ρ̄, variance guidance
    mu: float = 0.25  # μ̄, mean guidance
    sigma: float = 0.001  # σ̄, smoothing
    rho_schedule: str = "increase"
    mu_schedule: str = "increase"
    sigma_schedule: str = "decrease"  # "decrease" | "constant"
    n_recur: int = 1  # N_recur
    n_iter: int = 4  # N_iter
    n_eps: int = 1  # n_ε (eps_bsz)


def spec(cfg: Config) -> guidance.GuidanceSpec:
    """The TFG point of this config."""
    return guidance.GuidanceSpec(rho=cfg.rho, mu=cfg.mu, sigma=cfg.sigma, rho_schedule=cfg.rho_schedule,
                                 mu_schedule=cfg.mu_schedule, sigma_schedule=cfg.sigma_schedule,
                                 n_recur=cfg.n_recur, n_iter=cfg.n_iter, n_eps=cfg.n_eps, form="tfg")


class TFG(guidance.GuidanceMethod):
    key = "tfg"
    version = "2"
    paper = "Ye et al. 2024, TFG: Unified training-free guidance for diffusion models (NeurIPS)"
    Config = Config
    bounds = {
        "rho": NONNEG,
        "mu": NONNEG,
        "sigma": NONNEG,
        "rho_schedule": Bound(choices=("increase", "decrease", "constant")),
        "mu_schedule": Bound(choices=("increase", "decrease", "constant")),
        "sigma_schedule": Bound(choices=("decrease", "constant")),
        "n_iter": Bound(lo=0),
    }
    recurrence = "n_recur"

    def spec(self, cfg: Config) -> guidance.GuidanceSpec:
        return spec(cfg)


METHOD = TFG()
