"""Shared helpers: run a method on a task through the runner's metered path."""
from __future__ import annotations

import pytest
import torch

from bench import registry
from bench.meter import Meter
from bench.runner import build_task, calibration, parse_budget, plan_budget, sample

_CACHE: dict = {}


def run_method(task: str, method: str, objective: str | None = None, n: int = 16, steps: int = 16, seed: int = 0,
               budget: str | None = None, tiny: bool = False, **overrides):
    """(output, meter, cfg, task) of one metered run; ``budget`` applies the method's width mapping, the cap in
    forward-equivalents and best-of-k chains as the runner does (OverBudgetMin when one chain does not fit)."""
    t = build_task(task, tiny, "cpu", _CACHE)
    obj = t.objective(objective or t.default_objective)
    m = registry.methods().get(method)
    cfg, cal = m.config(**overrides), calibration(t, obj)
    b = parse_budget(budget) if budget else None
    if b is not None:
        cfg = m.for_budget(cfg, b, steps, cal)
    plan = plan_budget(m, cfg, steps, n, b, cal)
    plan.check()
    meter = Meter(cap=None if b is None else plan.per_sample * n, cal=cal)
    out, _ = sample(t, obj, m, cfg, n, steps, seed, meter, chains=plan.chains)
    return out, meter, cfg, t


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    yield
