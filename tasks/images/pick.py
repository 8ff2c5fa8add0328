"""Choosing a continued run's unet among its EMA snapshots (``--part pick``), without the test set.

A run saves the EMA weights at every probe (``train/unet/snapshots/step<k>.pt``), and FID along a run is far from
monotone (the images continuation of issue 11 scored 131.0, 66.9 and 76.4 at steps 3k, 5k and 10k at seed 0 while
its validation loss fell at every probe), and one n = 1000 FID moves by tens of points between sampler seeds (66.9
and 93.3 for one snapshot at seeds 0 and 1). ``pick`` scores every snapshot by FID against the oracle features of
the **train** images at sampler seed ``PICK_SEED`` = 1 (one seed for all: the same noise drives every snapshot, so
their order is what the seed leaves), installs the lowest as ``weights/unet.pt``, measures the unet's card entry
(FID against the **test** images at seed 0, the number the card and the bar use; once per shipped unet, keyed by
its sha256) and re-renders the card. The choice never sees the test set or the card's seed, so the card's number
is not the minimum of the numbers the choice was made on.

Scores are appended to ``train/unet/pick_scores.jsonl`` and reused: an interrupted pick resumes where it stopped.
"""
from __future__ import annotations

import csv
import json
import logging
import re
import shutil
from pathlib import Path

import torch

from bench.diffusion.ancestral import sample_unguided
from bench.train.recipes import RunDirs
from bench.weights import sha256, write_manifest
from tasks.images import data
from tasks.images.card import N_SAMPLES, STEPS, Scorer, oracle_features, render_card, sample_quality
from tasks.images.metrics import feature_stats, fid
from tasks.images.models import build_net, load_net, unguided_family
from tasks.images.objectives import quantize

log = logging.getLogger(__name__)

PICK_SEED = 1  # sampler seed of the choice (the card measures at seed 0)


def snapshots(runs: RunDirs) -> dict[int, Path]:
    """The unet's EMA snapshots of a run folder by step, in step order."""
    found = {int(m.group(1)): p for p in (runs.train("unet") / "snapshots").glob("step*.pt")
             if (m := re.fullmatch(r"step(\d+)\.pt", p.name))}
    return dict(sorted(found.items()))


def train_reference(weights: Path) -> dict:
    """Oracle-feature statistics of the 60,000 train images (the choice's reference; the card's is the test set)."""
    xtr, _ = data.load_split("train")
    return feature_stats(oracle_features(load_net(weights, "oracle"), data.to_model(xtr)))  # (60000, 64) feats


def score(blob: dict, sc: Scorer, ref: dict, n: int, steps: int, seed: int) -> dict[str, float]:
    """FID of ``n`` unguided samples (``steps``, sampler ``seed``) of the unet in ``blob`` against ``ref`` (the
    choice's) and against the test images (``fid_test``: shown beside the card's seed-0 number, never chosen on)."""
    x = quantize(sample_unguided(unguided_family(build_net("unet", blob)), n, steps, seed=seed, batch=128))
    return {"fid_train": round(fid(sc.feat, ref, x), 3), "fid_test": round(fid(sc.feat, sc.ref["all"], x), 3)}


def _scores(path: Path, n: int, steps: int) -> dict[int, dict[str, float]]:
    """The cached scores of ``n`` samples at ``steps`` by step (rows of other settings are ignored)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return {r["step"]: {k: r[k] for k in ("fid_train", "fid_test")} for r in rows
            if (r["seed"], r["n"], r["steps"]) == (PICK_SEED, n, steps)}


def pick(run: Path, n: int = N_SAMPLES, steps: int = STEPS, seed: int = 0, quick: bool = False) -> int:
    """Score every snapshot of ``run`` (resuming), install the best as its ``weights/unet.pt``, re-measure the
    unet's card entry and re-render the card (``seed``, ``quick``: the run's, as the card states them); returns
    the chosen step."""
    runs = RunDirs(Path(run))
    snaps = snapshots(runs)
    if not snaps:
        raise FileNotFoundError(f"{runs.train('unet') / 'snapshots'}: no step<k>.pt snapshots to pick from")
    missing = [f for f in ("quality.json", "train_log.json") if not (runs.weights / f).exists()]
    if missing:
        raise FileNotFoundError(f"{runs.weights}: no {', '.join(missing)}; pick follows the card "
                                "(--part ...,card,pick)")
    sc, ref, cache = Scorer.load(runs.weights), None, runs.train("unet") / "pick_scores.jsonl"
    for step, path in snaps.items():
        if step in _scores(cache, n, steps):
            continue
        ref = ref if ref is not None else train_reference(runs.weights)
        values = score(torch.load(path, weights_only=True), sc, ref, n, steps, PICK_SEED)
        log.info("pick: step %d FID at seed %d: %s", step, PICK_SEED, values)
        with cache.open("a") as fh:
            fh.write(json.dumps({"step": step, "seed": PICK_SEED, "n": n, "steps": steps, **values}) + "\n")
    done = _scores(cache, n, steps)
    best = min(snaps, key=lambda k: (done[k]["fid_train"], k))
    shutil.copyfile(snaps[best], runs.weights / "unet.pt")
    _record(runs.weights, best, {k: done[k] for k in snaps}, n, steps, _val_loss(runs, best))
    write_manifest(runs.weights)
    quality, sha = json.loads((runs.weights / "quality.json").read_text()), sha256(runs.weights / "unet.pt")
    if quality.get("unet", {}).get("weights_sha256") != sha:  # measured once per shipped unet (a rerun keeps the bytes)
        quality["unet"] = {**sample_quality(runs.weights, "unet", n, steps, Scorer.load(runs.weights)),
                           "weights_sha256": sha}
        (runs.weights / "quality.json").write_text(json.dumps(quality, indent=2, sort_keys=True) + "\n")
        write_manifest(runs.weights)
    render_card(runs.weights, seed, quick)
    return best


def _val_loss(runs: RunDirs, step: int) -> float | None:
    """The run's validation-loss probe at ``step`` (``train/unet/log.csv``), None when it was not probed there."""
    with (runs.train("unet") / "log.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["name"] == "val_loss" and int(r["step"]) == step]
    return float(rows[-1]["value"]) if rows else None


def _record(weights: Path, step: int, scores: dict[int, dict[str, float]], n: int, steps: int,
            val_loss: float | None) -> None:
    """Write the choice into ``train_log.json`` (the card shows it)."""
    path = weights / "train_log.json"
    logs = json.loads(path.read_text())
    logs["unet"]["picked"] = {"step": step, "seed": PICK_SEED, "n": n, "steps": steps, "reference": "train images",
                              "val_loss": val_loss,
                              **{m: {str(k): v[m] for k, v in scores.items()} for m in ("fid_train", "fid_test")}}
    path.write_text(json.dumps(logs, indent=2, sort_keys=True) + "\n")
