"""`tds` — Twisted Diffusion Sampler (Wu, Trippe, Naesseth, Blei, Cunningham, NeurIPS 2023, arXiv 2306.17775).

Update rule (methods.md §17), k particles per population, twist log p̃_t(x_t) = λ·r(x̂0(x_t)):
    continuous  x_s ~ N(μ_θ(x_t) + σ_t²·∇_{x_t} log p̃_t, σ_t²)
    discrete    x_s ~ the TAG-tilted q_θ with γ = λ (the guided DFM rates of the released TreeG code, in MDLM form)
    log w += log p_θ(x_s | x_t) − log p̃(x_s | x_t)                (proposal correction: keeps it exact as k → ∞)
           + log p̃_s(x_s) − log p̃_t(x_t)                          (twist ratio; the exact λ·r(x0) at the last step)
    systematic resampling at every step, or when ESS < ess·k (log-weights carried across skipped steps)
One forward with grad and one VJP per particle per step serve the twist value, its gradient and the next
proposal. Returns the argmax of r per population, or all particles (`return_all`). Cost: k·T·(F + B + ∇R) + k·R
(the final reward; none with k = 1). Budget b → the largest k that fits (argmax mode); `return_all`: particles
per returned sample = b, as in `smc`.
The gradient-free discrete variant of SVDD's code equals `smc` with the diff potential (use that key).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.method import Bound
from bench.particles import ParticleMethod, ParticleSpec


@dataclass(frozen=True)
class Config:
    k: int = 4  # particles per population
    lam: float = 1.0  # λ: twist scale and target tilt p·exp(λ r)
    ess: float | None = None  # adaptive resampling threshold (fraction of k); None = every step
    return_all: bool = False


class TDS(ParticleMethod):
    key = "tds"
    version = "2"
    paper = "Wu et al. 2023, Practical and asymptotically exact conditional sampling in diffusion models"
    needs_grad = True
    Config = Config
    bounds = {"ess": Bound(lo=0.0, hi=1.0, lo_open=True)}
    tunable = {"lam": (0.25, 2.0, 16.0)}

    def spec(self, cfg: Config) -> ParticleSpec:
        return ParticleSpec(k=cfg.k, lam=cfg.lam, potential="diff", ess=cfg.ess, return_all=cfg.return_all,
                            twist=cfg.lam)


METHOD = TDS()
