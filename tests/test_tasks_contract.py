"""Contract tests over every registered task (tiny variants): metadata declared and honest (bench.contract)."""
from __future__ import annotations

import dataclasses

import pytest

from bench import contract, registry
from bench.runner import HARNESS_METRICS, Cell, execute, resolve

TASKS = registry.tasks().names()
_PROBES: dict[str, contract.TaskProbe] = {}


@pytest.mark.parametrize("check", list(contract.TASK_CHECKS))
@pytest.mark.parametrize("name", TASKS)
def test_task_contract(name, check):
    """The checks of ``bench check-task`` (bench.contract), one test per task and check."""
    probe = _PROBES.setdefault(name, contract.TaskProbe(name))
    try:
        _ = probe.task
    except ImportError as err:  # a task whose optional domain package is not installed
        pytest.skip(f"{name}: {err}")
    contract.TASK_CHECKS[check](probe)


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
