"""A quality-guidance table from records: method (with its scale and base) x budget -> the objective's main metric
and every naturalness metric the records declare (FID, precision, recall, density, coverage on images; OA on
music; validity, uniqueness, novelty, NLL on molecules), mean ± sd over seeds, with the cost per sample.
A comma list of tasks puts them side by side (the DDPM and its flow twin: ``--task images,images_flow``).
Usage:
    python scripts/quality_table.py RECORDS_DIR --task images[,images_flow] [--objective quality]
"""
from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from bench.gallery import method_label
from bench.records import read_records
from bench.stats import mean_sd

EXTRA = ("density", "coverage", "population_unique")  # shown when present (images' k-NN pair beside precision /
# recall; the distinct share of a coupled population, which collapses when resampling runs on a deterministic ODE)


def columns(recs: list[dict]) -> list[str]:
    """The main metric first, then the naturalness metrics in the records' own order, then EXTRA."""
    main = recs[0]["main_metric"]
    meta = {k: m for r in recs for k, m in r["metric_meta"].items()}  # every record's (population_unique: some)
    nat = [k for k, m in meta.items() if (m.get("naturalness") or k in EXTRA) and k != main]
    return [main, *nat]


def table(folder: Path, task: str, objective: str) -> str:
    """Markdown table of every ok record of (task, objective) under ``folder``; ``task`` may be a comma list
    (a task column is added and each method's rows sit together)."""
    tasks = task.split(",")
    recs = [r for r in read_records(folder) if r["task"] in tasks and r["objective"] == objective
            and r["status"] == "ok"]
    if not recs:
        raise SystemExit(f"no ok records of {task} / {objective} under {folder}")
    cols = columns(recs)
    cells: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in recs:
        key = (method_label(r), r["budget"]["name"], r["task"])
        cells[key].append({**r["metrics"], "cost": r["usage"]["cost_per_sample"]})
    n = sorted({r["n"] for r in recs})
    lead = ["method", "budget", *(["task"] if len(tasks) > 1 else []), "seeds", "cost/sample"]
    lines = [f"{task} / {objective}: n = {', '.join(map(str, n))} per seed (recall and coverage depend on n)", "",
             "| " + " | ".join(lead + cols) + " |", "|---" * (len(lead) + len(cols)) + "|"]
    order = sorted(cells, key=lambda k: (float(k[1][:-1]), k[0], tasks.index(k[2])))
    for method, budget, t in order:
        ms = cells[(method, budget, t)]
        row = [method, budget, *([t] if len(tasks) > 1 else []), str(len(ms)),
               f"{statistics.mean(m['cost'] for m in ms):.0f}"]
        lines.append("| " + " | ".join(row + [mean_sd([m.get(c) for m in ms]) for c in cols]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", type=Path, help="a records folder (or an --out folder)")
    ap.add_argument("--task", required=True, help="a task or a comma list of tasks (side by side)")
    ap.add_argument("--objective", default="quality")
    a = ap.parse_args()
    print(table(a.records, a.task, a.objective))


if __name__ == "__main__":
    main()
