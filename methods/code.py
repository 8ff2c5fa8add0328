"""`code` — CoDe, blockwise control (Singh, Mukherjee, Beirami, Jamali-Rad 2025, arXiv 2502.00968).

Update rule (methods.md §21): N replicas of each returned sample run ordinary base-model steps; every B steps
each replica's look-ahead x̂0 at the next timestep is scored by r, the argmax replica is kept and replicated N
times; after the last step the best sample is returned. B = 1 is SVDD-like, B = T is best-of-N.
The look-ahead forward is the one the next step needs anyway (cached), so the cost is N·T·F + N·(⌊(T−1)/B⌋ + 1)·R
(the released pipelines recompute it: N·(T/B) extra forwards); N = 1 selects nothing and calls no reward.
Budget b → the largest N with cost <= b·T forward-equivalents.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, fit_width


@dataclass(frozen=True)
class Config:
    N: int = 4  # replicas per returned sample
    B: int = 5  # block size in steps


class CoDe(Method):
    key = "code"
    version = "2"
    paper = "Singh et al. 2025, CoDe: blockwise control for denoising diffusion models (arXiv 2502.00968)"
    Config = Config

    def counts(self, cfg: Config, steps: int) -> Counts:
        if cfg.N == 1:
            return Counts(forward=steps)
        return Counts(forward=cfg.N * steps, reward=cfg.N * ((steps - 1) // cfg.B + 1))

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return replace(cfg, N=fit_width(lambda w: self.cost(replace(cfg, N=w), steps, cal), budget * steps))

    def run(self, ctx: Context, cfg: Config) -> Output:
        fam, n, steps = ctx.family, ctx.n, ctx.family.timesteps(ctx.steps)
        owner = ctx.owners(cfg.N)  # (n·N,)
        x = fam.prior(ctx.streams, owner)
        pred = fam.denoise(x, steps[0][0])
        base = torch.arange(n, device=x.device) * cfg.N  # first replica row of each sample
        for i, (t, s) in enumerate(ctx.progress(steps, "code")):
            x = fam.proposal(x, t, s, pred).sample(ctx.streams, owner)
            if fam.is_clean(s):
                break
            pred = fam.denoise(x, s)
            if (i + 1) % cfg.B == 0 and cfg.N > 1:
                score = torch.nan_to_num(ctx.reward(fam.point(pred), owner).view(n, cfg.N), nan=-torch.inf)
                rows = (base + score.argmax(1)).repeat_interleave(cfg.N)  # (n·N,) the winner, replicated
                x, pred = x[rows], pred.take(rows)
        if cfg.N == 1:
            return Output(x, owner)
        final = torch.nan_to_num(ctx.reward(x, owner).view(n, cfg.N), nan=-torch.inf)
        best = base + final.argmax(1)
        return Output(x[best], owner[best])


METHOD = CoDe()
