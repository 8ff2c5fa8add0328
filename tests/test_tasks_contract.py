"""Contract tests over every registered task (tiny variants): metadata declared and honest."""
from __future__ import annotations

import pytest
import torch
from conftest import run_method

from bench import registry
from bench.reward import Reward
from bench.task import Objective, Task

TASKS = registry.tasks().names()


def _task(name):
    try:
        return registry.tasks().get(name)(tiny=True)
    except ImportError as err:  # a task whose optional domain package is not installed
        pytest.skip(f"{name}: {err}")


@pytest.mark.parametrize("name", TASKS)
def test_task_declares_contract(name):
    t = _task(name)
    assert isinstance(t, Task) and t.name == name and t.version
    assert t.family_kind in ("continuous", "discrete")
    assert t.default_objective in t.objectives() or any("=" in o for o in t.objectives())
    obj = t.objective(t.default_objective)
    assert isinstance(obj, Objective) and isinstance(obj.proxy, Reward) and isinstance(obj.oracle, Reward)
    assert obj.proxy.role == "proxy" and obj.oracle.role == "oracle"
    assert obj.main_metric in t.metrics, f"{name}: main metric {obj.main_metric} lacks declared metadata"


@pytest.mark.parametrize("name", TASKS)
def test_task_metrics_declared_and_rewards_honest(name):
    t = _task(name)
    obj = t.objective(t.default_objective)
    out, _, _, _ = run_method(name, "none", objective=t.default_objective, n=4, steps=4, tiny=True)
    inst = torch.arange(4) % obj.n_instances
    metrics, rows = t.evaluate(obj, out.x0, inst)
    undeclared = set(metrics) - set(t.metrics)
    assert not undeclared, f"{name}: metrics without declared metadata: {sorted(undeclared)}"
    assert len(rows) == 4 and len(t.decode(out.x0)) == 4
    for reward in [obj.proxy, obj.info.get("diff_proxy")]:
        if reward is None:
            continue
        r = reward(out.x0, inst)
        assert r.shape == (4,)
        if reward.differentiable:  # the claim is checked: a gradient reaches the input
            fam = t.build_family()
            x = out.x0.float() if fam.kind == "continuous" else fam.onehot(out.x0)[..., : fam.vocab]
            x = x.clone().requires_grad_(True)
            reward(x, inst).sum().backward()
            assert x.grad is not None and torch.isfinite(x.grad).all()
