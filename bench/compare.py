"""CI regression check: records against ``results/baselines/*.csv`` with per-row tolerances.

Baseline columns: task, objective, method, budget, metric, value, tol. A row fails when the mean of the metric
over the matching ok records differs from ``value`` by more than ``tol``, or when no such record exists.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.records import read_records

COLUMNS = ["task", "objective", "method", "budget", "metric", "value", "tol"]


def compare(baseline: Path, records_dir: Path) -> tuple[int, list[str]]:
    """(number of failing rows, one line per row)."""
    base = pd.read_csv(baseline)
    missing = sorted(set(COLUMNS) - set(base.columns))
    if missing:
        raise ValueError(f"{baseline} lacks columns {missing}; expected {COLUMNS}")
    recs = [r for r in read_records(records_dir) if r.get("status") == "ok"]
    failures, lines = 0, []
    for row in base.itertuples(index=False):
        vals = [r["metrics"].get(row.metric) for r in recs
                if (r["task"], r["objective"], r["method"], r["budget"]["name"]) ==
                (row.task, row.objective, row.method, row.budget)]
        vals = [v for v in vals if v is not None]
        name = f"{row.task}/{row.objective}/{row.method}/{row.budget} {row.metric}"
        if not vals:
            failures += 1
            lines.append(f"MISSING {name}: no ok record")
            continue
        mean = float(np.mean(vals))
        drift = abs(mean - row.value) > row.tol
        failures += drift
        lines.append(f"{'DRIFT' if drift else 'ok':7s} {name}: {mean:.5g} vs baseline {row.value:.5g} ± {row.tol:g}")
    lines.append(f"compare: {len(base) - failures} ok, {failures} failed")
    return failures, lines


def make_baseline(records_dir: Path, path: Path, rel_tol: float = 0.05, abs_tol: float = 0.05) -> pd.DataFrame:
    """Write a baseline CSV from the main metric of every ok record (mean over seeds)."""
    rows = {}
    for r in read_records(records_dir):
        if r.get("status") != "ok":
            continue
        key = (r["task"], r["objective"], r["method"], r["budget"]["name"], r["main_metric"])
        rows.setdefault(key, []).append(r["metrics"][r["main_metric"]])
    df = pd.DataFrame([(*k, float(np.mean(v)), max(abs_tol, rel_tol * abs(float(np.mean(v)))))
                       for k, v in sorted(rows.items())], columns=COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return df
