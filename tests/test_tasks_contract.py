"""Contract tests over every registered task (tiny variants): metadata declared and honest."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import run_method

from bench import registry
from bench.reward import Reward
from bench.runner import HARNESS_METRICS, Cell, execute, resolve
from bench.task import Objective, Task

TASKS = registry.tasks().names()


def _task(name):
    try:
        return registry.tasks().get(name)(tiny=True)
    except ImportError as err:  # a task whose optional domain package is not installed
        pytest.skip(f"{name}: {err}")


def _concrete(t: Task) -> list[str]:
    """Every objective spec without a placeholder (``rings=<k>`` is left out, ``rings=3`` kept)."""
    return [o for o in t.objectives() if "<" not in o]


@pytest.mark.parametrize("name", TASKS)
def test_task_declares_contract(name):
    t = _task(name)
    assert isinstance(t, Task) and t.name == name and t.version
    assert t.family_kind in ("continuous", "discrete")
    assert t.default_objective in t.objectives() or any("=" in o for o in t.objectives())
    flagged = {k for k, m in t.metrics.items() if m.naturalness}
    assert set(t.naturalness) == flagged, f"{name}: Task.naturalness must list exactly the flagged metrics"
    for spec in _concrete(t):
        obj = t.objective(spec)
        assert isinstance(obj, Objective) and isinstance(obj.proxy, Reward) and isinstance(obj.oracle, Reward)
        assert obj.proxy.role == "proxy" and obj.oracle.role == "oracle"
        assert obj.main_metric in t.metrics, f"{name}/{spec}: main metric {obj.main_metric} lacks metadata"
        assert not t.metrics[obj.main_metric].naturalness, f"{name}/{spec}: the main metric is a naturalness one"
        assert isinstance(obj.exact_proxy, bool)
        assert obj.target_lam is None or (isinstance(obj.target_lam, float) and obj.target_lam > 0)
        assert obj.grad_proxy is None or (isinstance(obj.grad_proxy, Reward) and obj.grad_proxy.differentiable)
        meta = t.objective_meta(obj)
        assert meta == {"exact_proxy": obj.exact_proxy, "target_lam": obj.target_lam,
                        "naturalness": list(t.naturalness)}


def _check_rewards(t: Task, obj: Objective, x0: torch.Tensor, inst: torch.Tensor) -> None:
    for reward in [obj.proxy, obj.grad_proxy]:
        if reward is None:
            continue
        assert reward(x0, inst).shape == (len(x0),)
        if reward.differentiable:  # the claim is checked: a gradient reaches the input
            fam = t.build_family()
            x = fam.as_soft(x0).clone().requires_grad_(True)
            reward(x, inst).sum().backward()
            assert x.grad is not None and torch.isfinite(x.grad).all()


def _check_per_sample(t: Task, metrics: dict, rows: list[dict], where: str) -> None:
    """Every per-sample metric is in every row and equals the mean over all rows (invalid ones included)."""
    for key, meta in t.metrics.items():
        if not meta.per_sample or key not in metrics:
            continue
        vals = [row.get(key) for row in rows]
        assert all(isinstance(v, (int, float)) for v in vals), f"{where}: rows lack a number for {key}: {vals}"
        mean = sum(vals) / len(vals)
        assert math.isclose(metrics[key], mean, rel_tol=1e-5, abs_tol=1e-6), f"{where}: {key} != row mean"


@pytest.mark.parametrize("name", TASKS)
def test_task_metrics_declared_and_rewards_honest(name):
    t = _task(name)
    out, _, _, _ = run_method(name, "none", objective=t.default_objective, n=4, steps=4, tiny=True)
    assert len(t.decode(out.x0)) == 4
    for spec in _concrete(t):
        obj = t.objective(spec)
        inst = torch.arange(4) % obj.n_instances
        metrics, rows = t.evaluate(obj, out.x0, inst)
        undeclared = set(metrics) - set(t.metrics)
        assert not undeclared, f"{name}/{spec}: metrics without declared metadata: {sorted(undeclared)}"
        assert obj.main_metric in metrics and len(rows) == 4
        _check_per_sample(t, metrics, rows, f"{name}/{spec}")
        _check_rewards(t, obj, out.x0, inst)


def test_runner_writes_metric_and_objective_meta(tmp_path):
    rec = execute(Cell(task="gmm", method="none", objective="bump", n=8, steps=4), tmp_path, show_progress=False)
    assert rec["status"] == "ok"
    assert set(rec["metric_meta"]) == set(rec["metrics"])
    known = {**registry.tasks().get("gmm").metrics, **HARNESS_METRICS}
    for key, meta in rec["metric_meta"].items():
        assert meta == {"display": known[key].display, "higher_is_better": known[key].higher_is_better,
                        "per_sample": known[key].per_sample, "naturalness": known[key].naturalness}
    assert rec["objective_meta"] == {"exact_proxy": True, "target_lam": 4.0, "naturalness": []}


def test_runner_defaults_lam_to_the_objective_target_lam():
    t = registry.tasks().get("gmm")()
    for objective, lam in [("bump", 4.0), ("linear", 1.0)]:
        _, _, cfg, _, _ = resolve(Cell(task="gmm", method="smc", objective=objective), t)
        assert cfg.lam == lam == t.objective(objective).target_lam
    _, _, cfg, _, _ = resolve(Cell(task="gmm", method="smc", objective="bump", overrides={"lam": 2.0}), t)
    assert cfg.lam == 2.0  # the user's --set wins
    _, _, cfg, _, _ = resolve(Cell(task="gmm", method="svdd", objective="bump"), t)
    assert "lam" not in {f.name for f in dataclasses.fields(cfg)}  # methods without lam are untouched
