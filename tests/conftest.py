"""Shared helpers: run a method on a task through the runner's metered path."""
from __future__ import annotations

import pytest
import torch

from bench import registry
from bench.meter import Meter
from bench.runner import build_task, parse_budget, sample

_CACHE: dict = {}


def run_method(task: str, method: str, objective: str | None = None, n: int = 16, steps: int = 16, seed: int = 0,
               budget: str | None = None, tiny: bool = False, **overrides):
    """(output, meter, cfg, task) of one metered run; ``budget`` applies the method's width mapping and the cap."""
    t = build_task(task, tiny, "cpu", _CACHE)
    obj = t.objective(objective or t.default_objective)
    m = registry.methods().get(method)
    cfg = m.config(**overrides)
    cap = None
    if budget:
        cfg = m.for_budget(cfg, parse_budget(budget), steps)
        cap = parse_budget(budget) * steps * n
    meter = Meter(cap=cap)
    out, _ = sample(t, obj, m, cfg, n, steps, seed, meter)
    return out, meter, cfg, t


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    yield
