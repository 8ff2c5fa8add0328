"""Contract tests over every registered method on both exact toy tasks."""
from __future__ import annotations

import sys

import pytest
import torch
from conftest import run_method

from bench import contract, registry
from bench.method import Incompatible

TOYS = contract.TOYS
METHODS = registry.methods().names()
_PROBES: dict[str, contract.MethodProbe] = {}


def _compatible(task: str, method: str) -> bool:
    from bench.runner import build_task
    t = build_task(task, False, "cpu")
    m = registry.methods().get(method)
    try:
        obj = t.objective(contract.toy_objective(m, task))
        m.check(t.family_kind, obj.grad_proxy is not None, obj.answer is not None)
        m.check_task(t, obj)
    except Incompatible:
        return False
    return True


def toy_objective(method: str, task: str) -> str:
    """The objective a method is checked on in a toy (cfg: a conditional one)."""
    return contract.toy_objective(registry.methods().get(method), task)


@pytest.mark.parametrize("check", list(contract.METHOD_CHECKS))
@pytest.mark.parametrize("method", METHODS)
def test_method_contract(method, check):
    """The checks of ``bench check-method`` (bench.contract): metadata, config, cost model against the meter,
    output shape, same seed same samples, one test per method and check."""
    contract.METHOD_CHECKS[check](_PROBES.setdefault(method, contract.MethodProbe(method)))


def test_builtin_method_files_follow_the_layout():
    for key in METHODS:
        m = registry.methods().get(key)
        assert m.__module__.split(".")[-1].replace("_", "-") == key
        doc = sys.modules[type(m).__module__].__doc__ or ""  # the method's file documents its update rule
        assert doc.startswith(f"`{key}`") and ("update rule" in doc.lower() or "methods.md" in doc), key


@pytest.mark.parametrize("task", list(TOYS))
@pytest.mark.parametrize("method", ["best-of-n", "svdd", "treeg-sc", "treeg-sd"])
def test_search_methods_raise_reward_with_budget(task, method):
    means = []
    for budget in ("1x", "4x", "16x"):
        out, _, _, t = run_method(task, method, objective=TOYS[task], n=48, steps=24, budget=budget)
        obj = t.objective(TOYS[task])
        means.append(float(obj.proxy(out.x0, torch.zeros(len(out.x0), dtype=torch.long)).mean()))
    assert means[0] < means[1] < means[2], means


def test_dps_moves_gmm_mean_toward_linear_reward():
    base, _, _, t = run_method("gmm", "none", objective="linear", n=256, steps=50)
    guided, meter, _, _ = run_method("gmm", "dps", objective="linear", n=256, steps=50, scale=0.2)
    a = torch.tensor([1.0, 0.5])
    assert float((guided.x0 @ a).mean()) > float((base.x0 @ a).mean()) + 0.3
    assert meter.backward == 256 * 50 and meter.grad_reward_calls == 256 * 50


def test_incompatible_pairs_raise_incompatible():
    with pytest.raises(Incompatible):
        registry.methods().get("dps").check("discrete", True)
    with pytest.raises(Incompatible):
        registry.methods().get("dps").check("continuous", False)


def test_coupled_methods_report_population_diversity(tmp_path):
    import json

    from bench.cli import main
    from bench.runner import HARNESS_METRICS
    for method in ("smc", "tds", "dsearch"):
        assert main(["run", "--task", "gmm", "--method", method, "--budget", "8x", "--n", "4", "--steps", "12",
                     "--out", str(tmp_path), "--no-progress"]) == 0
    recs = [json.loads(x) for x in (tmp_path / "records" / "gmm.jsonl").read_text().splitlines()]
    for r in recs:
        assert 0 < r["metrics"]["population_unique"] <= 1, r["method"]
    assert set(recs[0]["metrics"]) - set(registry.tasks().get("gmm").metrics) <= set(HARNESS_METRICS)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "none" and not registry.methods().get(m).reward_free
                                    and not registry.methods().get(m).probe_tasks])
def test_every_method_beats_none_at_8x_on_some_toy(method):
    """Every reward-guided method; the reward-free ones (majority) have their own property tests, and so do the
    methods no toy can serve (sag: tests/test_quality.py)."""
    gains = {}
    for task in TOYS:
        if not _compatible(task, method):
            continue
        obj = toy_objective(method, task)
        base, _, _, t = run_method(task, "none", objective=obj, n=32, steps=16)
        out, _, _, _ = run_method(task, method, objective=obj, n=32, steps=16, budget="8x")
        proxy = t.objective(obj).proxy
        zero = torch.zeros(32, dtype=torch.long)
        gains[task] = float(proxy(out.x0, zero).mean() - proxy(base.x0, zero).mean())
    assert max(gains.values()) > 0, gains


@pytest.mark.parametrize("method,config,chains,same", [
    ("best-of-n", {"N": 1}, 1, "none"),
    ("best-of-n", {"N": 1}, 2, None),  # best-of-k over one-sample chains is best-of-n itself
    ("best-of-n", {"N": 4}, 1, None),
    ("svdd", {"M": 1}, 1, "none"),
    ("svdd", {"M": 1}, 3, "best-of-n"),
    ("svdd", {"M": 2}, 1, None),
    ("treeg-g", {"A": 3, "K": 1}, 1, "best-of-n"),
    ("treeg-g", {"A": 1, "K": 1}, 1, "none"),
    ("treeg-g", {"A": 1, "K": 2}, 1, None),
    ("treeg-sd", {"A": 2, "K": 2, "window_start": 1.0}, 1, "best-of-n"),  # a window that starts at the end
    ("none", {}, 1, None),
    ("smc", {}, 1, None),
    ("smc", {"k": 1}, 1, "none"),  # one particle is never resampled
    ("smc", {"k": 1, "return_all": True}, 1, "none"),
    ("smc", {"k": 1}, 2, "best-of-n"),
    ("tds", {"k": 1}, 1, None),  # one twisted particle is still guided by its twist
])
def test_a_search_that_never_branches_reduces_to_none_or_best_of_n(method, config, chains, same):
    m = registry.methods().get(method)
    assert m.reduces_to(m.config(**config), 8, chains) == same
