"""Objective specs of the molecules task and their reward functions.

Specs: ``rings=<k>`` (RDKit ring count), ``logp=<v>`` (Crippen logP), ``gap=<v>`` (HOMO-LUMO gap in hartree,
QM9 DFT units), ``qed`` (maximise) and ``sa`` (minimise the SA score). Every reward is "higher is better":
targets score ``-|prop - target|``, ``qed`` scores QED and ``sa`` scores ``-SA``. Proxies give invalid samples
``floor``; oracles give NaN.

Main metric ``success``: the fraction of ALL samples that are valid and on target, i.e. whose oracle property is
within ``HIT_TOL`` of the target (rings: exact match; logP: ±0.25; gap: ±0.005 hartree), or QED >= 0.6, or
SA <= 2.5; an invalid molecule is a failure. ``quality`` (quality guidance; no target): the property is 1 for a
valid molecule, so success is validity, and the task's main metric for it is ``validity`` itself.
Beside it, per sample with invalid counted at the worst value:
``mae`` (targets; invalid error = ``WORST_ERR``: rings 10, logP 10, gap 1 hartree, the proxy floors' magnitudes,
beyond any QM9 molecule's error at in-range targets) and ``qed`` / ``sa`` (invalid = QED 0 / SA 10, the ends of
their ranges). ``mae_valid`` and ``prop_mean`` average over valid molecules only (informative, never ranked).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TARGET_KINDS = ("rings", "logp", "gap")
OPEN_KINDS = ("qed", "sa", "quality")
HIT_TOL = {"rings": 0.0, "logp": 0.25, "gap": 0.005}
QED_HIT, SA_HIT = 0.6, 2.5
FLOORS = {"rings": -10.0, "logp": -10.0, "gap": -1.0, "qed": -1.0, "sa": -11.0, "quality": 0.0}
PATTERNS = ["rings=<k>", "logp=<v>", "gap=<v>", "qed", "sa", "quality"]
WORST_ERR = {kind: -FLOORS[kind] for kind in TARGET_KINDS}  # |error| an invalid molecule counts as
WORST_OPEN = {"qed": 0.0, "sa": 10.0, "quality": 0.0}  # value of an invalid molecule (QED in [0, 1], SA in [1, 10])


@dataclass(frozen=True)
class Spec:
    """A parsed objective: property ``kind`` and optional ``target``."""

    kind: str
    target: float | None = None

    @property
    def name(self) -> str:
        if self.target is None:
            return self.kind
        value = int(self.target) if self.kind == "rings" else self.target
        return f"{self.kind}={value}"

    @property
    def floor(self) -> float:
        return FLOORS[self.kind]


def parse(spec: str) -> Spec:
    """Parse ``rings=3`` / ``logp=2.0`` / ``gap=0.25`` / ``qed`` / ``sa``; raise ValueError otherwise."""
    text = spec.strip().lower()
    if text in OPEN_KINDS:
        return Spec(text)
    kind, sep, value = text.partition("=")
    if not sep or kind not in TARGET_KINDS:
        raise ValueError(f"molecules has no objective {spec!r}; patterns: {PATTERNS}")
    try:
        target = float(value)
    except ValueError as err:
        raise ValueError(f"objective {spec!r}: target {value!r} is not a number") from err
    if not math.isfinite(target) or (kind == "rings" and (target < 0 or target != int(target))):
        raise ValueError(f"objective {spec!r}: bad target")
    return Spec(kind, target)


def score(spec: Spec, prop: np.ndarray) -> np.ndarray:
    """Higher-is-better score of raw property values (NaN stays NaN)."""
    if spec.target is not None:
        return -np.abs(prop - spec.target)
    return prop if spec.kind in ("qed", "quality") else -prop


def hits(spec: Spec, prop: np.ndarray) -> np.ndarray:
    """Boolean hit per sample (NaN -> False)."""
    with np.errstate(invalid="ignore"):
        if spec.target is not None:
            return np.abs(prop - spec.target) <= HIT_TOL[spec.kind] + 1e-9
        if spec.kind == "quality":
            return ~np.isnan(prop)
        return prop >= QED_HIT if spec.kind == "qed" else prop <= SA_HIT


def per_sample(spec: Spec, prop: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample objective metrics from oracle properties (NaN = invalid), invalid at the failure value:
    ``success`` (0/1) and ``mae`` (targets) or ``qed`` / ``sa`` (open objectives), each (N,) float64."""
    out = {"success": hits(spec, prop).astype(np.float64)}
    bad = np.isnan(prop)
    if spec.target is not None:
        out["mae"] = np.where(bad, WORST_ERR[spec.kind], np.abs(prop - spec.target))
    elif spec.kind != "quality":  # quality's per-sample score is success (validity) itself
        out[spec.kind] = np.where(bad, WORST_OPEN[spec.kind], prop)
    return out


def objective_metrics(spec: Spec, prop: np.ndarray) -> dict[str, float]:
    """Objective metrics: the means of ``per_sample``, plus ``prop_mean`` (and ``mae_valid``) over valid samples."""
    valid = prop[~np.isnan(prop)]
    out = {k: float(v.mean()) if len(v) else float("nan") for k, v in per_sample(spec, prop).items()}
    out["prop_mean"] = float(valid.mean()) if len(valid) else float("nan")
    if spec.target is not None:
        out["mae_valid"] = float(np.abs(valid - spec.target).mean()) if len(valid) else float("nan")
    return out
