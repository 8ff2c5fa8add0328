"""A Python API for notebooks: run cells, run a matrix, load records into a DataFrame.

Every call goes through the same runner as ``bench run`` / ``bench matrix`` (``bench.runner.execute``), so records,
budgets and seeds mean the same thing. Names are registry names, aliases, plugin entry points or ``module:attr``
spellings.

Example (a notebook cell)::

    from bench import api

    recs = api.run("gmm", "smc", objective="bump", budget="4x", seeds=range(3), n=64, steps=50)
    print([r["metrics"]["energy"] for r in recs])

    api.matrix(tasks=["gmm"], methods=["none", "smc", "svdd"], budgets=["1x", "4x"], seeds=range(2),
               n=32, steps=20, out="runs/notebook")
    df = api.load("runs/notebook")
    df.pivot_table(index="method", columns="budget", values="energy")  # mean over seeds
"""
from __future__ import annotations

import itertools
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from bench import registry
from bench.budget import parse_budget
from bench.records import read_records
from bench.runner import Cell, execute

if TYPE_CHECKING:
    import pandas

    from bench.executor import Executor

log = logging.getLogger("bench")

COLUMNS = ("task", "objective", "method", "budget", "seed", "n", "steps", "status", "cost_per_sample")


def _budget(value: str | float | None, task: str) -> str:
    """A budget name like '4x' (numbers and '4X' are normalised; None = the task's default budget)."""
    if value is None:
        return registry.tasks().get(task).default_budget
    text = f"{value:g}x" if isinstance(value, (int, float)) else str(value).strip().lower()
    return f"{parse_budget(text):g}x"


def _seeds(seeds: int | Iterable[int]) -> list[int]:
    out = [seeds] if isinstance(seeds, int) else [int(s) for s in seeds]
    if not out:
        raise ValueError("seeds is empty")
    return out


def _out(out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    folder = Path(tempfile.mkdtemp(prefix="guidebench-"))
    log.info("records go to %s", folder)
    return folder


def _stored(rec: dict[str, Any], out: Path) -> dict[str, Any]:
    """The ok record a skipped cell stands for (same cell key and config hash), the latest one."""
    same = [r for r in read_records(out) if r.get("status") == "ok" and r.get("cell") == rec["cell"]
            and r.get("config_hash") == rec["config_hash"]]
    return same[-1] if same else rec


def _execute(cell: Cell, out: Path, resume: bool, cache: dict, record_errors: bool) -> dict[str, Any]:
    if record_errors:
        from bench.executor import execute_or_error
        rec = execute_or_error(cell, out, cache, resume)
    else:
        rec = execute(cell, out, show_progress=False, cache=cache, resume=resume)
    return _stored(rec, out) if rec["status"] == "skipped" else rec


def run(task: str, method: str, objective: str | None = None, budget: str | float | None = "4x",
        seeds: int | Iterable[int] = (0,), n: int | None = None, steps: int | None = None,
        out: str | Path | None = None, overrides: dict[str, Any] | None = None, device: str = "cpu",
        tiny: bool = False, resume: bool = True) -> list[dict[str, Any]]:
    """Run ``task`` × ``method`` over ``seeds`` and return one record per seed (the dicts written to
    ``out/records/<task>.jsonl``).

    ``budget``: '4x', 4 or None (the task's default). ``n`` / ``steps``: None = the task's defaults.
    ``overrides``: method config values, as ``--set`` (applied after the budget mapping). ``out``: None = a fresh
    temporary folder. ``resume``: a cell with an ok record of the same config in ``out`` is not rerun; its
    stored record is returned. Errors raise (a bad name, objective or override), as ``bench run`` exits 2.

    >>> recs = run("gmm", "svdd", objective="bump", budget="4x", seeds=[0, 1], n=16, steps=10)  # doctest: +SKIP
    >>> [r["status"] for r in recs]  # doctest: +SKIP
    ['ok', 'ok']
    """
    name, key, folder, cache = registry.tasks().resolve(task), registry.methods().resolve(method), _out(out), {}
    cells = [Cell(task=name, method=key, objective=objective, budget=_budget(budget, name), seed=s, n=n,
                  steps=steps, overrides=dict(overrides or {}), device=device, tiny=tiny) for s in _seeds(seeds)]
    return [_execute(c, folder, resume, cache, record_errors=False) for c in cells]


def _names(names: str | Sequence[str] | None, reg: registry.Registry) -> list[str]:
    if names is None or names == "all":
        return reg.names()
    return [reg.resolve(x) for x in ([names] if isinstance(names, str) else names)]


def _takes(task: str, objective: str) -> bool:
    from bench.commands import accepts
    return accepts(objective, registry.tasks().get(task).objectives())


def matrix(tasks: str | Sequence[str] | None = None, methods: str | Sequence[str] | None = None,
           objectives: Sequence[str] | None = None, budgets: Sequence[str | float] = ("1x", "4x"),
           seeds: int | Iterable[int] = (0,), n: int | None = None, steps: int | None = None,
           out: str | Path | None = None, overrides: dict[str, Any] | None = None, device: str = "cpu",
           tiny: bool = False, resume: bool = True, executor: "Executor | None" = None) -> list[dict[str, Any]]:
    """Run tasks × objectives × methods × budgets × seeds and return every cell's record, as ``bench matrix``:
    incompatible pairs and over-budget cells get their status, a cell that fails to build gets an error record
    (the matrix goes on). None / "all" = every registered task or method; ``objectives`` None = each task's
    default, otherwise only the objectives a task accepts run on it. ``executor``: where cells run
    (``bench.executor``: ``Serial()`` by default, ``Pool(workers)``, ``RayExecutor(...)``); records come back in
    completion order. Other arguments as in ``run``.

    >>> recs = matrix(["gmm", "toyseq"], ["none", "svdd"], budgets=["1x", "4x"], n=8, steps=8)  # doctest: +SKIP
    >>> sorted({r["status"] for r in recs})  # doctest: +SKIP
    ['ok']
    """
    from bench.executor import Serial, run_cells
    task_names, method_names, folder = _names(tasks, registry.tasks()), _names(methods, registry.methods()), _out(out)
    objs: list[str | None] = list(objectives) if objectives else [None]
    budget_names = [_budget(b, "") for b in budgets]
    grid = itertools.product(task_names, objs, method_names, budget_names, _seeds(seeds))
    cells = [Cell(task=t, method=m, objective=o, budget=b, seed=s, n=n, steps=steps, overrides=dict(overrides or {}),
                  device=device, tiny=tiny) for t, o, m, b, s in grid if o is None or _takes(t, o)]
    return [_stored(rec, folder) if rec["status"] == "skipped" else rec
            for rec in run_cells(cells, folder, executor or Serial(), resume)]


def frame(records: Iterable[dict[str, Any]]) -> "pandas.DataFrame":
    """One row per record: ``COLUMNS``, ``cell``, ``config_hash``, ``error``, then every metric as a column (a
    metric whose name is one of those columns becomes ``metric.<name>``)."""
    import pandas as pd

    from bench.report.frame import cost_per_sample
    rows = []
    for rec in records:
        budget = rec.get("budget") or {}
        row: dict[str, Any] = {"task": rec.get("task"), "objective": rec.get("objective"),
                               "method": rec.get("method"),
                               "budget": budget.get("name") if isinstance(budget, dict) else budget,
                               "seed": rec.get("seed"), "n": rec.get("n"), "steps": rec.get("steps"),
                               "status": rec.get("status"), "cost_per_sample": cost_per_sample(rec),
                               "cell": rec.get("cell"), "config_hash": rec.get("config_hash"),
                               "error": (rec.get("error") or "").split("\n")[0] or None}
        for key, value in (rec.get("metrics") or {}).items():
            row[f"metric.{key}" if key in row else key] = value
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else [*COLUMNS, "cell", "config_hash", "error"])


def load(records_dir: str | Path, latest: bool = True) -> "pandas.DataFrame":
    """The records under ``records_dir`` (an ``--out`` folder or its ``records/``) as a DataFrame (see ``frame``).

    ``latest``: keep the latest record of each cell and seed (as ``bench report`` does: a rerun replaces the
    earlier record); False keeps every record.

    >>> df = load("runs/notebook")  # doctest: +SKIP
    >>> df[df.status == "ok"].groupby(["method", "budget"])["energy"].mean()  # doctest: +SKIP
    """
    from bench.report.frame import latest as latest_records
    folder = Path(records_dir)
    if not folder.exists():
        raise FileNotFoundError(f"no records folder {folder}")
    recs = read_records(folder)
    return frame(latest_records(recs) if latest else recs)
