"""The math task's per-split table from records: method x budget -> Acc_O / Acc_S / Acc_H, gap closure, shortcut and
proxy-hacking rates (mean ± sd over seeds), against the unguided `none` cells of the same objective.

GC(B) = (Acc_H(method, B) − Acc_H(none)) / (Acc_S(none) − Acc_H(none)), with the base accuracies averaged over the
`none` seeds (``tasks.math.metrics.gap_closure``). Usage:
    python scripts/math_table.py RECORDS_DIR [--objective verify]
"""
from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from bench.gallery import method_label
from bench.records import read_records
from bench.stats import mean_sd
from tasks.math.metrics import gap_closure

COLUMNS = ("acc_o", "acc_s", "acc_h", "gc", "shortcut_rate", "hack_r_check", "hack_r_step", "nll")


def table(folder: Path, objective: str) -> str:
    """Markdown table of every ok math record of ``objective`` under ``folder``."""
    recs = [r for r in read_records(folder) if r["task"] == "math" and r["objective"] == objective
            and r["status"] == "ok"]
    base = [r["metrics"] for r in recs if r["method"] == "none"]
    if not base:
        raise SystemExit(f"no ok `none` records of objective {objective!r} under {folder}: GC needs them")
    h0, s0 = statistics.mean(m["acc_h"] for m in base), statistics.mean(m["acc_s"] for m in base)
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in recs:
        label = method_label(r)
        cells[(label, r["budget"]["name"])].append({**r["metrics"], "gc": gap_closure(r["metrics"]["acc_h"], h0, s0),
                                                     "cost": r["usage"]["cost_per_sample"]})
    lines = [f"objective {objective}: base (none) Acc_S {s0:.3f}, Acc_H {h0:.3f}, gap {s0 - h0:.3f}", "",
             "| method | budget | seeds | cost/sample | " + " | ".join(COLUMNS) + " |",
             "|---" * (4 + len(COLUMNS)) + "|"]
    for (method, budget), ms in sorted(cells.items(), key=lambda kv: (float(kv[0][1][:-1]), kv[0][0])):
        row = [method, budget, str(len(ms)), f"{statistics.mean(m['cost'] for m in ms):.0f}"]
        row += [mean_sd([m.get(c, float("nan")) for m in ms]) for c in COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", type=Path, help="a records folder (or an --out folder)")
    ap.add_argument("--objective", default="verify")
    a = ap.parse_args()
    print(table(a.records, a.objective))


if __name__ == "__main__":
    main()
