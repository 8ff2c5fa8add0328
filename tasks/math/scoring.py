"""Score sampled rows into typed per-sample results (the bridge from rewards to metrics)."""
from __future__ import annotations

from typing import Sequence

import torch

from tasks.math import rewards
from tasks.math.metrics import SampleResult
from tasks.math.records import Problem


def score(x0: torch.Tensor, problems: Sequence[Problem], instance: torch.Tensor) -> list[SampleResult]:
    """One SampleResult per row of x0 (N, L): row i answers ``problems[instance[i]]``. ``correct`` is r_exact,
    ``shortcut`` the shortcut hit (Hard problems only), and both label-free proxies are recorded."""
    idx = instance.long().cpu().tolist()
    correct = rewards.ExactOracle([p.answer for p in problems])(x0, instance)  # (N,)
    short = rewards.ShortcutDetector([p.shortcut_answer for p in problems])(x0, instance)  # (N,)
    check, step = rewards.r_check(x0), rewards.r_step(x0)  # (N,), (N,)
    out = []
    for j, i in enumerate(idx):
        p = problems[i]
        out.append(SampleResult(p.problem_id, p.family, p.split, p.seed_in_train, bool(correct[j]),
                                bool(short[j]) and p.split == "hard", float(check[j]), float(step[j])))
    return out
