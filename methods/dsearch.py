"""`dsearch` — Dynamic Search (Li, Uehara et al. 2025, arXiv 2503.02039), after AlignInversePro's `DDBFS`.

Update rule (methods.md §20). The steps are split into blocks of d sub-steps; each returned sample keeps a
population that starts at P0 particles and shrinks linearly to 1 over the blocks (the drop schedule):
    searched block:  every particle expands a K-ary tree over the block's d sub-steps (K^d leaves; one forward per
                     node serves its x̂0 score and its children); leaf score = Σ along its path of r(x̂0(node));
                     each particle moves to its best leaf
    other block:     greedy SVDD steps (argmax r(x̂0) over K children per step)
    drop:            keep the top P_{b+1} particles per sample by r(x̂0)
Blocks with index ≥ search_start·(#blocks) are searched (a deterministic schedule, so the cost is exact; the
source draws the decision at random). Returns the best final particle. The population couples its particles.
Cost: P_b·(K + … + K^d) forwards and reward rows per searched block, P_b·K·d per greedy block, P_b reward rows
per drop and the final population's; budget b → the largest P0 whose forward-equivalents fit b·T.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from bench.meter import Calibration, Counts
from bench.method import FRACTION, Context, Method, Output, fit_width
from bench.particles import unique_fraction


@dataclass(frozen=True)
class Config:
    P0: int = 2  # initial population per returned sample
    K: int = 2  # children per node
    depth: int = 2  # sub-steps per block (d)
    search_start: float = 0.5  # search the blocks in the last (1 − search_start) of the trajectory


def _sizes(cfg: Config, n_blocks: int) -> list[int]:
    if n_blocks == 1:
        return [cfg.P0]
    return [max(1, math.ceil(cfg.P0 - (cfg.P0 - 1) * b / (n_blocks - 1))) for b in range(n_blocks)]


class DSearch(Method):
    key = "dsearch"
    version = "2"
    paper = "Li, Uehara et al. 2025, Dynamic search for inference-time alignment in diffusion models"
    population = True
    Config = Config
    bounds = {"search_start": FRACTION}

    def _blocks(self, cfg: Config, steps: int) -> list[list[int]]:
        idx = list(range(steps))
        return [idx[i:i + cfg.depth] for i in range(0, steps, cfg.depth)]

    def counts(self, cfg: Config, steps: int) -> Counts:
        blocks = self._blocks(cfg, steps)
        sizes, forward, reward = _sizes(cfg, len(blocks)), cfg.P0, 0
        for b, block in enumerate(blocks):
            searched = b >= cfg.search_start * len(blocks)
            for j, i in enumerate(block):
                rows = sizes[b] * (cfg.K ** (j + 1) if searched else cfg.K)
                forward += rows if i < steps - 1 else 0  # the last step's children are clean: no forward
                reward += rows
            if b + 1 < len(blocks) and sizes[b + 1] < sizes[b]:
                reward += sizes[b]  # the drop's scores
        return Counts(forward=forward, reward=reward + sizes[-1])  # + the final selection

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        if self.cost(replace(cfg, P0=1), steps, cal) > budget * steps:
            return replace(cfg, P0=1, K=1)
        return replace(cfg, P0=fit_width(lambda p: self.cost(replace(cfg, P0=p), steps, cal), budget * steps))

    def run(self, ctx: Context, cfg: Config) -> Output:
        fam, n = ctx.family, ctx.n
        steps = fam.timesteps(ctx.steps)
        blocks = self._blocks(cfg, len(steps))
        sizes = _sizes(cfg, len(blocks))
        owner = ctx.owners(cfg.P0)
        x = fam.prior(ctx.streams, owner)
        pred = fam.denoise(x, steps[0][0])
        diversity = []
        for b, block in enumerate(ctx.progress(blocks, "dsearch")):
            searched = b >= cfg.search_start * len(blocks)
            x, owner, pred = self._block(ctx, cfg, steps, block, x, owner, pred, searched)
            if b + 1 < len(blocks) and sizes[b + 1] < sizes[b]:
                diversity.append(unique_fraction(x, n))
                score = ctx.reward(fam.point(pred), owner).view(n, sizes[b])
                keep = torch.nan_to_num(score, nan=-torch.inf).topk(sizes[b + 1], 1).indices
                rows = (keep + torch.arange(n, device=x.device)[:, None] * sizes[b]).reshape(-1)
                x, owner, pred = x[rows], owner[rows], pred.take(rows)
        final = torch.nan_to_num(ctx.reward(x, owner).view(n, -1), nan=-torch.inf)
        best = torch.arange(n, device=x.device) * final.shape[1] + final.argmax(1)
        diag = {"population_unique": sum(diversity) / len(diversity)} if diversity else {}
        return Output(x[best], owner[best], diag)

    def _block(self, ctx: Context, cfg: Config, steps, block, x, owner, pred, searched: bool):
        fam = ctx.family
        root = torch.arange(x.shape[0], device=x.device)  # which particle each frontier row descends from
        score = torch.zeros(x.shape[0], device=x.device)
        for i in block:
            t, s = steps[i]
            x = fam.proposal(x, t, s, pred).sample(ctx.streams, owner, cfg.K)  # (R·K, ...)
            owner, root, score = (v.repeat_interleave(cfg.K) for v in (owner, root, score))
            pred = None if fam.is_clean(s) else fam.denoise(x, s)
            score = score + (ctx.reward(x, owner) if pred is None else ctx.reward(fam.point(pred), owner))
            if not searched:  # greedy: keep the best child of each particle
                rows = torch.arange(0, x.shape[0], cfg.K, device=x.device) + \
                    torch.nan_to_num(score.view(-1, cfg.K), nan=-torch.inf).argmax(1)
                x, owner, root, score = x[rows], owner[rows], root[rows], torch.zeros_like(score[rows])
                pred = None if pred is None else pred.take(rows)
        if searched:  # each particle moves to its best leaf
            leaves = score.numel() // (int(root[-1]) + 1)  # K^d leaves per particle
            rows = torch.arange(0, score.numel(), leaves, device=x.device) + \
                torch.nan_to_num(score.view(-1, leaves), nan=-torch.inf).argmax(1)
            x, owner = x[rows], owner[rows]
            pred = None if pred is None else pred.take(rows)
        return x, owner, pred


METHOD = DSearch()
