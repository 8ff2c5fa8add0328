"""Batch evaluation of the images task: oracle accuracy, proxy accuracy and the gap, FID, diversity, PNG size."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from bench.manifold import PRDC_KEYS
from bench.task import Objective
from tasks.images.data import to_uint8
from tasks.images.metrics import OracleFeatures, diversity, fid, manifold
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
    for name in PRDC_KEYS:  # against the same reference class as FID, sample-weighted over classes
        metrics[name] = _group_metric(keys[keys >= 0], lambda k, m, name=name: manifold(
            task.real_features[ref_key(k)], feats[np.flatnonzero(ok)[m]])[name])
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


@torch.no_grad()
def evaluate_inverse(task: Any, objective: Objective, x0: torch.Tensor,
                     instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Inverse problems: PSNR, SSIM, oracle-feature distance and class agreement against each sample's ground
    truth, the measurement residual in units of σ_y², set FID (vs all test images) and diversity."""
    from tasks.images import inverse

    x0, instance = x0.to(task.device).float(), instance.to(task.device)
    valid = torch.isfinite(x0.flatten(1)).all(1)  # (N,)
    xq = quantize(torch.where(valid[:, None, None, None], x0, torch.zeros_like(x0)))  # (N, 1, 28, 28)
    gt = inverse.ground_truth()[0].to(task.device)[instance.long() % inverse.N_GT]  # (N, 1, 28, 28)
    ok = valid.cpu()
    zero = torch.zeros(len(x0))
    psnr = torch.where(ok, inverse.psnr(xq, instance).cpu(), zero)  # (N,) an invalid sample scores 0
    ssim = torch.where(ok, inverse.ssim(xq, instance).cpu(), zero)  # (N,)
    feat_mod = OracleFeatures(task.oracle)
    f, f_gt = feat_mod(xq), feat_mod(gt)  # (N, 64)
    dist = (f - f_gt).norm(dim=1).cpu()  # (N,)
    pred = task.oracle(xq).argmax(1).cpu()  # (N,)
    agree = pred == task.oracle(gt).argmax(1).cpu()  # (N,)
    seen = inverse.seen(objective.name, instance).cpu()  # (N, 1, 28, 28) what the measurement shows
    resid = inverse.residual(objective.name, xq, instance).cpu()  # (N,)
    proxy = objective.proxy(torch.where(valid[:, None, None, None], xq, x0), instance).cpu()  # (N,) floor if invalid
    metrics = {"psnr": float(psnr.mean()), "ssim": float(ssim.mean()),
               "feat_dist": float(dist[ok].mean()) if ok.any() else math.nan,
               "class_agree": float((agree & ok).float().mean()),
               "meas_err": float(resid[ok].mean()) if ok.any() else math.nan,
               "invalid_frac": float(1 - ok.float().mean()),
               "fid": fid(feat_mod, task.ref["all"], xq[valid]) if int(ok.sum()) >= 2 else math.nan,
               "diversity": diversity(f.cpu()[ok]),
               **manifold(task.real_features["all"], f.cpu()[ok])}
    rows = [{"instance": int(instance[j]), "png_b64": task.png_b64(to_uint8(xq[j:j + 1].cpu())[0]) if ok[j] else None,
             "proxy": _num(float(proxy[j])), "oracle": float(psnr[j]), "psnr": float(psnr[j]),
             "ssim": float(ssim[j]), "feat_dist": float(dist[j]), "meas_err": _num(float(resid[j])),
             "oracle_pred": int(pred[j]), "truth_b64": task.png_b64(to_uint8(gt[j:j + 1].cpu())[0]),
             "measured_b64": task.png_b64(to_uint8(seen[j:j + 1])[0])}
            for j in range(len(x0))]
    return metrics, rows
