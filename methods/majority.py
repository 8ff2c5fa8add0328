"""`majority` — majority vote over final answers (self-consistency; Wang et al., ICLR 2023), reward-free.

Update rule: draw x0^(1..N) independently with `none`; group them by the objective's answer key a(x0) (the
parsed final answer, never a label or a reward); return the first sample of the largest group. Samples without
an answer (a(x0) = None) vote for nothing; when no sample has one, the first sample is returned. Ties go to the
group whose first member was drawn first. Cost: N·T·F and no reward call (parsing the answer is free).
Budget b → the largest N with N·T <= b·T forward-equivalents. Needs an objective with an answer key
(``Objective.answer``): the math task's final answer, toyseq's whole sequence (there it seeks the mode).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import torch

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, ancestral


@dataclass(frozen=True)
class Config:
    N: int = 4  # independent unguided samples that vote per returned sample


def vote(keys: list) -> int:
    """Index of the first member of the largest group of equal non-None keys (0 when every key is None)."""
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return 0
    top = max(counts.values())
    return next(i for i, k in enumerate(keys) if k is not None and counts[k] == top)


class Majority(Method):
    key = "majority"
    paper = "Wang et al., Self-Consistency Improves Chain of Thought Reasoning in Language Models (ICLR 2023)"
    needs_answer = True
    reward_free = True
    Config = Config

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=cfg.N * steps)

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return replace(cfg, N=max(1, int(budget + 1e-9)))

    def sized_at_run(self, cfg: Config) -> bool:
        return True  # the vote spends the budget; best-of-k by the proxy would make it reward-guided

    def run(self, ctx: Context, cfg: Config) -> Output:
        owner = ctx.owners(cfg.N)  # (n·N,) sample-major
        x = ancestral(ctx, ctx.family, owner, "majority")  # (n·N, ...)
        keys = ctx.answer(x, owner)
        pick = torch.tensor([j * cfg.N + vote(keys[j * cfg.N:(j + 1) * cfg.N]) for j in range(ctx.n)],
                            device=x.device)  # (n,)
        share = [Counter(k for k in keys[j * cfg.N:(j + 1) * cfg.N] if k is not None).most_common(1)
                 for j in range(ctx.n)]
        agree = [c[0][1] / cfg.N if c else 0.0 for c in share]
        return Output(x[pick], owner[pick], {"vote_share_mean": sum(agree) / max(1, len(agree))})


METHOD = Majority()
