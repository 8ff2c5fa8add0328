"""Sample figures for the report: each task draws a few of its samples (``Task.sample_figure``), one figure per
report cell at its lowest seed, read back from the per-sample files the runs stored.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bench import registry
from bench.records import read_samples

log = logging.getLogger(__name__)


def method_label(rec: dict[str, Any]) -> str:
    """``method`` or ``method[k=v,...]`` when the record ran with --set overrides, then `` on <base>`` when it
    ran on a quality-guided base (``--base pag:3`` -> ``smc on pag:3``), then `` (eta=0)`` when it ran with a
    sampler stochasticity other than the task's (``--eta 0``: the deterministic ODE/DDIM)."""
    over = rec.get("overrides") or {}
    label = rec["method"] + (f"[{','.join(f'{k}={v}' for k, v in sorted(over.items()))}]" if over else "")
    return label + (f" on {rec['base']}" if rec.get("base") else "") + (f" (eta={rec['eta']:g})" if "eta" in rec
                                                                          else "")


def _task_class(name: str) -> Any | None:
    try:
        return registry.tasks().get(name)
    except (registry.UnknownName, ImportError) as err:  # records of a task this checkout cannot import
        log.warning("no sample figures for task %r: %s", name, err)
        return None


def figure_name(rec: dict[str, Any], suffix: str = "") -> str:
    """``<task>_<objective>_<label>_<budget>_s<seed><suffix>.png`` with unsafe characters replaced."""
    name = f"{rec['task']}_{rec['objective']}_{method_label(rec)}_{rec['budget']['name']}_s{rec['seed']}{suffix}"
    return "".join(c if c.isalnum() or c in "-_.," else "_" for c in name.replace("=", "-")) + ".png"


def record_figure(rec: dict[str, Any], root: Path, fig_dir: Path, suffix: str = "") -> Path | None:
    """Draw a few samples of one ok record through its task's ``sample_figure`` hook into ``fig_dir``; None when
    the task has no hook or cannot be imported, or the per-sample file is missing (logged)."""
    cls = _task_class(rec["task"])
    rows = read_samples(rec, root) if cls is not None else None
    if rows is None:
        if cls is not None:
            log.info("no per-sample file for %s (looked under %s)", rec.get("run_id"), root)
        return None
    m = rec["metrics"].get(rec["main_metric"])
    label = f"{method_label(rec)} {rec['budget']['name']}"
    title = f"{label} seed {rec['seed']}: {rec['main_metric']}={m:.3g}" if m is not None else label
    path = cls.sample_figure(rows, Path(fig_dir) / figure_name(rec, suffix), title)
    return Path(path) if path is not None else None
