"""The committed evaluation protocol: a matrix spec (``results/protocol.yaml``) that fixes, per task, the objectives,
the samples per seed and the sampling steps, and for all tasks the budgets, the seeds and the method configs.

``bench matrix --protocol results/protocol.yaml`` runs exactly its cells (``--tasks`` / ``--methods`` may select a
part of it, e.g. one task per machine; every other grid flag is refused, so a protocol run cannot drift from the
file). ``results/PROTOCOL.md`` explains the choices. The file is checked in full before any work: unknown keys,
a task or method this checkout does not have, an objective its task does not take, n below ``MIN_N``, a malformed
budget or seed, a config key the method lacks or a value outside its declared range.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import validate as V

MIN_N = 32  # samples per seed: below this a per-seed set metric (FID, FCD, OA) is mostly estimator bias
GRID_DEFAULTS = {"objectives": None, "budgets": ["1x", "4x"], "seeds": [0], "n": None, "steps": None, "sets": [],
                 "base": None, "eta": None, "tiny": False}  # `bench matrix` grid flags (dest) -> default: a protocol
# fixes them all, so any other value is refused (tests check these against the parser's defaults)
TOP_KEYS = {"name", "methods", "budgets", "seeds", "tasks", "tuning"}
TASK_KEYS = {"objectives", "n", "steps", "settings"}


@dataclass(frozen=True)
class TaskProtocol:
    """One task's part: its objectives, samples per seed, steps (None = the task's default) and method configs."""

    objectives: list[str]
    n: int
    steps: int | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> typed config overrides


@dataclass(frozen=True)
class Protocol:
    """The whole matrix: tasks x their objectives x methods x budgets x seeds."""

    name: str
    tasks: dict[str, TaskProtocol]
    methods: list[str]
    budgets: list[str]
    seeds: list[int]
    tuning: str = ""  # how the settings were chosen (dev seeds, compute), shown by PROTOCOL.md


def _fail(path: Path, where: str, msg: str) -> V.InputError:
    return V.InputError(f"protocol {path}: {where}: {msg}")


def _keys(path: Path, where: str, doc: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise _fail(path, where, f"expected a mapping with keys {sorted(allowed)}")
    bad = sorted(set(doc) - allowed)
    if bad:
        raise _fail(path, where, f"unknown key(s) {bad}; accepted: {sorted(allowed)}")
    return doc


def _task(path: Path, name: str, doc: Any, methods: dict[str, Any]) -> TaskProtocol:
    from bench import registry
    from bench.commands import accepts

    doc = _keys(path, f"tasks.{name}", doc, TASK_KEYS)
    try:
        cls = registry.tasks().get(name)
    except (registry.UnknownName, ImportError) as err:
        raise _fail(path, f"tasks.{name}", f"not a task of this checkout ({err})") from None
    objs = doc.get("objectives") or [cls.default_objective]
    for o in objs:
        if not accepts(str(o), cls.objectives()):
            raise _fail(path, f"tasks.{name}.objectives",
                        f"{o!r} is not taken by {name} ({' '.join(cls.objectives())})")
    n = doc.get("n", cls.default_n)
    steps = doc.get("steps")
    if not isinstance(n, int) or n < MIN_N:
        raise _fail(path, f"tasks.{name}.n", f"{n!r}: expected an integer >= {MIN_N} (samples per seed)")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise _fail(path, f"tasks.{name}.steps", f"{steps!r}: expected a positive integer or no key (task default)")
    settings = {}
    for m, sets in (doc.get("settings") or {}).items():
        if m not in methods:
            raise _fail(path, f"tasks.{name}.settings", f"{m!r} is not a method of the protocol")
        if not isinstance(sets, dict):
            raise _fail(path, f"tasks.{name}.settings.{m}", "expected a mapping of config key -> value")
        try:
            settings[m] = V.overrides([f"{k}={v}" for k, v in sets.items()], {m: methods[m]})[m]
        except V.InputError as err:
            raise _fail(path, f"tasks.{name}.settings.{m}", str(err)) from None
    return TaskProtocol([str(o) for o in objs], n, steps, settings)


def load_protocol(path: Path) -> Protocol:
    """Read and check a protocol file (every problem is an ``InputError`` naming the key and the accepted form)."""
    import yaml

    from bench import registry

    path = Path(path)
    if not path.is_file():
        raise V.InputError(f"protocol {path}: no such file (the committed one is results/protocol.yaml)")
    doc = _keys(path, "top level", yaml.safe_load(path.read_text()), TOP_KEYS)
    reg = registry.methods()
    spec = doc.get("methods", "all")
    try:
        keys = reg.names() if spec == "all" else [reg.resolve(m) for m in spec]
    except registry.UnknownName as err:
        raise _fail(path, "methods", str(err)) from None
    methods = {k: reg.get(k) for k in keys}
    try:
        budgets = [V.budget(str(b)) for b in doc.get("budgets", [])]
        seeds = V.seeds(",".join(str(s) for s in doc.get("seeds", [])))
    except V.InputError as err:
        raise _fail(path, "budgets / seeds", str(err)) from None
    if not budgets or not doc.get("tasks"):
        raise _fail(path, "top level", "budgets and tasks must not be empty")
    tasks = {t: _task(path, t, d, methods) for t, d in doc["tasks"].items()}
    return Protocol(str(doc.get("name", path.stem)), tasks, keys, budgets, seeds, str(doc.get("tuning", "")))


def cells(protocol: Protocol, tasks: list[str] | None = None, methods: list[str] | None = None,
          **cell_fields: Any) -> list:
    """The protocol's cells (task-major, then objective, method, budget, seed), optionally only some tasks and
    methods (each must be in the protocol); ``cell_fields`` are run settings (device, precision)."""
    from bench.runner import Cell

    for what, chosen, have in (("task", tasks, protocol.tasks), ("method", methods, protocol.methods)):
        extra = sorted(set(chosen or []) - set(have))
        if extra:
            raise V.InputError(f"--{what}s {','.join(extra)}: not in protocol {protocol.name} ({', '.join(have)})")
    return [Cell(task=t, method=m, objective=o, budget=b, seed=s, n=tp.n, steps=tp.steps,
                 overrides=tp.settings.get(m, {}), **cell_fields)
            for t, tp in protocol.tasks.items() if not tasks or t in tasks
            for o in tp.objectives for m in protocol.methods if not methods or m in methods
            for b in protocol.budgets for s in protocol.seeds]


def protocol_cells(args: Any) -> list:
    """The cells of ``--protocol FILE`` (``bench.protocol``), optionally some tasks / methods, this shard's part;
    the grid flags it fixes are refused."""
    from bench import registry
    from bench.runner import check_requirements
    given = [f"--{'set' if k == 'sets' else k}" for k, v in GRID_DEFAULTS.items() if getattr(args, k) != v]
    if given:
        raise V.InputError(f"--protocol fixes {', '.join(given)}; drop them (--tasks / --methods may select a part)")
    pick = lambda text, reg: None if text == "all" else V.names(text, reg)  # noqa: E731
    protocol = load_protocol(args.protocol)
    chosen = cells(protocol, pick(args.tasks, registry.tasks()), pick(args.methods, registry.methods()),
                   device=args.device, precision=args.precision)
    for name in sorted({c.task for c in chosen}):
        check_requirements(registry.tasks().get(name))
    part, parts = args.shard
    return chosen[part::parts]
