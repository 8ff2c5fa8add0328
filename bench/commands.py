"""Implementations of the CLI subcommands (stdout carries results, stderr logs and progress)."""
from __future__ import annotations

import argparse
import importlib
import itertools
import re
import sys
from pathlib import Path

from bench import registry
from bench import validate as V
from bench.runner import Cell, execute


def _summary(rec: dict) -> str:
    m = rec.get("metrics", {})
    main = rec.get("main_metric")
    score = f" {main}={m[main]:.4g}" if main in m else ""
    usage = rec.get("usage", {})
    per = usage.get("cost_per_sample", usage.get("min_cost_per_sample", 0))
    tail = f" error={rec['error'].splitlines()[0]}" if rec.get("error") else ""
    base = (f" base={rec['base']}" if rec.get("base") else "") + (f" eta={rec['eta']:g}" if "eta" in rec else "")
    return (f"task={rec['task']} objective={rec['objective']} method={rec['method']}{base} "
            f"budget={rec['budget']['name']} "
            f"seed={rec['seed']} status={rec['status']}{score} proxy={m.get('proxy', float('nan')):.4g} "
            f"cost/sample={per:.1f} wall={rec.get('usage', {}).get('wall_s', 0):.1f}s{tail}")


def _cell(args, task: str, method: str, objective: str | None, budget: str, seed: int) -> Cell:
    return Cell(task=task, method=method, objective=objective, budget=budget, seed=seed, n=args.n,
                steps=args.steps, overrides=args.overrides[method], device=args.device, tiny=args.tiny,
                base=args.base, precision=args.precision, eta=args.eta)


def _check(args: argparse.Namespace, tasks: list[str], methods: list[str], objectives: list[str]) -> None:
    """Everything about the run that argparse cannot check, before any work: task dependencies, the objectives
    against the selected tasks, ``--set`` typed by each method's config (``args.overrides``: method -> dict)."""
    from bench.runner import check_requirements
    task_objectives = {}
    for name in tasks:
        try:
            cls = registry.tasks().get(name)
        except ImportError as err:
            raise V.InputError(f"task {name!r} cannot be loaded: {err}") from None
        check_requirements(cls)
        if getattr(args, "eta", None) is not None and cls.family_kind != "continuous":
            raise V.InputError(f"--eta: task {name!r} has a {cls.family_kind} family; --eta sets the stochasticity "
                               "of a continuous (Gaussian or flow) sampler only")
        task_objectives[name] = cls.objectives()
    V.objectives(objectives, task_objectives, accepts)
    args.overrides = V.overrides(args.sets, {m: registry.methods().get(m) for m in methods})


def cmd_run(args: argparse.Namespace) -> int:
    task = registry.tasks().resolve(args.task)
    method = registry.methods().resolve(args.method)
    _check(args, [task], [method], [args.objective] if args.objective else [])
    budget = args.budget or V.budget(registry.tasks().get(task).default_budget)
    _threads(args.threads)
    cache: dict = {}
    bad = 0
    for i, seed in enumerate(args.seeds):
        cell = _cell(args, task, method, args.objective, budget, seed)
        _announce(i, len(args.seeds), cell, args.no_progress)
        rec = execute(cell, args.out, show_progress=not args.no_progress, cache=cache, resume=not args.force)
        bad += rec["status"] == "error"
        print(_summary(rec) if rec["status"] not in ("skipped", "claimed") else _not_run(rec))
    print(f"records: {args.out / 'records' / (task + '.jsonl')}")
    return 1 if bad else 0


def _not_run(rec: dict) -> str:
    """The line of a cell that was not run: a final record exists, or another live process holds its claim."""
    if rec["status"] == "claimed":
        return f"claimed {rec['cell']} (running in {rec['error']})"
    return f"skipped {rec['cell']} ({rec['error'] or 'final record exists'})"


def _announce(i: int, total: int, cell: Cell, quiet: bool) -> None:
    """One stderr line per cell (visible in logs when stderr is not a terminal)."""
    if not quiet:
        print(f"bench: [{i + 1}/{total}] {cell.task}|{cell.objective or '<default>'}|{cell.method}|{cell.budget}|"
              f"{cell.seed}", file=sys.stderr, flush=True)


def accepts(spec: str, objectives: list[str]) -> bool:
    """Whether an objective spec is one of a task's objectives or matches a pattern like ``rings=<k>`` (``<k>``
    an integer, ``<v>`` a finite number, any other placeholder a non-empty word)."""
    return any(spec == o or ("<" in o and _fills(spec, o)) for o in objectives)


def _fills(spec: str, pattern: str) -> bool:
    """Whether ``spec`` is ``pattern`` with its ``<placeholder>`` filled by a value of the placeholder's kind."""
    prefix, _, rest = pattern.partition("<")
    kind = rest.split(">")[0]
    value = spec[len(prefix):] if spec.startswith(prefix) else ""
    if kind == "k":
        return re.fullmatch(r"[+-]?\d+", value) is not None
    if kind == "v":
        return re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value) is not None
    return bool(value)


def make_executor(args: argparse.Namespace):
    """The executor the flags ask for (``bench.executor``): serial, a local pool (``--workers``) or Ray."""
    from bench import executor as X
    if args.executor == "ray":
        return X.RayExecutor(args.address, args.cpus_per_cell or args.threads, args.gpus_per_cell, args.retries)
    if args.workers > 1:
        return X.Pool(args.workers, args.threads, args.retries)
    return X.Serial(show_progress=not args.no_progress)


def cmd_matrix(args: argparse.Namespace) -> int:
    from bench.executor import run_cells
    from bench.protocol import protocol_cells
    V.executor_flags(args)
    cells = protocol_cells(args) if args.protocol else _grid_cells(args)
    _threads(args.threads)
    status: dict[str, int] = {}
    try:
        for rec in run_cells(cells, args.out, make_executor(args), resume=not args.force,
                             announce=lambda i, cell: _announce(i, len(cells), cell, args.no_progress)):
            status[rec["status"]] = status.get(rec["status"], 0) + 1
            print(_summary(rec) if rec["status"] not in ("skipped", "claimed") else _not_run(rec), flush=True)
    except KeyboardInterrupt:  # the written records stand (each appended whole); the rest resume
        print(f"matrix: interrupted after {sum(status.values())} of {len(cells)} cells; the same command resumes "
              "the rest", file=sys.stderr)
        return 130
    print("matrix: " + ", ".join(f"{k}={v}" for k, v in sorted(status.items())))
    return 1 if status.get("error") else 0


def _grid_cells(args: argparse.Namespace) -> list[Cell]:
    """tasks × objectives × methods × budgets × seeds of the flags, this shard's part."""
    tasks, methods = V.names(args.tasks, registry.tasks()), V.names(args.methods, registry.methods())
    objectives = [o.strip() for o in args.objectives.split(",")] if args.objectives else []
    _check(args, tasks, methods, objectives)
    grid = list(itertools.product(tasks, objectives or [None], methods, args.budgets, args.seeds))
    part, parts = args.shard
    grid = [g for g in grid[part::parts] if g[1] is None or _accepted(g[0], g[1])]
    return [_cell(args, task, method, obj, budget, seed) for task, obj, method, budget, seed in grid]


def _threads(n: int) -> None:
    """Torch threads of this process (one per worker by default: on a loaded machine more threads than free
    cores makes every forward many times slower, and the thread count changes float reduction order)."""
    import torch
    torch.set_num_threads(n)


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
            print(f"{'':12s} --set {_set_keys(m) or '(no keys)'}")
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


def _set_keys(method) -> str:
    """``k: int = 4 (>= 1), lam: float = 10.0, ...`` for ``bench ls methods``."""
    parts = []
    for name, (tp, optional, bound, default) in V.field_specs(method).items():
        rng = f" ({bound.describe()})" if bound else ""
        parts.append(f"{name}: {V.type_name(tp, optional)} = {default!r}{rng}")
    return ", ".join(parts)


def _builtin(reg: registry.Registry) -> list[str]:
    """The registry's names that are not plugins (plugins are listed unimported, by ``_ls_plugins``)."""
    plugins = set(reg.plugins())
    return [n for n in reg.names() if n not in plugins]


def _ls_plugins(reg: registry.Registry) -> None:
    """One line per plugin entry point: name, "plugin", its ``module:attr`` value and distribution (not imported)."""
    for name in reg.plugins():
        print(f"{name:10s} plugin {reg.entries[name]} ({reg.origins[name]})")


def _report_checks(kind: str, results) -> int:
    """Print one line per contract check; exit status 1 naming the failed checks, else 0."""
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'} {kind}.{r.name}" + (f": {r.message}" if r.message else ""))
    failed = [r.name for r in results if not r.ok]
    print(f"check-{kind}: {len(results) - len(failed)} passed, {len(failed)} failed" +
          (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


def cmd_check_task(args: argparse.Namespace) -> int:
    from bench.contract import check_task
    return _report_checks("task", check_task(args.name))


def cmd_check_method(args: argparse.Namespace) -> int:
    from bench.contract import check_method
    return _report_checks("method", check_method(args.name))


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
    V.objectives(objectives or [], {name: registry.tasks().get(name).objectives()}, accepts)
    print(f"calibration: {calibrate(name, objectives, args.repeats)}")
    card = write_card_section(name)
    if card is not None:
        print(f"model card: {card}")
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from bench.baseline import load_spec, run_smoke
    status, wall, cpu = run_smoke(load_spec(args.spec), args.out, workers=args.workers)
    print(f"smoke: {', '.join(f'{k}={v}' for k, v in sorted(status.items()))}; wall {wall:.1f} s, CPU {cpu:.1f} s "
          f"(records: {args.out / 'records'})")
    return 1 if status.get("error") else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from bench.baseline import make_baseline
    from bench.compare import KEY_COLUMNS
    df, walls = make_baseline(args.spec, args.out, tasks=args.tasks, methods=args.methods)
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
    from bench.tune import NoTrialSucceeded, tune
    task_cls = registry.tasks().get(args.task)
    registry.methods().resolve(args.method)
    V.objectives([args.objective] if args.objective else [], {args.task: task_cls.objectives()}, accepts)
    try:
        budget = args.budget or V.budget(task_cls.default_budget)
        doc = tune(args.task, args.method, args.objective, budget, args.n or task_cls.default_n,
                   args.seeds, args.rounds, args.beam, args.out, args.device)
    except NoTrialSucceeded as err:
        print(f"bench: tune: {err}", file=sys.stderr)
        return 1
    print(f"best {doc['method']} on {doc['task']}/{doc['objective']}: {doc['config']} proxy={doc['proxy']:.4g} "
          f"({len(doc['trials'])} trials) -> {doc['path']}")
    return 0
