"""`sir` — sampling-importance resampling (an example plugin method).

Update rule: draw K unguided chains x0^(1..K) per returned sample (η-DDIM with the base model), then return
x0^(k) with probability w_k ∝ exp(λ·r(x0^(k))): a self-normalised importance sampler of p·exp(λ r) (exact as
K → ∞, the base model at K = 1). Cost: K·T forwards + K reward rows (none at K = 1). Budget b → the largest K
with K·T + c_r·K <= b·T.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, fit_width


@dataclass(frozen=True)
class Config:
    K: int = 4  # unguided chains per returned sample
    lam: float = 1.0  # λ of the target tilt p·exp(λ r)


class SIR(Method):
    """Sampling-importance resampling over K independent base chains per returned sample."""

    key = "sir"
    version = "1"
    paper = "sampling-importance resampling (Rubin 1987)"
    supports = frozenset({"continuous"})
    Config = Config

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=cfg.K * steps, reward=cfg.K if cfg.K > 1 else 0)

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return replace(cfg, K=fit_width(lambda k: self.cost(replace(cfg, K=k), steps, cal), budget * steps))

    def sized_at_run(self, cfg: Config) -> bool:
        return True  # K absorbs the budget; best-of-k chains on top would change the target

    def run(self, ctx: Context, cfg: Config) -> Output:
        fam, k = ctx.family, cfg.K
        owner = ctx.owners(k)  # (n·K,) sample-major
        x = fam.prior(ctx.streams, owner)  # (n·K, *shape)
        for t, s in ctx.progress(fam.timesteps(ctx.steps), "sir"):
            x = fam.proposal(x, t, s, fam.denoise(x, t)).sample(ctx.streams, owner)  # (n·K, *shape)
        rows = torch.arange(ctx.n, device=x.device) * k  # (n,) first chain of each sample
        if k > 1:
            r = ctx.reward(x, owner).view(ctx.n, k).double()  # (n, K)
            w = torch.softmax(cfg.lam * torch.nan_to_num(r, nan=-torch.inf), 1)  # (n, K)
            pick = ctx.streams.categorical(torch.arange(ctx.n, device=x.device), w)  # (n,)
            rows = rows + pick.to(rows.device)
        return Output(x[rows], owner[rows], {"K": k})
