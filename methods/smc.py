"""`smc` — Feynman–Kac steering / sequential Monte Carlo (Singhal et al., ICML 2025, arXiv 2501.06848).

Update rule (methods.md §16): k particles per population move with the base proposal; at each resampling point
the log-weights gain the potential log G (diff: λ(r̃_now − r̃_prev), telescoping to exp(λ·r(x0)); max / add / rt
with the final correction λ·r(x0) − Σ log G); r̃ is r(x̂0) (continuous) or the log-mean-exp over `mc` x0 draws
(discrete); populations are resampled (systematic) at every resampling point, or when ESS < ess·k with the
log-weights carried across skipped steps. Returns the argmax of r per population, or every particle
(`return_all`, the asymptotically exact sampler of p·exp(λ r)).
Cost per population: k·T·F + k·(n_res·mc + 1)·R (no R with k = 1). Budget b → the largest k with
cost <= b·T (argmax mode); `return_all` mode: particles per returned sample = b (at least k per population, the
number of populations set from the budget at run time, never above it).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.method import FRACTION, Bound
from bench.particles import ParticleMethod, ParticleSpec


@dataclass(frozen=True)
class Config:
    k: int = 4  # particles per population
    lam: float = 10.0  # λ = 1/α
    potential: str = "diff"  # diff | max | add | rt
    every: int = 1  # resampling interval (steps)
    window_start: float = 0.0  # first resampling point at step ≥ window_start·T
    ess: float | None = None  # adaptive resampling threshold (fraction of k); None = always
    mc: int = 1  # x0 draws for the intermediate reward (discrete)
    return_all: bool = False


class SMC(ParticleMethod):
    key = "smc"
    version = "2"
    paper = "Singhal et al. 2025, A general framework for inference-time scaling and steering (arXiv 2501.06848)"
    Config = Config
    bounds = {
        "potential": Bound(choices=("diff", "max", "add", "rt")),
        "window_start": FRACTION,
        "ess": Bound(lo=0.0, hi=1.0, lo_open=True),
    }
    tunable = {"lam": (0.5, 2.0, 32.0)}

    def spec(self, cfg: Config) -> ParticleSpec:
        return ParticleSpec(k=cfg.k, lam=cfg.lam, potential=cfg.potential, every=cfg.every,
                            window_start=cfg.window_start, ess=cfg.ess, mc=cfg.mc, return_all=cfg.return_all)

    def reduces_to(self, cfg: Config, steps: int, chains: int = 1) -> str | None:
        """One particle moves with the base proposal and is never resampled: `none` (`best-of-n` over chains)."""
        if cfg.k > 1:
            return None
        return "none" if chains == 1 else "best-of-n"


METHOD = SMC()
