"""The task and method contracts as named checks, shared by the test suite and ``bench check-task`` /
``bench check-method`` (so a plugin is held to exactly the checks the built-ins pass).

A check is a function of a probe (``TaskProbe`` / ``MethodProbe``, which builds and caches what several checks
share) that raises on a violation. ``run_checks`` runs them all and returns one ``CheckResult`` per check.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import torch

from bench import registry
from bench.budget import calibration, parse_budget, plan_budget
from bench.meter import Counts, Meter, OverBudgetMin
from bench.method import Incompatible, Method
from bench.reward import Reward
from bench.rng import Streams
from bench.runner import Cell, build_task, execute, sample
from bench.task import Objective, Task

TOYS = {"gmm": "linear", "toyseq": "pattern"}  # the exact toys every method is checked on (one per family)


def toy_objective(method: Method, task: str) -> str:
    """The objective ``method`` is checked on in toy ``task``: its own choice (a conditional one for cfg) or TOYS'."""
    return method.toy_objectives.get(task) or method.probe_tasks.get(task) or TOYS[task]
N, STEPS = 4, 8


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one named check: ``ok`` and, when not, the error message."""

    name: str
    ok: bool
    message: str = ""


def metered_run(task: str | Task, method: str, objective: str | None = None, n: int = 16, steps: int = 16,
                seed: int = 0, budget: str | None = None, tiny: bool = False, cache: dict | None = None,
                **overrides: Any):
    """(output, meter, cfg, task) of one metered run on the runner's path: ``budget`` applies the method's width
    mapping, the cap in forward-equivalents and best-of-k chains (OverBudgetMin when one chain does not fit)."""
    t = task if isinstance(task, Task) else build_task(task, tiny, "cpu", cache)
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


# -- tasks ------------------------------------------------------------------------------------------------------
class TaskProbe:
    """A registered task's tiny variant and one unguided batch, built on first use."""

    def __init__(self, name: str) -> None:
        self.name = name

    @cached_property
    def task(self) -> Task:
        return registry.tasks().get(self.name)(tiny=True)

    @cached_property
    def out(self):
        return metered_run(self.task, "none", objective=self.task.default_objective, n=N, steps=STEPS)[0]

    def concrete(self) -> list[str]:
        """Every objective spec without a placeholder (``rings=<k>`` is left out, ``rings=3`` kept)."""
        return [o for o in self.task.objectives() if "<" not in o]


def task_class(p: TaskProbe) -> None:
    """Class attributes: a Task subclass named as registered, version, family kind, defaults, naturalness."""
    t = p.task
    assert isinstance(t, Task) and t.name == registry.tasks().resolve(p.name) and t.version, "name/version"
    assert t.family_kind in ("continuous", "discrete"), f"family_kind {t.family_kind!r}"
    assert t.default_objective in t.objectives() or any("=" in o for o in t.objectives()), "default_objective"
    assert t.default_steps > 0 and t.default_n > 0, "default_steps / default_n must be positive"
    parse_budget(t.default_budget)
    flagged = {k for k, m in t.metrics.items() if m.naturalness}
    assert set(t.naturalness) == flagged, "Task.naturalness must list exactly the metrics flagged naturalness"
    assert t.build_family().kind == t.family_kind, "build_family().kind differs from family_kind"


def task_objectives(p: TaskProbe) -> None:
    """Every concrete objective builds a well-formed Objective with declared main metric and metadata."""
    t = p.task
    for spec in p.concrete():
        obj = t.objective(spec)
        assert isinstance(obj, Objective) and isinstance(obj.proxy, Reward) and isinstance(obj.oracle, Reward)
        assert obj.proxy.role == "proxy" and obj.oracle.role == "oracle", f"{spec}: reward roles"
        assert obj.main_metric in t.metrics, f"{spec}: main metric {obj.main_metric} lacks metadata"
        natural = t.metrics[obj.main_metric].naturalness
        assert natural == obj.quality, f"{spec}: the main metric is a naturalness one iff the objective is quality"
        assert obj.n_instances >= 1 and isinstance(obj.exact_proxy, bool), f"{spec}: n_instances / exact_proxy"
        assert obj.target_lam is None or (isinstance(obj.target_lam, float) and obj.target_lam > 0), spec
        assert obj.grad_proxy is None or (isinstance(obj.grad_proxy, Reward) and obj.grad_proxy.differentiable)
        assert t.objective_meta(obj) == {"exact_proxy": obj.exact_proxy, "target_lam": obj.target_lam,
                                         "naturalness": list(t.naturalness)}, f"{spec}: objective_meta"


def task_decode(p: TaskProbe) -> None:
    """An unguided batch decodes to one object per sample."""
    assert len(p.task.decode(p.out.x0)) == N


def task_metrics(p: TaskProbe) -> None:
    """``evaluate`` returns only declared metrics, the main one, a row per sample, per-sample means honest."""
    t = p.task
    for spec in p.concrete():
        obj = t.objective(spec)
        metrics, rows = t.evaluate(obj, p.out.x0, torch.arange(N) % obj.n_instances)
        undeclared = set(metrics) - set(t.metrics)
        assert not undeclared, f"{spec}: metrics without declared metadata: {sorted(undeclared)}"
        assert obj.main_metric in metrics and len(rows) == N, f"{spec}: main metric or rows missing"
        for key, meta in t.metrics.items():
            if meta.per_sample and key in metrics:
                vals = [row.get(key) for row in rows]
                assert all(isinstance(v, (int, float)) for v in vals), f"{spec}: rows lack a number for {key}"
                assert math.isclose(metrics[key], sum(vals) / N, rel_tol=1e-5, abs_tol=1e-6), f"{spec}: {key}"


def task_rewards(p: TaskProbe) -> None:
    """Rewards give (N,) on a batch; a reward claiming ``differentiable`` passes a finite gradient to its input
    (continuous floats, or the soft one-hot over the V real tokens of a masked family)."""
    t = p.task
    fam = t.build_family()
    for spec in p.concrete():
        obj = t.objective(spec)
        inst = torch.arange(N) % obj.n_instances  # (N,)
        for reward in [obj.proxy, obj.grad_proxy]:
            if reward is None:
                continue
            assert reward(p.out.x0, inst).shape == (N,), f"{spec}: {reward.name} shape"
            if reward.differentiable:
                x = fam.as_soft(p.out.x0).clone().requires_grad_(True)
                reward(x, inst).sum().backward()
                assert x.grad is not None and torch.isfinite(x.grad).all(), f"{spec}: {reward.name} gradient"


def task_record(p: TaskProbe) -> None:
    """The runner writes an ok record of the tiny variant with metadata for every metric."""
    with tempfile.TemporaryDirectory() as tmp:
        rec = execute(Cell(task=p.name, method="none", n=N, steps=STEPS, tiny=True), Path(tmp), show_progress=False,
                      resume=False)
    assert rec["status"] == "ok", rec.get("error")
    assert set(rec["metric_meta"]) == set(rec["metrics"]), "metrics without metadata in the record"


TASK_CHECKS: dict[str, Callable[[TaskProbe], None]] = {
    "class": task_class, "objectives": task_objectives, "decode": task_decode, "metrics": task_metrics,
    "rewards": task_rewards, "record": task_record}


# -- methods ----------------------------------------------------------------------------------------------------
class MethodProbe:
    """A registered method and the exact toys it can run on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cache: dict = {}

    @cached_property
    def method(self) -> Method:
        return registry.methods().get(self.name)

    def _build(self, task: str) -> Task:
        """An exact toy, or the tiny variant of a method's declared probe task."""
        return build_task(task, task not in TOYS, "cpu", self.cache)

    @cached_property
    def toys(self) -> list[str]:
        """The toy tasks the method is compatible with (at least one is required); a method that no toy can
        serve (SAG needs an attention map) names tiny real tasks in ``probe_tasks``, used only then."""
        ok = []
        for task in [*TOYS, *self.method.probe_tasks]:
            if task in self.method.probe_tasks and ok:
                break
            t = self._build(task)
            try:
                obj = t.objective(toy_objective(self.method, task))
                self.method.check(t.family_kind, obj.grad_proxy is not None, obj.answer is not None)
                self.method.check_task(t, obj)
                ok.append(task)
            except Incompatible:
                pass
        return ok

    def fits(self, task: str, budget: float = 8.0) -> bool:
        """Whether one chain of the method fits ``budget`` on ``task`` (else the runner refuses the cell)."""
        t = self._build(task)
        cal = calibration(t, t.objective(toy_objective(self.method, task)))
        cfg = self.method.for_budget(self.method.config(), budget, STEPS, cal)
        return plan_budget(self.method, cfg, STEPS, N, budget, cal).min_cost <= budget * STEPS

    def run(self, task: str, **kw: Any):
        return metered_run(task, self.name, objective=toy_objective(self.method, task), n=N, steps=STEPS,
                           tiny=task not in TOYS, cache=self.cache, **kw)


def method_metadata(p: MethodProbe) -> None:
    """Key as registered, version, paper, supported families, needs_grad, a documented update rule."""
    m = p.method
    assert m.key == registry.methods().resolve(p.name) and m.version and m.paper, "key/version/paper"
    assert m.supports and m.supports <= {"continuous", "discrete"}, f"supports {m.supports}"
    assert isinstance(m.needs_grad, bool), "needs_grad must be a bool"
    doc = (sys.modules[type(m).__module__].__doc__ or "") + (type(m).__doc__ or "")
    assert "update rule" in doc.lower() or "methods.md" in doc, "the module docstring must state the update rule"


def method_config(p: MethodProbe) -> None:
    """A frozen config dataclass whose defaults construct; unknown keys raise ValueError."""
    cfg = p.method.config()
    assert dataclasses.is_dataclass(cfg) and type(cfg).__dataclass_params__.frozen, "Config must be frozen"
    try:
        p.method.config(no_such_knob_=1)
    except ValueError:
        return
    raise AssertionError("config() accepted an unknown key")


def method_toys(p: MethodProbe) -> None:
    """The method runs on at least one exact toy (gmm: continuous, toyseq: masked)."""
    assert p.toys, f"incompatible with every toy {sorted(TOYS)}"


def method_cost(p: MethodProbe) -> None:
    """``counts`` are non-negative Counts; ``for_budget`` spends at most b·T per sample, or its smallest width."""
    m = p.method
    for task in p.toys:
        t = p._build(task)
        cal = calibration(t, t.objective(toy_objective(m, task)))
        floor = m.cost(m.for_budget(m.config(), 1.0, STEPS, cal), STEPS, cal)
        for b in (1.0, 4.0, 16.0):
            cfg = m.for_budget(m.config(), b, STEPS, cal)
            counts = m.counts(cfg, STEPS)
            assert isinstance(counts, Counts) and min(dataclasses.astuple(counts)) >= 0, f"{task}: counts {counts}"
            cost = m.cost(cfg, STEPS, cal)
            assert cost <= b * STEPS + 1e-6 or cost <= floor + 1e-6, f"{task} {b}x: cost {cost} > {b * STEPS}"


def method_budget(p: MethodProbe) -> None:
    """At 8x the metered run stays under its cap and (unless anytime) matches the cost model exactly; a method
    whose single chain exceeds the cap raises OverBudgetMin instead of running."""
    m = p.method
    for task in p.toys:
        if not p.fits(task):
            try:
                p.run(task, budget="8x")
            except OverBudgetMin:
                continue
            raise AssertionError(f"{task}: one chain costs more than 8x but the run did not refuse")
        out, meter, cfg, t = p.run(task, budget="8x")
        plan = plan_budget(m, cfg, STEPS, N, 8.0, calibration(t, t.objective(toy_objective(m, task))))
        assert out.x0.shape[0] == N, f"{task}: {out.x0.shape[0]} samples returned, {N} asked"
        assert meter.cost() <= 8 * STEPS * N + 1e-6, f"{task}: cost {meter.cost()} over the cap {8 * STEPS * N}"
        if not m.anytime:
            want = m.counts(cfg, STEPS).scale(N * plan.chains) + Counts(reward=N * plan.chains * (plan.chains > 1))
            assert meter.counts() == want, f"{task}: metered {meter.counts()} != cost model {want}"


def method_output(p: MethodProbe) -> None:
    """``run`` returns n samples of the family's shape and an owner per sample."""
    for task in filter(p.fits, p.toys):
        out, _, _, t = p.run(task, budget="8x")
        fam = t.build_family()
        shape = tuple(fam.prior(Streams(0, range(1)), torch.zeros(1, dtype=torch.long)).shape[1:])  # one sample
        assert tuple(out.x0.shape) == (N, *shape), f"{task}: x0 {tuple(out.x0.shape)} != {(N, *shape)}"
        assert out.owner.shape == (N,) and int(out.owner.min()) >= 0 and int(out.owner.max()) < N, f"{task}: owner"


def method_seeds(p: MethodProbe) -> None:
    """The same seed gives the same samples, another seed other samples (randomness only from ctx.streams)."""
    for task in filter(p.fits, p.toys):
        a, b, c = (p.run(task, budget="8x", seed=s)[0].x0 for s in (3, 3, 4))
        assert torch.equal(a, b), f"{task}: the same seed gave different samples"
        assert not torch.equal(a, c), f"{task}: seeds 3 and 4 gave the same samples"


METHOD_CHECKS: dict[str, Callable[[MethodProbe], None]] = {
    "metadata": method_metadata, "config": method_config, "toys": method_toys, "cost": method_cost,
    "budget": method_budget, "output": method_output, "seeds": method_seeds}


def run_checks(checks: dict[str, Callable[[Any], None]], probe: Any) -> list[CheckResult]:
    """Every check on ``probe``; an exception (assertion or not) fails that check with its message."""
    results = []
    for name, check in checks.items():
        try:
            check(probe)
            results.append(CheckResult(name, True))
        except Exception as err:  # noqa: BLE001 - any failure of a plugin is reported under the check's name
            results.append(CheckResult(name, False, f"{type(err).__name__}: {err}"))
    return results


def check_task(name: str) -> list[CheckResult]:
    """The task contract on a registered task (or a ``module:Class`` spelling)."""
    return run_checks(TASK_CHECKS, TaskProbe(registry.tasks().resolve(name)))


def check_method(name: str) -> list[CheckResult]:
    """The method contract on a registered method (or a ``module:attr`` spelling)."""
    return run_checks(METHOD_CHECKS, MethodProbe(registry.methods().resolve(name)))
