"""The report's figures per task × objective: reward vs compute (with intervals), reward vs naturalness (Pareto)
and proxy vs oracle. Colours come from ``bench.plots.method_color`` so a method looks the same everywhere."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from bench import plots
from bench.report.frame import Cell
from bench.report.ranking import ranked_cells

MAX_PANELS = 6  # naturalness panels in the Pareto figure (3 per row)


def fig_stem(task: str, objective: str) -> str:
    return f"{task}_{objective}".replace("=", "-")


def _err(cell: Cell, metric: str) -> tuple[float, float, float]:
    iv = cell.interval(metric)
    if not iv.has_interval:
        return iv.mean, 0.0, 0.0
    return iv.mean, max(0.0, iv.mean - iv.lo), max(0.0, iv.hi - iv.mean)


def _by_method(cells: list[Cell]) -> dict[str, list[Cell]]:
    out: dict[str, list[Cell]] = {}
    for at in ranked_cells(cells).values():
        for m, c in at.items():
            out.setdefault(m, []).append(c)
    return dict(sorted(out.items()))


def compute_curve(cells: list[Cell], path: Path, title: str) -> Path:
    """Main metric against forward-equivalents per returned sample (log x), 95% intervals as error bars."""
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    main = cells[0].main
    for m, cs in _by_method(cells).items():
        cs = sorted(cs, key=lambda c: c.cost)
        pts = np.array([_err(c, main) for c in cs])  # (k, 3) mean, below, above
        ax.errorbar([c.cost for c in cs], pts[:, 0], yerr=pts[:, 1:].T, marker=plots.method_marker(m), capsize=3,
                    color=plots.method_color(m), label=m)
    ax.set_xscale("log")
    ax.set(xlabel="forward-equivalents per returned sample", ylabel=cells[0].info(main).display, title=title)
    ax.legend(fontsize=7, ncol=2)
    return plots.save(fig, path)


def _front(points: list[tuple[float, float]], hib_x: bool, hib_y: bool) -> list[tuple[float, float]]:
    """Non-dominated points (both axes oriented so that larger is better), sorted by x."""
    sx, sy = (1 if hib_x else -1), (1 if hib_y else -1)
    keep = [p for p in points if not any(sx * q[0] >= sx * p[0] and sy * q[1] >= sy * p[1] and q != p
                                         for q in points)]
    return sorted(set(keep))


def _mean_of(metric: str) -> Callable[[Cell], float]:
    return lambda c: c.interval(metric).mean


def _scatter(ax, cells: list[Cell], fx: Callable[[Cell], float], fy: Callable[[Cell], float]
             ) -> list[tuple[float, float]]:
    """One point per ranked cell (colour per method, budget annotated); returns the finite points."""
    pts = []
    for m, cs in _by_method(cells).items():
        xs, ys = [fx(c) for c in cs], [fy(c) for c in cs]
        ax.scatter(xs, ys, color=plots.method_color(m), marker=plots.method_marker(m), label=m, s=28)
        for c, x, y in zip(cs, xs, ys):
            ax.annotate(c.key.budget, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        pts += [(x, y) for x, y in zip(xs, ys) if np.isfinite(x) and np.isfinite(y)]
    return pts


def pareto(cells: list[Cell], path: Path, title: str) -> Path | None:
    """Main metric against each naturalness metric (one panel each), the Pareto front dashed; None without
    declared naturalness metrics."""
    main = cells[0].main
    natural = [m for m in cells[0].objective.naturalness if any(m in c.metrics for c in cells)][:MAX_PANELS]
    if not natural:
        return None
    plt = plots.pyplot()
    cols = min(3, len(natural))
    rows = -(-len(natural) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat[len(natural):]:
        ax.set_axis_off()
    for ax, nat in zip(axes.flat, natural):
        pts = _scatter(ax, cells, _mean_of(nat), _mean_of(main))
        front = _front(pts, cells[0].info(nat).higher_is_better, cells[0].info(main).higher_is_better)
        if front:
            ax.plot(*zip(*front), color="black", linestyle="--", linewidth=0.8)
        ax.set(xlabel=cells[0].info(nat).display, ylabel=cells[0].info(main).display)
    axes.flat[0].legend(fontsize=6, ncol=2)
    return plots.save(fig, path, title=title)


def proxy_oracle(cells: list[Cell], path: Path, title: str) -> Path | None:
    """Oracle reward against the proxy reward the methods optimised, both per-sample means from the rows (y = x
    dashed); records without rows fall back to the main metric against the proxy metric. None without a proxy."""
    if not any("proxy" in c.metrics for c in cells):
        return None
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    from_rows = all(np.isfinite(c.row_mean("oracle")) for c in cells)
    if from_rows:
        pts = _scatter(ax, cells, lambda c: c.row_mean("proxy"), lambda c: c.row_mean("oracle"))
        if pts:
            lo, hi = min(min(p) for p in pts), max(max(p) for p in pts)
            ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=0.8)
        ylabel = "oracle reward (mean over valid samples)"
    else:
        _scatter(ax, cells, _mean_of("proxy"), _mean_of(cells[0].main))
        ylabel = cells[0].info(cells[0].main).display
    note = {True: " (proxy is the oracle)", False: " (learned proxy)", None: ""}[cells[0].objective.exact_proxy]
    ax.set(xlabel="proxy reward (mean)", ylabel=ylabel, title=title + note)
    ax.legend(fontsize=6, ncol=2)
    return plots.save(fig, path)


def task_figures(cells: list[Cell], fig_dir: Path) -> dict[str, Path]:
    """kind ("compute", "pareto", "proxy") -> written figure of one task × objective."""
    task, obj = cells[0].key.task, cells[0].key.objective
    stem, title = fig_stem(task, obj), f"{task} / {obj}"
    out = {"compute": compute_curve(cells, fig_dir / f"{stem}.png", title)}
    for kind, fn in (("pareto", pareto), ("proxy", proxy_oracle)):
        p = fn(cells, fig_dir / f"{stem}_{kind}.png", title)
        if p is not None:
            out[kind] = p
    return out
