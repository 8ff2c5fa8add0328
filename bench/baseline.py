"""`bench smoke` and `bench baseline`: the CI smoke matrix and the baseline CSV that `bench compare` checks it against.

The smoke spec (``results/baselines/smoke.yaml``) names every task with its objectives, the methods ("all"),
budgets, seeds, n, steps and the CPU kernels to measure. `bench baseline` runs the matrix once per kernel, each
in a subprocess (``ATEN_CPU_CAPABILITY`` unset for the native kernel, =avx2, =default), and writes one row per
cell and compared metric (cells as in bench.compare) with a tolerance of a declared kind (``tol_kind``):

- ``exact``: every kernel gave the same value within 1e-9 relative; tol = 1e-9·|value|.
- ``kernel``: the kernels differ, by no more than the noise that rounding alone gives (each kernel's per-seed
  values within ``SMOOTH_REL`` of the native ones): tol = Z·√2·σ̂, σ̂ = range over kernels / d₂(k), the expected range
  of k normal draws (d₂), so a new kernel's value lies within Z = 4 standard deviations of the native one.
- ``seed``: a kernel changed a discrete choice (a selection, a sampled token) in some seed, after which the samples
  of that seed are a different draw: tol = max(range over kernels, Z·√(2/S)·sd over the S seeds), the difference
  of two independent S-seed means at Z standard deviations.
``unstable``: NaN on some kernels only (tol = inf: not checked; listed by `bench baseline`).
``status`` rows (one per cell whose status is not ok, e.g. ``incompatible``) only require the same status.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from bench.compare import COLUMNS, SKIP_METRICS, CellKey, CellRuns, collect
from bench.records import git_state, read_records

DEFAULT_SPEC = Path("results/baselines/smoke.yaml")
EXACT_REL = 1e-9
SMOOTH_REL = 1e-4  # float32 rounding (1.2e-7) amplified by up to ~1000 through a short sampler stays below this
Z = 4.0
D2 = {2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326}  # expected range of k standard normal draws


@dataclass(frozen=True)
class SmokeSpec:
    """The CI smoke matrix."""

    tasks: dict[str, list[str]]  # task -> objectives
    methods: list[str] | str = "all"
    budgets: list[str] = field(default_factory=lambda: ["1x"])
    seeds: list[int] = field(default_factory=lambda: [0])
    n: int = 8
    steps: int = 12
    kernels: list[str] = field(default_factory=lambda: ["native", "avx2", "default"])
    skip: list[str] = field(default_factory=lambda: list(SKIP_METRICS))


def load_spec(path: Path) -> SmokeSpec:
    doc = yaml.safe_load(Path(path).read_text())
    return SmokeSpec(**{**doc, "budgets": [str(b) for b in doc.get("budgets", ["1x"])]})


def grid(spec: SmokeSpec) -> list:
    """Every Cell of the smoke matrix (task-major, then objective, method, budget, seed)."""
    from bench import registry
    from bench.runner import Cell
    reg = registry.methods()
    methods = reg.names() if spec.methods == "all" else [reg.resolve(m) for m in spec.methods]
    return [Cell(task=t, method=m, objective=o, budget=b, seed=s, n=spec.n, steps=spec.steps)
            for t, objs in spec.tasks.items() for o in objs for m in methods for b in spec.budgets
            for s in spec.seeds]


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished (reaped) child processes."""
    import resource
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def run_smoke(spec: SmokeSpec, out: Path, workers: int = 1) -> tuple[dict[str, int], float, float]:
    """Run the smoke matrix into ``out`` (one torch thread per process, always rerun), in this process or on
    ``workers`` local processes (the records do not depend on it); (status counts, wall s, CPU s of this process
    and its finished workers)."""
    import torch

    from bench.executor import Pool, execute_or_error, run_cells
    torch.set_num_threads(1)  # a fixed reduction order: the thread count can change float results
    t0, c0, cache, status = time.perf_counter(), _cpu_seconds(), {}, {}
    recs = (run_cells(grid(spec), out, Pool(workers, threads=1), resume=False) if workers > 1 else
            (execute_or_error(cell, out, cache) for cell in grid(spec)))
    for rec in recs:
        status[rec["status"]] = status.get(rec["status"], 0) + 1
    return status, time.perf_counter() - t0, _cpu_seconds() - c0


def run_kernel(spec_path: Path, kernel: str, out: Path) -> float:
    """Run `bench smoke` in a subprocess under one CPU kernel; its wall seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("ATEN_CPU_CAPABILITY", None)
    if kernel != "native":
        env["ATEN_CPU_CAPABILITY"] = kernel
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", "smoke", "--spec", str(spec_path), "--out", str(out)],
                   env=env, check=True, stdout=sys.stderr)
    return time.perf_counter() - t0


def tolerance(native: list[float], others: list[list[float]], value: float) -> tuple[float, str, float]:
    """(tol, kind, range over kernels) of one metric from its per-seed values on each kernel."""
    means = [math.fsum(v) / len(v) for v in [native, *others]]
    if any(math.isnan(m) for m in means):  # NaN on every kernel must stay NaN; NaN on some only is not checked
        return (0.0, "exact", 0.0) if all(math.isnan(m) for m in means) else (math.inf, "unstable", math.nan)
    spread = max(means) - min(means)
    if spread <= EXACT_REL * max(abs(m) for m in means):
        return EXACT_REL * abs(value), "exact", spread
    smooth = all(abs(a - b) <= SMOOTH_REL * max(abs(a), abs(b), 1e-12) for o in others for a, b in zip(o, native))
    if smooth:
        return Z * math.sqrt(2) * spread / D2[len(means)], "kernel", spread
    sd = pd.Series(native).std() if len(native) > 1 else abs(value)
    return max(spread, Z * math.sqrt(2 / len(native)) * float(sd)), "seed", spread


def baseline_rows(native: dict[CellKey, CellRuns], others: list[dict[CellKey, CellRuns]]) -> pd.DataFrame:
    """One row per cell and metric (one status row per cell that is not ok)."""
    rows = []
    for key in sorted(native):
        runs = native[key]
        alt = [o.get(key) for o in others]
        bad = [a.status if a else "missing" for a in alt if a is None or a.status != runs.status]
        if bad:
            raise RuntimeError(f"{key.label()}: status {runs.status} on the native kernel, {bad} on another")
        if runs.status != "ok":
            rows.append([*key, runs.status, "", math.nan, math.nan, "status", math.nan, math.nan])
            continue
        for metric, vals in sorted(runs.values.items()):
            value = runs.mean(metric)
            tol, kind, spread = tolerance(vals, [a.values.get(metric, [math.nan] * len(vals)) for a in alt], value)
            sd = float(pd.Series(vals).std()) if len(vals) > 1 else math.nan
            rows.append([*key, "ok", metric, value, tol, kind, spread, sd])
    return pd.DataFrame(rows, columns=COLUMNS)


def write_baseline(path: Path, df: pd.DataFrame, meta: dict[str, str]) -> None:
    """The CSV with ``# key: value`` metadata lines above the header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "".join(f"# {k}: {v}\n" for k, v in meta.items())
    path.write_text(head + df.to_csv(index=False, float_format="%.17g"))


SETTINGS = ("n", "steps", "budgets", "seeds", "kernels", "threads")  # meta keys a partial update must share


def _only(spec_path: Path, tasks: list[str] | None, methods: list[str] | None, folder: Path) -> Path:
    """A copy of the spec restricted to ``tasks`` and ``methods`` (each must be one of the spec's) in ``folder``."""
    from bench import registry

    doc = yaml.safe_load(Path(spec_path).read_text())
    unknown = sorted(set(tasks or ()) - set(doc["tasks"]))
    if unknown:
        raise ValueError(f"--tasks {','.join(unknown)}: not in {spec_path}; its tasks: {', '.join(doc['tasks'])}")
    doc["tasks"] = {t: o for t, o in doc["tasks"].items() if not tasks or t in tasks}
    if methods:
        known = registry.methods().names() if doc.get("methods", "all") == "all" else doc["methods"]
        unknown = sorted(set(methods) - set(known))
        if unknown:
            raise ValueError(f"--methods {','.join(unknown)}: not in {spec_path}; its methods: {', '.join(known)}")
        doc["methods"] = list(methods)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _keep_others(out: Path, tasks: list[str] | None, methods: list[str] | None, df: pd.DataFrame,
                 meta: dict[str, str]) -> tuple[pd.DataFrame, dict]:
    """Rows of cells not rerun come from the existing baseline ``out``, whose settings must be this run's."""
    from bench.compare import KEY_COLUMNS, read_baseline

    old_meta, old = read_baseline(out)
    differ = [k for k in SETTINGS if old_meta.get(k) != meta[k]]
    if differ:
        raise ValueError(f"{out} was written with other settings ({', '.join(f'{k}={old_meta.get(k)}' for k in differ)}"
                         f"; this run: {', '.join(f'{k}={meta[k]}' for k in differ)}): regenerate it whole")
    rerun = (old["task"].isin(tasks) if tasks else True) & (old["method"].isin(methods) if methods else True)
    kept = old[~rerun]
    merged = pd.concat([kept, df], ignore_index=True).sort_values(KEY_COLUMNS, kind="stable", ignore_index=True)
    what = " ".join(f"{k}={','.join(sorted(v))}" for k, v in (("tasks", tasks), ("methods", methods)) if v)
    updated = f"{what}@{meta['git_sha']} (smoke_wall_s {meta['smoke_wall_s']})"
    history = old_meta.get("updated")
    return merged, {**meta, "written_by": old_meta.get("written_by", meta["written_by"]),
                    "git_sha": old_meta.get("git_sha", ""), "smoke_wall_s": old_meta.get("smoke_wall_s", ""),
                    "updated": f"{history}; {updated}" if history else updated}


def make_baseline(spec_path: Path, out: Path, work: Path | None = None, tasks: list[str] | None = None,
                  methods: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Run the smoke matrix under every kernel of the spec and write the baseline CSV; (rows, wall s per kernel).
    With ``tasks`` and/or ``methods``, only those cells are rerun and the existing ``out`` keeps the other rows
    (a task whose weights changed, a method whose sizing changed); ``git_sha`` stays the rest's and ``updated``
    lists each partial run's tasks, methods and sha."""
    spec, written_by = load_spec(spec_path), "bench baseline --spec " + str(spec_path)
    sha, dirty = git_state()  # the code version the runs start from
    walls, cells = {}, {}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        if tasks or methods:
            if not Path(out).exists():
                raise FileNotFoundError(f"--tasks/--methods update an existing baseline; {out} does not exist")
            spec_path = _only(spec_path, tasks, methods, Path(tmp))
        def one(kernel: str) -> None:  # each kernel is a one-thread subprocess: as many at once as there are cores
            folder = Path(tmp) / kernel
            walls[kernel] = run_kernel(spec_path, kernel, folder)
            cells[kernel] = collect(read_records(folder), tuple(spec.skip))
            print(f"baseline: kernel {kernel}: {walls[kernel]:.0f} s", file=sys.stderr)

        with ThreadPoolExecutor(max_workers=max(1, min(len(spec.kernels), os.cpu_count() or 1))) as pool:
            list(pool.map(one, spec.kernels))
    native, *others = [cells[k] for k in spec.kernels]
    df = baseline_rows(native, others)
    meta = {"written_by": written_by, "git_sha": sha + ("-dirty" if dirty else ""),
            "n": str(spec.n), "steps": str(spec.steps), "budgets": ",".join(spec.budgets),
            "seeds": ",".join(map(str, spec.seeds)), "kernels": ",".join(spec.kernels), "threads": "1",
            "smoke_wall_s": ",".join(f"{k}={v:.0f}" for k, v in walls.items())}
    if tasks or methods:
        df, meta = _keep_others(Path(out), tasks, methods, df, meta)
    write_baseline(out, df, meta)
    return df, walls
