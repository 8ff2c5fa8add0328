"""Runs one cell (task × objective × method × budget × seed) through the meter and writes its record.

Budget: ``--budget bx`` caps the run's total cost at b·T forward-equivalents per returned sample (b × unguided
sampling at the same steps), priced with the task's calibration (``bench.calibrate``). The method's width knob is
set to fit (``for_budget``); when the remaining budget affords two or more whole chains, the method runs best-of-k
over independent chains (``bench.method.best_of_chains``); when even one chain costs more than the cap, the cell
is recorded as ``over_budget_min`` with ``usage.min_cost_per_sample`` and no score.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench import records, registry, validate
from bench.budget import BudgetPlan, calibration, parse_budget, plan_budget
from bench.meter import BudgetExceeded, CountedNet, CountedReward, Meter, OverBudgetMin
from bench.method import Context, Incompatible, best_of_chains, chain_streams
from bench.progress import progress
from bench.records import SCHEMA_VERSION, append_jsonl, config_hash, done_cells, environment, git_state, write_samples
from bench.rng import Streams
from bench.task import MetricMeta, Task
from bench.weights import weights_sha256

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Cell:
    """What to run. ``overrides`` are the user's ``--set`` values (applied after the budget mapping)."""

    task: str
    method: str
    objective: str | None = None
    budget: str = "1x"
    seed: int = 0
    n: int | None = None
    steps: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    tiny: bool = False
    base: str | None = None  # a quality-guided base prediction (``bench.quality.parse_base``: "pag:3")
    precision: str = "fp32"  # the sampling network's: fp32, or bf16 (autocast; the rest stays float32)
    eta: float | None = None  # a continuous family's sampler stochasticity (0 = ODE/DDIM); None = the task's


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


class MissingDependency(ImportError):
    """A task's runtime package is not installed; the message is the exact install command."""


def check_requirements(task_cls) -> None:
    """Raise MissingDependency when a module the task declares in ``requires`` (module -> guidebench extra)
    cannot be found: before the task is built, so a run fails at once and not after sampling."""
    import importlib.util
    for module, extra in getattr(task_cls, "requires", {}).items():
        if importlib.util.find_spec(module) is None:
            raise MissingDependency(f"task {task_cls.name!r} needs the package {module!r}, which is not installed: "
                                    f'pip install "guidebench[{extra}]"')


def build_task(name: str, tiny: bool, device: str, cache: dict | None = None) -> Task:
    """The task ``name`` on ``device`` (cached); its requirements and the device are checked first."""
    key = (name, tiny, device)
    if cache is not None and key in cache:
        return cache[key]
    cls = registry.tasks().get(name)
    check_requirements(cls)
    task = cls(tiny=tiny, device=validate.device(device))
    if cache is not None:
        cache[key] = task
    return task


def resolve(cell: Cell, task: Task) -> tuple[Any, Any, Any, int, int]:
    """(objective, method, config, steps, n) after tuned defaults, the budget mapping and the overrides."""
    from bench.tuning import tuned_config
    objective = task.objective(cell.objective or task.default_objective)
    method = registry.methods().get(cell.method)
    steps, n = cell.steps or task.default_steps, cell.n or task.default_n
    # the budget mapping sees the overrides (a guidance window changes the width that fits), then the overrides
    # are applied again so that an explicit width knob wins; unknown names raise ValueError
    lam = {"lam": objective.target_lam} if objective.target_lam is not None and _has_lam(method) else {}
    overrides = validate.normalise(method, cell.overrides)
    cfg = method.config(**{**tuned_config(task.name, method.key), **lam, **overrides})
    cfg = method.for_budget(cfg, parse_budget(cell.budget) / base_factor(cell, task, steps), steps,
                            calibration(task, objective))
    if overrides:
        cfg = method.config(**{**dataclasses.asdict(cfg), **overrides})
    return objective, method, cfg, steps, n


def base_spec(cell: Cell):
    """The cell's quality-guided base (``bench.quality.QualitySpec``) or None."""
    from bench.quality import parse_base
    return parse_base(cell.base) if cell.base else None


def base_factor(cell: Cell, task: Task, steps: int) -> float:
    """Forward-equivalents of one base prediction per plain forward, averaged over the schedule (1 without a
    base): a method on a quality base is sized at budget / factor, so the doubled forwards stay inside the cap."""
    spec = base_spec(cell)
    if spec is None:
        return 1.0
    weak = task.autoguide() if spec.kind == "autoguidance" else None
    extra = weak[1] if weak is not None else 1.0
    return 1.0 + extra * sum(spec.active_steps(steps)) / steps


def _has_lam(method) -> bool:
    """Whether the method's config has a ``lam`` field (λ of its target tilt p·exp(λ r))."""
    return "lam" in {f.name for f in dataclasses.fields(method.Config)}


def _record_base(cell: Cell, task: Task, objective, method, cfg, steps: int, n: int) -> dict[str, Any]:
    sha, dirty = git_state()
    budget = parse_budget(cell.budget)
    payload = {"task": task.name, "task_version": task.version, "tiny": cell.tiny, "objective": objective.name,
               "method": method.key, "method_version": method.version, "config": dataclasses.asdict(cfg),
               "budget": cell.budget, "steps": steps, "n": n, "weights_sha256": weights_sha256(task)}
    if cell.base:  # only based cells carry the key, so every other record's hash is unchanged
        payload["base"] = base_spec(cell).label()
    if cell.precision != "fp32":  # likewise: a reduced-precision run is a different config
        payload["precision"] = cell.precision
    if cell.eta is not None:  # and a sampler setting other than the task's
        payload["eta"] = cell.eta
    noise = task.build_family().noise
    if noise is not None:  # a family drawing normals: a change of their generator is a different config
        payload["normals"] = noise
    hashed = {**payload, "calibration": dataclasses.asdict(calibration(task, objective))}  # prices set the widths
    key = f"{task.name}|{objective.name}|{method.key}|{cell.budget}|{cell.seed}"
    return {"schema_version": SCHEMA_VERSION, "run_id": "", "git_sha": sha, "git_dirty": dirty, **payload,
            "config_hash": config_hash(hashed), "cell": key, "seed": cell.seed,
            "main_metric": objective.main_metric, "objective_meta": task.objective_meta(objective),
            "overrides": dict(cell.overrides),
            "budget": {"name": cell.budget, "nfe": budget * steps, "nfe_total": budget * steps * n,
                       "cost_cap": budget * steps * n},
            "n_samples": n, "status": "", "error": None, "metrics": {}, "metric_meta": {}, "usage": {},
            "env": environment(cell.device)}


@dataclass
class Outcome:
    """A computed cell: its final record and its per-sample rows (None when nothing was sampled). Nothing is
    written yet: ``commit`` writes both (the driver is the single writer, whatever process computed it)."""

    rec: dict[str, Any]
    rows: list[dict[str, Any]] | None = None


def _prepared(cell: Cell, cache: dict | None) -> tuple[Cell, Task, Any, Any, Any, int, int, dict[str, Any]]:
    if cell.precision not in PRECISIONS:
        raise validate.InputError(f"precision {cell.precision!r}: expected one of {', '.join(PRECISIONS)}")
    cell = dataclasses.replace(cell, budget=validate.budget(cell.budget),
                               eta=None if cell.eta is None else validate.eta(cell.eta))
    task = build_task(cell.task, cell.tiny, cell.device, cache)
    if cell.eta is not None and task.family_kind != "continuous":
        raise validate.InputError(f"eta: task {task.name!r} has a {task.family_kind} family; --eta sets the "
                                  "stochasticity of a continuous (Gaussian or flow) sampler only")
    if cell.eta is not None and cell.eta == task.build_family().eta:  # the task's own sampler: the same config
        cell = dataclasses.replace(cell, eta=None)
    objective, method, cfg, steps, n = resolve(cell, task)
    return cell, task, objective, method, cfg, steps, n, _record_base(cell, task, objective, method, cfg, steps, n)


def header(cell: Cell, cache: dict | None = None) -> dict[str, Any]:
    """The record of ``cell`` before it runs (its ``cell`` key and ``config_hash`` decide claims and resume);
    builds the task, samples nothing."""
    return _prepared(cell, cache)[-1]


def compute(cell: Cell, cache: dict | None = None, show_progress: bool = False) -> Outcome:
    """Run ``cell`` and return its record and rows, writing nothing (so any process can run it: this one, a pool
    worker or a Ray task). Failures of the run become the record's status; a failure to build raises."""
    cell, task, objective, method, cfg, steps, n, rec = _prepared(cell, cache)
    return _run(rec, cell, task, objective, method, cfg, steps, n, show_progress)


def commit(out: Path, outcome: Outcome) -> dict[str, Any]:
    """Write a computed cell under ``out``: its sample file, then its record (one locked append)."""
    rec = outcome.rec
    if outcome.rows is not None:
        rec["samples_path"] = write_samples(out, rec["task"], rec["run_id"], outcome.rows)
    append_jsonl(Path(out) / "records" / f"{rec['task']}.jsonl", [rec])
    return rec


def execute(cell: Cell, out: Path, show_progress: bool = True, cache: dict | None = None,
            resume: bool = True) -> dict[str, Any]:
    """Run one cell in this process, append its record under ``out/records``, and return the record.

    The cell is claimed first (``records.claim_cell``): a cell another live process is running returns status
    ``claimed``, one with a final record (``resume``) ``skipped``; neither is written."""
    cell, task, objective, method, cfg, steps, n, rec = _prepared(cell, cache)  # once: the claim's key and the run
    claim, holder = records.claim_cell(out, rec["cell"], rec["config_hash"])
    if claim is None:
        rec["status"], rec["error"] = "claimed", holder
        return rec
    try:
        if resume and (rec["cell"], rec["config_hash"]) in done_cells(Path(out) / "records", rec["task"]):
            rec["status"] = "skipped"
            return rec
        return commit(out, _run(rec, cell, task, objective, method, cfg, steps, n, show_progress))
    finally:
        records.release(claim)


def _run(rec: dict[str, Any], cell: Cell, task: Task, objective, method, cfg, steps: int, n: int,
         show_progress: bool) -> Outcome:
    """Sample and score a cell into its record (a failure becomes the status)."""
    rec["run_id"] = f"{rec['cell'].replace('|', '_')}_{rec['config_hash'][:8]}_{uuid.uuid4().hex[:6]}"
    cal = calibration(task, objective)
    factor = base_factor(cell, task, steps)
    plan = plan_budget(method, cfg, steps, n, parse_budget(cell.budget) / factor, cal)
    rec["budget"].update(calibration=dataclasses.asdict(cal), chains=plan.chains)
    if cell.base:
        rec["budget"]["base_factor"] = round(factor, 6)
    meter = Meter(cap=plan.per_sample * factor * n, cal=cal)
    min_cost, rows = None, None
    try:
        method.check(task.family_kind, objective.grad_proxy is not None, objective.answer is not None)
        method.check_task(task, objective)
        plan.check()
        rows = _sample_and_score(rec, cell, task, objective, method, cfg, steps, n, meter, show_progress, plan)
        rec["status"] = "ok"
    except Incompatible as err:
        rec["status"], rec["error"] = "incompatible", str(err)
    except OverBudgetMin as err:
        rec["status"], rec["error"], min_cost = "over_budget_min", str(err), err.min_cost_per_sample
    except BudgetExceeded as err:
        rec["status"], rec["error"] = "budget_exceeded", str(err)
    except Exception as err:  # a crash becomes an error record (never a score); the CLI exits non-zero
        rec["status"], rec["error"] = "error", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)}"
        log.error("cell %s failed: %s", rec["cell"], err)
    rec["usage"] = meter.usage(n)
    if min_cost is not None:
        rec["usage"]["min_cost_per_sample"] = round(min_cost, 6)
    return Outcome(rec, rows)


def sample(task: Task, objective, method, cfg, n: int, steps: int, seed: int, meter: Meter,
           show_progress: bool = False, chains: int = 1, base=None, precision: str = "fp32",
           eta: float | None = None):
    """Run ``method`` through the meter: the family's network and the rewards are counted before the method sees
    them; with ``chains`` = k > 1, k independent chains per returned sample (streams ``chain_streams``) and the
    best by the proxy. ``ctx.budget`` is the meter's cap per returned sample. ``base`` (a QualitySpec): the
    method runs on the quality-guided prediction (``bench.quality``). ``precision``: the network's (``PRECISIONS``).
    ``eta``: the continuous family's sampler stochasticity (``with_eta``; None keeps the task's).
    Returns (output, instance index of each
    returned sample)."""
    from bench.quality import QualitySource
    family = task.build_family()
    if eta is not None:
        family = family.with_eta(eta)
    raw = family.net
    family.net = CountedNet(raw, meter, autocast=PRECISIONS[precision])
    quality = QualitySource(family.net, raw, task.condition(objective), task.autoguide, meter)
    if base is not None:
        if method.quality:
            raise Incompatible(f"{method.key} is itself quality guidance; it does not run on a --base")
        family = quality.family(family, base, steps)
    owner_instance = torch.arange(n) % objective.n_instances  # (n,)
    inst = owner_instance.repeat(chains)  # (n·k,) chain-major: row c·n + j is chain c of sample j
    if hasattr(family, "owner_instance"):  # a family with per-instance state (prompts) reads each stream's from here
        family.owner_instance = inst
    diff = objective.grad_proxy
    streams = Streams(seed, range(n), task.device) if chains == 1 else chain_streams(seed, n, chains, task.device)
    answer = (lambda x0, owner: objective.answer(x0, inst.to(owner.device)[owner])) if objective.answer else None
    ctx = Context(family=family, reward=CountedReward(objective.proxy, meter, inst), streams=streams, answer=answer,
                  quality=quality,
                  n=n * chains, steps=steps, grad_reward=CountedReward(diff, meter, inst) if diff else None,
                  progress=progress(show_progress), calibration=meter.cal,
                  budget=None if meter.cap is None else (meter.cap - (chains > 1) * n * chains * meter.cal.c_r)
                  / (n * chains))  # per chain, after the final selection's reward calls
    with torch.no_grad():
        result = method.run(ctx, cfg)
        if chains > 1:
            result = best_of_chains(ctx, result, n)
    return result, owner_instance[result.owner.cpu()]


def _sample_and_score(rec, cell, task, objective, method, cfg, steps, n, meter, show_progress,
                      plan: BudgetPlan) -> list[dict[str, Any]]:
    """Sample, score into ``rec`` and return the per-sample rows."""
    t0 = time.perf_counter()
    result, instance = sample(task, objective, method, cfg, n, steps, cell.seed, meter, show_progress, plan.chains,
                              base_spec(cell), cell.precision, cell.eta)
    sample_s = time.perf_counter() - t0
    metrics, rows = task.evaluate(objective, result.x0.detach(), instance)
    metrics = {**metrics, **population_metrics(result, method)}
    proxy = objective.proxy(result.x0.detach(), instance).float()  # (n,); NaN/inf stay: the mean is NaN then
    metrics["proxy"], metrics["proxy_invalid"] = float(proxy.mean()), float((~torch.isfinite(proxy)).sum())
    metrics["sample_s"] = round(sample_s, 4)
    for i, row in enumerate(rows):
        row.update(index=i, owner=int(result.owner[i]), instance=int(instance[i]))
    rec["metrics"] = metrics
    known = {**task.metrics, **HARNESS_METRICS}
    rec["metric_meta"] = {k: known[k].as_record() for k in metrics if k in known}
    rec["diagnostics"] = {k: v for k, v in result.diagnostics.items() if k != "selected_value_per_step"}
    return rows


HARNESS_METRICS = {
    "proxy": MetricMeta("proxy reward (mean)", True, "what the method optimised, on the returned samples"),
    "proxy_invalid": MetricMeta("non-finite proxy values", False, "returned samples whose proxy is NaN or inf"),
    "sample_s": MetricMeta("sampling seconds", False, "wall time of the method's sampling loop"),
    "population_unique": MetricMeta("diversity within a population", True,
                                    "distinct particles / particles in a coupled population (smc, tds, dsearch)"),
}


def population_metrics(result, method) -> dict[str, float]:
    """Diversity inside populations, reported by coupled methods."""
    if method.population and "population_unique" in result.diagnostics:
        return {"population_unique": float(result.diagnostics["population_unique"])}
    return {}
