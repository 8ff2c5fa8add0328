"""Sample figures for the report: each task draws a few of its samples (``Task.sample_figure``), one figure per
method × budget at the lowest seed, read back from the per-sample files the runs stored.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bench import registry
from bench.records import read_samples

log = logging.getLogger(__name__)


def method_label(rec: dict[str, Any]) -> str:
    """``method`` or ``method[k=v,...]`` when the record ran with --set overrides."""
    over = rec.get("overrides") or {}
    return rec["method"] + (f"[{','.join(f'{k}={v}' for k, v in sorted(over.items()))}]" if over else "")


def _task_class(name: str) -> Any | None:
    try:
        return registry.tasks().get(name)
    except (registry.UnknownName, ImportError) as err:  # records of a task this checkout cannot import
        log.warning("no sample figures for task %r: %s", name, err)
        return None


def sample_figures(records: list[dict[str, Any]], root: Path, fig_dir: Path) -> list[tuple[str, Path]]:
    """(label, figure path) per method × budget of ``records`` (one task and objective), lowest seed, latest
    ok record. Tasks without a figure hook give an empty list."""
    if not records:
        return []
    cls = _task_class(records[0]["task"])
    if cls is None:
        return []
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:  # later records of a cell replace earlier ones; a lower seed replaces a higher one
        key = (method_label(rec), rec["budget"]["name"])
        if rec.get("status") == "ok" and (key not in chosen or rec["seed"] <= chosen[key]["seed"]):
            chosen[key] = rec
    out = []
    for (label, budget), rec in sorted(chosen.items()):
        rows = read_samples(rec, root)
        if rows is None:
            continue
        name = f"{rec['task']}_{rec['objective']}_{label}_{budget}_s{rec['seed']}".replace("=", "-")
        name = "".join(c if c.isalnum() or c in "-_.," else "_" for c in name) + ".png"
        m = rec["metrics"].get(rec["main_metric"])
        title = f"{label} {budget} seed {rec['seed']}: {rec['main_metric']}={m:.3g}" if m is not None else label
        path = cls.sample_figure(rows, fig_dir / name, title)
        if path is not None:
            out.append((f"{label} {budget}", Path(path)))
    return out
