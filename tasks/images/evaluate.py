"""Batch evaluation of the images task: oracle accuracy, proxy accuracy and the gap, FID, diversity, PNG size."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from bench.task import Objective
from tasks.images.data import to_uint8
from tasks.images.metrics import OracleFeatures, diversity, fid
from tasks.images.objectives import _targets, label_targets, png_bytes, quantize, worst_png_bytes


def _num(v: float) -> float | None:
    """JSON-able float (None for NaN)."""
    return None if v is None or math.isnan(v) else float(v)


def _group_metric(keys: np.ndarray, fn) -> float:
    """Sample-weighted mean of ``fn(key, mask)`` over groups with at least two members (NaN if none)."""
    vals, weights = [], []
    for k in np.unique(keys):
        mask = keys == k
        if mask.sum() >= 2:
            vals.append(fn(k, mask))
            weights.append(mask.sum())
    return float(np.average(vals, weights=weights)) if vals else float("nan")


@torch.no_grad()
def evaluate_batch(task: Any, objective: Objective, x0: torch.Tensor,
                   instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Metrics dict and per-sample rows for a finished batch x0 (N, 1, 28, 28) with instance ids (N,)."""
    x0, instance = x0.to(task.device).float(), instance.to(task.device)
    valid = torch.isfinite(x0.flatten(1)).all(1)  # (N,)
    xq = quantize(torch.where(valid[:, None, None, None], x0, torch.zeros_like(x0)))  # (N, 1, 28, 28)
    proxy = objective.proxy(xq, instance).cpu()  # (N,)
    oracle = objective.oracle(x0, instance).cpu()  # (N,)
    probs = torch.softmax(task.oracle(xq), dim=1).cpu()  # (N, 10)
    guide_pred = task.guide(xq).argmax(1).cpu()  # (N,)
    feats = OracleFeatures(task.oracle)(xq).cpu()  # (N, 64)
    ok = valid.cpu().numpy()
    sizes = np.where(ok, png_bytes(to_uint8(xq)), worst_png_bytes())  # (N,) invalid = incompressible
    hit = torch.nan_to_num(oracle, nan=0.0)  # (N,) an invalid sample is a miss
    metrics: dict[str, float] = {"invalid_frac": float(1 - ok.mean()),
                                 "oracle_conf": float(probs.max(1).values[ok].mean()) if ok.any() else math.nan,
                                 "png_bytes": float(sizes.mean())}
    targets = label_targets(objective.name)
    if targets is not None:
        tgt = _targets(targets, instance).cpu()  # (N,)
        keys = tgt.numpy().copy()
        keys[~ok] = -1
        metrics.update(oracle_acc=float(hit.mean()),
                       proxy_acc=float(((guide_pred == tgt) & torch.from_numpy(ok)).float().mean()),
                       proxy_logp=float(proxy[ok].mean()) if ok.any() else math.nan)
        metrics["proxy_oracle_gap"] = metrics["proxy_acc"] - metrics["oracle_acc"]
    else:
        tgt, keys = None, np.where(ok, 0, -1)
    ref_key = (lambda k: str(int(k))) if targets is not None else (lambda k: "all")
    xq_cpu = xq.cpu()
    feat_mod = OracleFeatures(task.oracle)
    metrics["fid"] = _group_metric(keys[keys >= 0], lambda k, m: fid(
        feat_mod, task.ref[ref_key(k)], xq[torch.from_numpy(np.flatnonzero(ok)[m]).to(xq.device)]))
    metrics["diversity"] = _group_metric(keys[keys >= 0], lambda k, m: diversity(feats[np.flatnonzero(ok)[m]]))
    rows = []
    for j in range(len(x0)):
        good = bool(ok[j])
        rows.append({"instance": int(instance[j]), "target": None if tgt is None else int(tgt[j]),
                     "png_b64": task.png_b64(to_uint8(xq_cpu[j:j + 1])[0]) if good else None,
                     "proxy": _num(float(proxy[j])), "oracle": _num(float(oracle[j])),
                     **({} if tgt is None else {"oracle_acc": float(hit[j])}),
                     "oracle_pred": int(probs[j].argmax()), "guide_pred": int(guide_pred[j]),
                     "oracle_conf": float(probs[j].max()), "png_bytes": int(sizes[j])})
    return metrics, rows
