"""Records -> cells: the typed view of stored records that every part of the report reads.

A cell is keyed by task, objective, method label (method + ``--set`` overrides), config hash, budget, n and steps,
so runs of different n or steps are never averaged together. Within a cell the latest record of each seed wins.
Old records without ``metric_meta`` / ``objective_meta`` / ``usage.cost_per_sample`` fall back to the task's
declared metrics (set-level, not naturalness) and to nfe_equiv / n (then nfe / n) as the compute axis.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bench import stats
from bench.gallery import method_label
from bench.records import read_samples

log = logging.getLogger(__name__)


OLD_NATURALNESS = frozenset({"validity", "fcd", "fid", "diversity"})  # + music's oa_* (overlapping areas)


@dataclass(frozen=True, order=True)
class CellKey:
    """What a cell is: every field that must match before two records are pooled."""

    task: str
    objective: str
    budget_x: float
    method: str  # label: method or method[k=v,...]
    n: int
    steps: int
    config_hash: str
    budget: str


@dataclass(frozen=True)
class MetricInfo:
    """Metadata of one metric (``rec["metric_meta"]``, else the task's declared metrics)."""

    display: str
    higher_is_better: bool = True
    per_sample: bool = False
    naturalness: bool = False


@dataclass(frozen=True)
class ObjectiveInfo:
    """``rec["objective_meta"]``: whether the proxy is the oracle, the target λ, the naturalness metrics."""

    exact_proxy: bool | None = None
    target_lam: float | None = None
    naturalness: tuple[str, ...] = ()


def budget_x(name: str) -> float:
    try:
        return float(str(name).lower().rstrip("x"))
    except ValueError:
        return float("nan")


def cost_per_sample(rec: dict[str, Any]) -> float:
    """Forward-equivalents per returned sample: usage.cost_per_sample, else nfe_equiv / n, else nfe / n."""
    usage, n = rec.get("usage") or {}, max(1, int(rec.get("n_samples") or rec.get("n") or 1))
    if usage.get("cost_per_sample") is not None:
        return float(usage["cost_per_sample"])
    for field_name in ("cost", "nfe_equiv", "nfe"):
        if usage.get(field_name) is not None:
            return float(usage[field_name]) / n
    return float("nan")


def key_of(rec: dict[str, Any]) -> CellKey:
    b = rec["budget"]["name"]
    return CellKey(rec["task"], rec["objective"], budget_x(b), method_label(rec), int(rec.get("n") or
                   rec.get("n_samples") or 0), int(rec.get("steps") or 0), rec.get("config_hash", ""), b)


def _task_metrics(task: str) -> dict[str, Any]:
    from bench import registry
    try:
        return dict(getattr(registry.tasks().get(task), "metrics", {}) or {})
    except (registry.UnknownName, ImportError) as err:
        log.warning("task %r not importable, metric metadata defaults apply: %s", task, err)
        return {}


def _old_natural(name: str) -> bool:
    return name in OLD_NATURALNESS or (name.startswith("oa_") and not name.endswith("_std"))


def metric_info(rec: dict[str, Any], name: str) -> MetricInfo:
    """The record's ``metric_meta`` entry. A metric the record does not describe takes display and direction from
    the task's current declaration; it is set-level (older rows never carried metric values) and counts as
    naturalness by the conventional names (``OLD_NATURALNESS``, music's ``oa_*``)."""
    meta = (rec.get("metric_meta") or {}).get(name)
    if meta:
        return MetricInfo(meta.get("display", name), bool(meta.get("higher_is_better", True)),
                          bool(meta.get("per_sample", False)), bool(meta.get("naturalness", False)))
    from bench.runner import HARNESS_METRICS
    declared = _task_metrics(rec["task"]).get(name) or HARNESS_METRICS.get(name)
    if declared is None:
        return MetricInfo(name, naturalness=_old_natural(name))
    return MetricInfo(declared.display, bool(declared.higher_is_better), False, _old_natural(name))


def objective_info(rec: dict[str, Any]) -> ObjectiveInfo:
    """``objective_meta`` (naturalness from it, else from metric_meta); records older than both name their
    naturalness metrics by the conventional names in ``OLD_NATURALNESS``."""
    meta = rec.get("objective_meta")
    if meta is None and rec.get("metric_meta") is None:
        names = (rec.get("metrics") or {}).keys()
        return ObjectiveInfo(None, None, tuple(sorted(m for m in names if _old_natural(m))))
    meta = meta or {}
    natural = tuple(meta.get("naturalness") or ()) or tuple(
        sorted(k for k, v in (rec.get("metric_meta") or {}).items() if v.get("naturalness")))
    return ObjectiveInfo(meta.get("exact_proxy"), meta.get("target_lam"), natural)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


@dataclass
class Cell:
    """The records of one cell (one per seed, sorted by seed) and the statistics derived from them."""

    key: CellKey
    records: list[dict[str, Any]]
    root: Path
    position: int = 0  # input position of its newest record (records are appended, so later = newer)
    _samples: dict[int, list[dict[str, Any]] | None] = field(default_factory=dict, repr=False)
    _intervals: dict[str, stats.Interval] = field(default_factory=dict, repr=False)

    @property
    def method(self) -> str:
        return self.records[0]["method"]

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.records]

    @property
    def main(self) -> str:
        return self.records[-1].get("main_metric") or "value"

    @cached_property
    def reduces_to(self) -> str | None:
        """The method this cell's sized config ran as when that is another one (``Method.reduces_to``: best-of-n
        with N = 1 is `none`); None when it is itself or when this checkout cannot rebuild the config."""
        from bench import registry

        rec = self.records[-1]
        try:
            method = registry.methods().get(rec["method"])
            cfg = method.config(**(rec.get("config") or {}))
        except (registry.UnknownName, ImportError, ValueError, TypeError) as err:
            log.warning("%s: cannot rebuild the config of %s (%s); not checked for reduction", self.key.task,
                        rec["method"], err)
            return None
        same = method.reduces_to(cfg, int(rec["steps"]), int((rec.get("budget") or {}).get("chains") or 1))
        base = rec.get("base")  # on a quality-guided base, "none" is that guidance alone
        if same is None or not base:
            return same
        return base if same == "none" else f"{same} on {base}"

    @cached_property
    def cost(self) -> float:
        return float(np.nanmean([cost_per_sample(r) for r in self.records]))

    @cached_property
    def metrics(self) -> list[str]:
        names = {m for r in self.records for m, v in (r.get("metrics") or {}).items() if isinstance(v, (int, float))}
        return sorted(names)

    def info(self, metric: str) -> MetricInfo:
        return metric_info(self.records[-1], metric)

    @property
    def objective(self) -> ObjectiveInfo:
        return objective_info(self.records[-1])

    def seed_values(self, metric: str) -> dict[int, float]:
        return {r["seed"]: _num((r.get("metrics") or {}).get(metric)) for r in self.records}

    def rows(self, seed: int) -> list[dict[str, Any]] | None:
        if seed not in self._samples:
            rec = next(r for r in self.records if r["seed"] == seed)
            self._samples[seed] = read_samples(rec, self.root)
        return self._samples[seed]

    def row_values(self, key: str) -> dict[int, np.ndarray] | None:
        """Per-seed arrays of ``key`` in the per-sample rows, or None when a seed's file or the key is missing."""
        out = {}
        for seed in self.seeds:
            rows = self.rows(seed)
            if rows is None or not any(key in row for row in rows):
                return None
            out[seed] = np.array([_num(row.get(key)) for row in rows])
        return out

    def row_mean(self, key: str) -> float:
        """Mean over seeds of the per-seed mean of ``key`` in the rows (NaN rows skipped); NaN without rows."""
        vals = self.row_values(key)
        means = [float(np.nanmean(v)) for v in vals.values() if np.isfinite(v).any()] if vals else []
        return float(np.mean(means)) if means else float("nan")

    def sample_values(self, metric: str) -> dict[int, np.ndarray] | None:
        """Per-seed arrays of the metric's per-sample values, or None (set-level metric or a missing file)."""
        return self.row_values(metric) if self.info(metric).per_sample else None

    def interval(self, metric: str) -> stats.Interval:
        cache = self._intervals
        if metric not in cache:
            samples = self.sample_values(metric)
            cache[metric] = (stats.nested_interval([samples[s] for s in self.seeds]) if samples is not None
                             else replace(stats.seed_interval(list(self.seed_values(metric).values())),
                                         n=self.key.n))
        return cache[metric]


@dataclass
class Frame:
    """Scored cells (ok records) and the records that were not scored (any other status)."""

    cells: list[Cell]
    unscored: list[dict[str, Any]]

    def groups(self) -> dict[tuple[str, str], list[Cell]]:
        """task × objective -> its cells, sorted by key."""
        out: dict[tuple[str, str], list[Cell]] = {}
        for c in self.cells:
            out.setdefault((c.key.task, c.key.objective), []).append(c)
        return dict(sorted(out.items()))

    def budgets(self) -> list[str]:
        return sorted({c.key.budget for c in self.cells}, key=budget_x)

    def methods(self) -> list[str]:
        return sorted({c.method for c in self.cells})


def latest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest record of each (cell key, seed); file order is append order."""
    chosen: dict[tuple[CellKey, int], dict[str, Any]] = {}
    for rec in records:
        chosen[(key_of(rec), rec["seed"])] = rec
    return [chosen[k] for k in sorted(chosen)]


def build_frame(records: list[dict[str, Any]], root: Path) -> Frame:
    """Group the latest records into cells (ok) and the unscored list (every other status)."""
    recs = latest(records)
    position = {id(r): i for i, r in enumerate(records)}
    grouped: dict[CellKey, list[dict[str, Any]]] = {}
    for rec in recs:
        if rec.get("status") == "ok":
            grouped.setdefault(key_of(rec), []).append(rec)
    cells = [Cell(k, sorted(v, key=lambda r: r["seed"]), Path(root), max(position[id(r)] for r in v))
             for k, v in sorted(grouped.items())]
    unscored = [r for r in recs if r.get("status") != "ok"]
    return Frame(cells, unscored)
