"""Rankings per budget (HELM style): per task × objective a normalised score and a win rate, then cross-task means.

Within task × objective only cells at the reference setting (the (n, steps) with the most records) are ranked, one
cell per method label and budget (the one with the most seeds, then the newest). Normalised score: 0 = ``none``,
1 = the best method at that budget (direction from the main metric's higher_is_better); win rate: fraction of the other
methods whose mean it beats (ties count half). A method is flagged on naturalness when one of the objective's
naturalness metrics is significantly worse than ``none``'s (paired comparison on matched seeds).

Cross-task standings rank by mean win rate (HELM's headline), then by mean normalised score. A method that has no
score in a task × objective at a budget because even one chain exceeds the cap (``over_budget_min``) forfeits it:
win rate 0 there, counted in its task × objectives. Normalised scores below −1 (worse than ``none`` by more than the
best method's gain, e.g. a method that left the data) count as −1 in the mean, so one catastrophic cell cannot
outweigh every other task.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from bench import stats
from bench.report.frame import Cell, Frame, budget_x

BASELINE, REFERENCE = "none", "best-of-n"


@dataclass(frozen=True)
class Entry:
    """One method's standing in one task × objective at one budget."""

    task: str
    objective: str
    budget: str
    method: str
    cell: Cell
    value: float
    norm: float
    win_rate: float
    vs_reference: stats.Comparison | None  # against best-of-n at the same budget
    natural_worse: tuple[str, ...]  # naturalness metrics significantly worse than none's


@dataclass(frozen=True)
class Standing:
    """Cross-task means of one method at one budget."""

    method: str
    norm: float
    win_rate: float
    tasks: int  # task × objectives counted, forfeits included
    natural_flags: int  # task × objectives where it is flagged
    forfeits: int = 0  # task × objectives where it was over_budget_min at this budget


def compare(a: Cell, b: Cell, metric: str) -> stats.Comparison:
    """Paired comparison A - B on matched seeds (nested when both have per-sample values)."""
    hib = a.info(metric).higher_is_better
    sa, sb = a.sample_values(metric), b.sample_values(metric)
    if sa is not None and sb is not None:
        return stats.paired_nested(sa, sb, hib)
    return stats.paired_seeds(a.seed_values(metric), b.seed_values(metric), hib)


def reference_setting(cells: list[Cell]) -> tuple[int, int]:
    """(n, steps) with the most records (ties: larger n, then more steps)."""
    counts = Counter((c.key.n, c.key.steps) for c in cells for _ in c.records)
    return max(counts, key=lambda s: (counts[s], s))


def ranked_cells(cells: list[Cell]) -> dict[str, dict[str, Cell]]:
    """budget -> method label -> the cell ranked for it (reference setting, most seeds, then the newest)."""
    setting = reference_setting(cells)
    out: dict[str, dict[str, Cell]] = {}
    for c in sorted(cells, key=lambda c: (len(c.records), c.position, c.key)):
        if (c.key.n, c.key.steps) == setting:
            out.setdefault(c.key.budget, {})[c.key.method] = c
    return dict(sorted(out.items(), key=lambda kv: budget_x(kv[0])))


def _oriented(cell: Cell) -> float:
    value = cell.interval(cell.main).mean
    return value if cell.info(cell.main).higher_is_better else -value


def _baseline(by_budget: dict[str, dict[str, Cell]], budget: str) -> Cell | None:
    if BASELINE in by_budget[budget]:
        return by_budget[budget][BASELINE]
    return next((b[BASELINE] for b in by_budget.values() if BASELINE in b), None)  # lowest budget: none is flat


def _natural_worse(cell: Cell, base: Cell | None) -> tuple[str, ...]:
    if base is None or cell is base:
        return ()
    return tuple(m for m in cell.objective.naturalness if m in cell.metrics and m in base.metrics
                 and compare(cell, base, m).outcome == "loss")


def _entries_at(cells: dict[str, Cell], base: Cell | None) -> list[Entry]:
    oriented = {m: _oriented(c) for m, c in sorted(cells.items())}
    finite = {m: v for m, v in oriented.items() if np.isfinite(v)}
    best = max(finite.values(), default=float("nan"))
    zero = _oriented(base) if base is not None else float("nan")
    span = best - zero
    ref = cells.get(REFERENCE)
    out = []
    for m, c in sorted(cells.items()):
        v = oriented[m]
        others = [w for k, w in finite.items() if k != m]
        win = (sum((v > w) + 0.5 * (v == w) for w in others) / len(others)) if others and np.isfinite(v) \
            else float("nan")
        norm = (v - zero) / span if np.isfinite(span) and span > 0 else float("nan")
        vs = compare(c, ref, c.main) if ref is not None and c is not ref else None
        out.append(Entry(c.key.task, c.key.objective, c.key.budget, m, c, c.interval(c.main).mean, norm, win, vs,
                         _natural_worse(c, base)))
    return out


def entries(frame: Frame) -> list[Entry]:
    """Every ranked entry, sorted by task, objective, budget, method."""
    out: list[Entry] = []
    for _, cells in frame.groups().items():
        by_budget = ranked_cells(cells)
        for budget, at in by_budget.items():
            out += _entries_at(at, _baseline(by_budget, budget))
    return out


NORM_FLOOR = -1.0  # normalised scores below this count as this in the cross-task mean


def forfeits(frame: Frame, all_entries: list[Entry]) -> dict[str, dict[str, set[tuple[str, str]]]]:
    """budget -> method -> task × objectives where the method was ``over_budget_min`` (and has no score)."""
    scored = {(e.budget, e.method, e.task, e.objective) for e in all_entries}
    ranked_budgets = {(e.task, e.objective, e.budget) for e in all_entries}
    out: dict[str, dict[str, set[tuple[str, str]]]] = {}
    for r in frame.unscored:
        key = (r["task"], r["objective"], r["budget"]["name"])
        if r.get("status") == "over_budget_min" and key in ranked_budgets \
                and (key[2], r["method"], key[0], key[1]) not in scored:
            out.setdefault(key[2], {}).setdefault(r["method"], set()).add(key[:2])
    return out


def standings(all_entries: list[Entry], lost: dict[str, dict[str, set[tuple[str, str]]]] | None = None
              ) -> dict[str, list[Standing]]:
    """budget -> methods by mean win rate (forfeits count 0), then mean normalised score (floored at −1)."""
    lost = lost or {}
    out: dict[str, list[Standing]] = {}
    for budget in sorted({e.budget for e in all_entries}, key=budget_x):
        at = [e for e in all_entries if e.budget == budget]
        rows = []
        for m in sorted({e.method for e in at} | set(lost.get(budget, {}))):
            mine = [e for e in at if e.method == m]
            gone = len(lost.get(budget, {}).get(m, ()))
            norms = [max(NORM_FLOOR, e.norm) for e in mine if np.isfinite(e.norm)]
            wins = [e.win_rate for e in mine if np.isfinite(e.win_rate)] + [0.0] * gone
            rows.append(Standing(m, float(np.mean(norms)) if norms else float("nan"),
                                 float(np.mean(wins)) if wins else float("nan"), len(mine) + gone,
                                 sum(bool(e.natural_worse) for e in mine), gone))
        out[budget] = sorted(rows, key=lambda s: (-np.nan_to_num(s.win_rate, nan=-np.inf),
                                                  -np.nan_to_num(s.norm, nan=-np.inf), s.method))
    return out


@dataclass(frozen=True)
class Best:
    """The top entry of one task × objective × budget and the methods with exactly the same mean."""

    entry: Entry
    tied: tuple[str, ...]


def best_per_task(all_entries: list[Entry]) -> list[Best]:
    """The top entry (highest oriented main metric) of each task × objective × budget, with exact ties."""
    groups: dict[tuple[str, str, float], list[Entry]] = {}
    for e in all_entries:
        if np.isfinite(_oriented(e.cell)):
            groups.setdefault((e.task, e.objective, budget_x(e.budget)), []).append(e)
    out = []
    for k in sorted(groups):
        top = max(_oriented(e.cell) for e in groups[k])
        best = [e for e in groups[k] if _oriented(e.cell) == top]  # sorted by method already
        out.append(Best(best[0], tuple(e.method for e in best[1:])))
    return out
