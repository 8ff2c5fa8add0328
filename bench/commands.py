"""Implementations of the CLI subcommands (stdout carries results, stderr logs and progress)."""
from __future__ import annotations

import argparse
import importlib
import itertools
import sys
from pathlib import Path

from bench import registry
from bench.runner import Cell, execute


def _summary(rec: dict) -> str:
    m = rec.get("metrics", {})
    main = rec.get("main_metric")
    score = f" {main}={m[main]:.4g}" if main in m else ""
    usage = rec.get("usage", {})
    per = usage.get("cost_per_sample", usage.get("min_cost_per_sample", 0))
    tail = f" error={rec['error'].splitlines()[0]}" if rec.get("error") else ""
    return (f"task={rec['task']} objective={rec['objective']} method={rec['method']} budget={rec['budget']['name']} "
            f"seed={rec['seed']} status={rec['status']}{score} proxy={m.get('proxy', float('nan')):.4g} "
            f"cost/sample={per:.1f} wall={rec.get('usage', {}).get('wall_s', 0):.1f}s{tail}")


def _cells(args, task: str, method: str, objective: str | None, budget: str, seed: int) -> Cell:
    from bench.cli import parse_sets
    return Cell(task=task, method=method, objective=objective, budget=budget, seed=seed, n=args.n,
                steps=args.steps, overrides=parse_sets(args.sets), device=args.device, tiny=args.tiny)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.cli import parse_seeds
    task_cls = registry.tasks().get(args.task)
    method = registry.methods().resolve(args.method)
    budget = args.budget or task_cls.default_budget
    cache: dict = {}
    bad = 0
    for seed in parse_seeds(args.seeds):
        cell = _cells(args, args.task, method, args.objective, budget, seed)
        rec = execute(cell, args.out, show_progress=not args.no_progress, cache=cache, resume=not args.force)
        bad += rec["status"] == "error"
        print(_summary(rec) if rec["status"] != "skipped" else f"skipped {rec['cell']} (ok record exists)")
    print(f"records: {args.out / 'records' / (registry.tasks().resolve(args.task) + '.jsonl')}")
    return 1 if bad else 0


def _names(text: str, reg: registry.Registry) -> list[str]:
    return reg.names() if text == "all" else [reg.resolve(x.strip()) for x in text.split(",") if x.strip()]


def accepts(spec: str, objectives: list[str]) -> bool:
    """Whether an objective spec is one of a task's objectives or matches a pattern like ``rings=<k>``."""
    return any(spec == o or ("<" in o and spec.startswith(o.split("<")[0]) and len(spec) > len(o.split("<")[0]))
               for o in objectives)


def error_record(cell: Cell, err: Exception) -> dict:
    """The record of a cell that failed before it could run (task build, objective, config): status error with
    the cell's keys filled and no score."""
    import traceback

    from bench.records import SCHEMA_VERSION, git_state
    sha, dirty = git_state()
    objective = cell.objective or ""
    return {"schema_version": SCHEMA_VERSION, "run_id": "", "git_sha": sha, "git_dirty": dirty, "task": cell.task,
            "objective": objective, "method": cell.method, "config_hash": "", "seed": cell.seed,
            "cell": f"{cell.task}|{objective}|{cell.method}|{cell.budget}|{cell.seed}", "n": cell.n,
            "steps": cell.steps, "budget": {"name": cell.budget}, "overrides": dict(cell.overrides),
            "status": "error", "error": f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)}",
            "metrics": {}, "usage": {}}


def execute_or_error(cell: Cell, out: Path, cache: dict, resume: bool = False) -> dict:
    """``execute`` a cell; a failure before the run (task build, objective, config) becomes an error record."""
    from bench.records import append_jsonl
    try:
        return execute(cell, out, show_progress=False, cache=cache, resume=resume)
    except Exception as err:  # noqa: BLE001 - any failure of one cell is recorded, the matrix goes on
        rec = error_record(cell, err)
        print(f"bench: cell {rec['cell']} failed: {rec['error'].splitlines()[0]}", file=sys.stderr)
        append_jsonl(out / "records" / f"{cell.task}.jsonl", [rec])
        return rec


def cmd_matrix(args: argparse.Namespace) -> int:
    from bench.cli import parse_seeds
    from bench.runner import progress
    tasks, methods = _names(args.tasks, registry.tasks()), _names(args.methods, registry.methods())
    objectives = [o.strip() for o in args.objectives.split(",")] if args.objectives else [None]
    grid = list(itertools.product(tasks, objectives, methods, args.budgets.split(","), parse_seeds(args.seeds)))
    part, _, parts = args.shard.partition("/")
    if not (part.isdigit() and parts.isdigit() and int(part) < int(parts)):
        raise ValueError(f"--shard expects i/N with 0 <= i < N, got {args.shard!r}")
    grid = grid[int(part)::int(parts)]
    cache: dict = {}
    status: dict[str, int] = {}
    for task, obj, method, budget, seed in progress(not args.no_progress)(grid, "matrix"):
        if obj is not None and not _accepted(task, obj):
            continue
        rec = execute_or_error(_cells(args, task, method, obj, budget, seed), args.out, cache, not args.force)
        status[rec["status"]] = status.get(rec["status"], 0) + 1
        if rec["status"] != "skipped":
            print(_summary(rec), flush=True)
    print("matrix: " + ", ".join(f"{k}={v}" for k, v in sorted(status.items())))
    return 1 if status.get("error") else 0


def _accepted(task: str, objective: str) -> bool:
    """Whether the task takes the objective (a task whose class cannot load takes all: its cells record the error)."""
    try:
        return accepts(objective, registry.tasks().get(task).objectives())
    except Exception:  # noqa: BLE001
        return True


def cmd_ls(args: argparse.Namespace) -> int:
    if args.what == "methods":
        reg = registry.methods()
        for key in _builtin(reg):
            m = reg.get(key)
            print(f"{key:12s} supports={','.join(sorted(m.supports)):21s} needs_grad={str(m.needs_grad):5s} "
                  f"{m.paper}")
        for alias, target in sorted(reg.aliases.items()):
            print(f"{alias:12s} alias of {target}")
        _ls_plugins(reg)
        return 0
    reg = registry.tasks()
    for name in _builtin(reg):
        try:
            cls = reg.get(name)
        except ImportError as err:
            print(f"{name:10s} unavailable: {err}")
            continue
        if args.what == "tasks":
            print(f"{name:10s} family={cls.family_kind:10s} version={cls.version} default={cls.default_objective}")
        else:
            print(f"{name:10s} {' '.join(cls.objectives())} (default {cls.default_objective})")
    _ls_plugins(reg)
    return 0


def _builtin(reg: registry.Registry) -> list[str]:
    """The registry's names that are not plugins (plugins are listed unimported, by ``_ls_plugins``)."""
    plugins = set(reg.plugins())
    return [n for n in reg.names() if n not in plugins]


def _ls_plugins(reg: registry.Registry) -> None:
    """One line per plugin entry point: name, "plugin", its ``module:attr`` value and distribution (not imported)."""
    for name in reg.plugins():
        print(f"{name:10s} plugin {reg.entries[name]} ({reg.origins[name]})")


def _check(kind: str, results) -> int:
    """Print one line per contract check; exit status 1 naming the failed checks, else 0."""
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'} {kind}.{r.name}" + (f": {r.message}" if r.message else ""))
    failed = [r.name for r in results if not r.ok]
    print(f"check-{kind}: {len(results) - len(failed)} passed, {len(failed)} failed" +
          (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


def cmd_check_task(args: argparse.Namespace) -> int:
    from bench.contract import check_task
    return _check("task", check_task(args.name))


def cmd_check_method(args: argparse.Namespace) -> int:
    from bench.contract import check_method
    return _check("method", check_method(args.name))


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report
    for path in write_report(args.records, args.out, allow_dirty=args.allow_dirty, allow_mixed=args.allow_mixed):
        print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.compare import compare
    failures, lines = compare(args.baseline, args.records)
    print("\n".join(lines))
    return 1 if failures else 0


def pretrain_folder(task: str, root: Path = Path("runs/pretrain")) -> Path:
    """A new run folder ``runs/pretrain/<task>-<UTC stamp>`` (never the committed weights)."""
    import datetime as dt
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return root / f"{task}-{stamp}"


def latest_pretrain_folder(task: str, root: Path = Path("runs/pretrain")) -> Path:
    """The newest run folder of ``task`` (``--resume``)."""
    runs = sorted(root.glob(f"{task}-*"))
    if not runs:
        raise FileNotFoundError(f"no pretraining run of {task!r} under {root} to resume")
    return runs[-1]


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bench.calibrate import calibrate, write_card_section
    objectives = [o.strip() for o in args.objectives.split(",")] if args.objectives else None
    name = registry.tasks().resolve(args.task)
    print(f"calibration: {calibrate(name, objectives, args.repeats)}")
    card = write_card_section(name)
    if card is not None:
        print(f"model card: {card}")
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from bench.baseline import load_spec, run_smoke
    status, wall, cpu = run_smoke(load_spec(args.spec), args.out)
    print(f"smoke: {', '.join(f'{k}={v}' for k, v in sorted(status.items()))}; wall {wall:.1f} s, CPU {cpu:.1f} s "
          f"(records: {args.out / 'records'})")
    return 1 if status.get("error") else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from bench.baseline import make_baseline
    from bench.compare import KEY_COLUMNS
    df, walls = make_baseline(args.spec, args.out)
    for task, kinds in df.groupby("task")["tol_kind"]:
        print(f"baseline: {task}: " + ", ".join(f"{k}={v}" for k, v in kinds.value_counts().items()))
    print(f"baseline: {args.out}: {len(df.drop_duplicates(KEY_COLUMNS))} cells, {len(df)} rows; smoke matrix "
          "wall time per kernel (one run each): " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()))
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from bench.weights import install, task_folder
    cls = registry.tasks().get(args.task)
    if not cls.pretrain_entry:
        print(f"bench: task {args.task!r} has no weights to train (analytic model)", file=sys.stderr)
        return 0
    if args.install and args.quick:
        print("bench: --install is refused for --quick runs (smoke-test weights never replace the committed ones)",
              file=sys.stderr)
        return 2
    out = args.out or (latest_pretrain_folder(cls.name) if args.resume else pretrain_folder(cls.name))
    module, fn = cls.pretrain_entry.split(":")
    weights = getattr(importlib.import_module(module), fn)(Path(out), seed=args.seed, quick=args.quick,
                                                            device=args.device)
    print(f"weights: {weights}")
    if args.install:
        dst = task_folder(cls)
        install(weights, dst)
        print(f"installed: {weights} -> {dst}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from bench.cli import parse_seeds
    from bench.tune import NoTrialSucceeded, tune
    task_cls = registry.tasks().get(args.task)
    try:
        budget = args.budget or task_cls.default_budget
        doc = tune(args.task, args.method, args.objective, budget, args.n or task_cls.default_n,
                   parse_seeds(args.seeds), args.rounds, args.beam, args.out, args.device)
    except NoTrialSucceeded as err:
        print(f"bench: tune: {err}", file=sys.stderr)
        return 1
    print(f"best {doc['method']} on {doc['task']}/{doc['objective']}: {doc['config']} proxy={doc['proxy']:.4g} "
          f"({len(doc['trials'])} trials) -> {doc['path']}")
    return 0
