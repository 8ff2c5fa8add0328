"""CI regression check: the records of a smoke run against a baseline CSV written by `bench baseline`.

A baseline cell is keyed by task, objective, method, config hash, budget, n and steps (records of different n or
steps are never pooled). Each row holds one compared metric of one cell: the cell's value (mean over the spec's
seeds), its tolerance and the tolerance's kind (see bench.baseline). A row fails when the records' value differs
by more than the tolerance (NaN matches only NaN), when the cell's status differs (an ``incompatible`` cell must
stay incompatible), or when the cell or one of its seeds has no record. Cells the baseline lacks are reported.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from bench.records import read_records

KEY_COLUMNS = ["task", "objective", "method", "config_hash", "budget", "n", "steps"]
COLUMNS = [*KEY_COLUMNS, "status", "metric", "value", "tol", "tol_kind", "kernel_range", "seed_sd"]
SKIP_METRICS = ("sample_s", "usage.wall_s")  # wall time: never compared


class CellKey(NamedTuple):
    """What identifies a cell's result apart from the seed."""

    task: str
    objective: str
    method: str
    config_hash: str
    budget: str
    n: int
    steps: int

    def label(self) -> str:
        return (f"{self.task}/{self.objective}/{self.method}/{self.budget} n={self.n} steps={self.steps} "
                f"cfg={self.config_hash[:8]}")


@dataclass
class CellRuns:
    """The records of one cell: status and per-seed values of every numeric metric (NaN for missing/None)."""

    status: str
    seeds: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> one value per seed (seed order)

    def mean(self, metric: str) -> float:
        """Mean over seeds (NaN when any seed's value is NaN or the metric is absent)."""
        vals = self.values.get(metric)
        return math.fsum(vals) / len(vals) if vals and not any(math.isnan(v) for v in vals) else math.nan


def cell_key(rec: dict[str, Any]) -> CellKey:
    """The record's cell (n and steps -1 when a record that failed before resolving them left them unset)."""
    return CellKey(rec["task"], rec.get("objective") or "", rec["method"], rec.get("config_hash") or "",
                   rec["budget"]["name"], int(rec.get("n") or -1), int(rec.get("steps") or -1))


def numeric(rec: dict[str, Any], skip: tuple[str, ...] = SKIP_METRICS) -> dict[str, float]:
    """Every compared number of a record: its metrics and its usage counts (``usage.<name>``); None -> NaN."""
    out = {f"usage.{k}": v for k, v in (rec.get("usage") or {}).items()}
    out.update(rec.get("metrics") or {})
    return {k: (math.nan if v is None else float(v)) for k, v in out.items()
            if k not in skip and (v is None or isinstance(v, (int, float))) and not isinstance(v, bool)}


def collect(records: list[dict[str, Any]], skip: tuple[str, ...] = SKIP_METRICS) -> dict[CellKey, CellRuns]:
    """Group records into cells (the last record of a seed wins; a cell's status is its worst seed's)."""
    by_cell: dict[CellKey, dict[int, dict[str, Any]]] = {}
    for rec in records:
        if rec.get("status") in ("skipped", None):
            continue
        by_cell.setdefault(cell_key(rec), {})[int(rec["seed"])] = rec
    out = {}
    for key, seeds in by_cell.items():
        recs = [seeds[s] for s in sorted(seeds)]
        statuses = {r["status"] for r in recs}
        status = "ok" if statuses == {"ok"} else sorted(statuses - {"ok"})[0]
        runs = CellRuns(status=status, seeds=sorted(seeds))
        if status == "ok":
            nums = [numeric(r, skip) for r in recs]
            for metric in sorted(set().union(*nums)):
                runs.values[metric] = [d.get(metric, math.nan) for d in nums]
        out[key] = runs
    return out


def read_baseline(path: Path) -> tuple[dict[str, str], pd.DataFrame]:
    """(metadata from the leading ``# key: value`` lines, the rows)."""
    meta, body = {}, []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#") and not body:
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        else:
            body.append(line)
    df = pd.read_csv(io.StringIO("\n".join(body)), dtype={"objective": str, "budget": str, "config_hash": str,
                                                          "status": str, "metric": str}, keep_default_na=False,
                     na_values={"value": ["nan", "NaN", ""], "tol": ["nan", ""]})
    missing = sorted(set(COLUMNS) - set(df.columns))
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; expected {COLUMNS} (write it with `bench baseline`)")
    return meta, df


def within(value: float, ref: float, tol: float) -> bool:
    """|value − ref| ≤ tol, NaN matching NaN only (an infinite tol accepts anything)."""
    if math.isinf(tol):
        return True
    if math.isnan(ref) or math.isnan(value):
        return math.isnan(ref) and math.isnan(value)
    return abs(value - ref) <= tol


def _check_cell(key: CellKey, rows: pd.DataFrame, runs: CellRuns | None, seeds: list[int]) -> list[str]:
    """Failure lines of one baseline cell (empty when it passes)."""
    if runs is None:
        return [f"MISSING {key.label()}: no record"]
    want = rows["status"].iloc[0]
    if runs.status != want:
        return [f"STATUS  {key.label()}: {runs.status} vs baseline {want}"]
    if want == "ok" and seeds and runs.seeds != seeds:
        return [f"MISSING {key.label()}: seeds {runs.seeds} vs baseline {seeds}"]
    bad = []
    for row in rows.itertuples(index=False):
        if want != "ok" or not row.metric:
            continue
        got = runs.mean(row.metric)
        if not within(got, row.value, row.tol):
            hint = ("; NaN on one side only: a metric that appears or vanishes (an install, a dependency?)"
                    if math.isnan(got) != math.isnan(row.value) else "")
            bad.append(f"DRIFT   {key.label()} {row.metric}: {got:.9g} vs baseline {row.value:.9g} "
                       f"± {row.tol:.3g} ({row.tol_kind}){hint}")
    return bad


def compare(baseline: Path, records_dir: Path) -> tuple[int, list[str]]:
    """(number of failing cells, report lines): every baseline cell checked, extra cells listed."""
    meta, base = read_baseline(baseline)
    seeds = [int(s) for s in meta.get("seeds", "").split(",") if s.strip()]
    cells = collect(read_records(records_dir))
    failures, lines, seen = 0, [], set()
    for key_vals, rows in base.groupby(KEY_COLUMNS, sort=True):
        key = CellKey(*[str(v) for v in key_vals[:5]], int(key_vals[5]), int(key_vals[6]))
        seen.add(key)
        bad = _check_cell(key, rows, cells.get(key), seeds)
        failures += bool(bad)
        lines.extend(bad or [f"ok      {key.label()} ({rows['status'].iloc[0]}, {len(rows)} rows)"])
    extra = sorted(set(cells) - seen)
    lines.extend(f"EXTRA   {k.label()}: {cells[k].status}, not in the baseline" for k in extra)
    lines.append(f"compare: {len(seen) - failures} cells ok, {failures} failed, {len(extra)} extra "
                 f"(baseline {Path(baseline).name}, code {meta.get('git_sha', '?')[:10]})")
    return failures, lines
