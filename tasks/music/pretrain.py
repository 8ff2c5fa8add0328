"""`bench pretrain --task music`: train the piano-roll DDPM on the shared stack into a new run folder.

Stages: (1) parse the chorales into ``data/chorales_notes.npz`` if missing (music21); (2) train the v-network with
the Gaussian loss of ``bench.train`` (cosine schedule, v-space error) on transposed training windows, EMA, val-loss
probes; (3) the held-out targets ``data/test_targets.npz`` when missing (data, not model: never rewritten);
(4) sample the NEW model unguided, score rule losses and OA against the test excerpts, write the model card.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from bench.diffusion.schedules import gaussian_alphas_bar
from bench.train import Batcher, RunDirs, TrainConfig, fit, gaussian, plot_curves, seeded, summary, val_loss_probe
from bench.weights import write_manifest
from tasks.music import data as D
from tasks.music.models import save_denoiser
from tasks.music.net import NetConfig, RollDenoiser
from tasks.music.task import CLIP_X0

log = logging.getLogger(__name__)

STATS_FILE = "train_stats.json"
NET_CONFIG = NetConfig(dim=160, depth=5, heads=5, patch=2)
TARGET = "v"  # the loss space: the v-MSE (DESIGN_NOTES 44; the ε-MSE recipe to version 2 of the task)
RECIPE = TrainConfig(steps=6000, batch=64, lr=3e-4, warmup=200, lr_floor=0.1, weight_decay=0.01, clip=1.0,
                     ema=0.999, ckpt_every=250, probe_every=500)
QUICK = {"steps": 5, "warmup": 1, "log_every": 1}
OA_EVERY, OA_SAMPLES, OA_STEPS = 2000, 128, 100  # the quality probe: unguided OA / note-density loss on the curve
CARD_SAMPLES = 1000  # unguided samples the card scores (issue 11: at least 1000, at the default steps)


def _to_pm1(rows: tuple[torch.Tensor, ...], gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    return (rows[0].float() * 2 - 1,)  # (B, 2, 48, 64) bool -> {-1, 1}


def validation_rolls() -> torch.Tensor:
    """The validation windows (nearest key) in {-1, 1}, the training rows' scale. ``training_array`` is already
    ±1: rescaling it as if it were {0, 1} once fed the probe {-3, 1} rolls, so its val-loss curve was off-scale."""
    return torch.from_numpy(D.training_array("validation", augment=False))  # (M, 2, 48, 64)


def quality_probe(last: int, every: int = OA_EVERY, n_samples: int = OA_SAMPLES, steps: int = OA_STEPS):
    """Extra probe values every ``every`` steps and at ``last``: ``q_oa`` and ``q_nd_loss`` (note-density rule loss)
    of ``n_samples`` unguided samples of the probed (EMA) net, scored as the card scores them."""
    from tasks.music.card import task_with, unguided_metrics

    def extra(net: torch.nn.Module, step: int) -> dict[str, float]:
        if step % every and step != last:
            return {}
        m, _ = unguided_metrics(task_with(net), n_samples, steps, seed=0)
        return {"q_oa": m["oa"], "q_nd_loss": m["loss_note_density"]}
    return extra


def train(runs: RunDirs, seed: int = 0, quick: bool = False, device: str = "cpu", target: str = TARGET,
          steps: int | None = None, oa_every: int = OA_EVERY):
    """Train the denoiser; returns the training result and the stats the card prints. ``target``: the loss's
    space (the committed recipe's v-MSE; ``scripts/music_loss_target.py`` tries others), ``steps``: the recipe's
    unless given, ``oa_every``: steps between quality probes."""
    train_x = torch.from_numpy(D.training_array("train") > 0)  # (N, 2, 48, 64) bool
    val_x = validation_rolls()  # (M, 2, 48, 64) in {-1, 1}
    log.info("train windows (x12 keys): %d, validation windows: %d", len(train_x), len(val_x))
    cfg = RECIPE.with_(seed=seed, device=device, **({"steps": steps} if steps else {}), **(QUICK if quick else {}))
    with seeded(seed):
        net = RollDenoiser(NET_CONFIG)
    loss = gaussian(gaussian_alphas_bar("cosine"), target, prediction="v")  # a v-network (default: the v-MSE)
    extra = quality_probe(cfg.steps, oa_every, n_samples=4 if quick else OA_SAMPLES, steps=5 if quick else OA_STEPS)
    probe = val_loss_probe(loss, (val_x[:64] if quick else val_x,), batch=256, extra=extra)
    res = fit("denoiser", net, loss, Batcher((train_x,), cfg.batch, transform=_to_pm1), cfg,
              runs.train("denoiser"), probe)
    stats = {**summary(res, cfg), "train_windows": len(train_x), "val_loss_ema": res.last("val_loss"),
             "config": NET_CONFIG.to_dict(), "target": target, "probe_clip": CLIP_X0}
    return res, stats


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False, device: str = "cpu") -> Path:
    """Train into the run folder ``out_dir``; returns its ``weights/`` folder (weights, manifest, card)."""
    torch.set_num_threads(1)
    runs = RunDirs(Path(out_dir))
    if not D.NOTES_FILE.exists():
        from tasks.music.corpus import build_cache
        build_cache()
    res, stats = train(runs, seed, quick, device)
    save_denoiser(res.net, runs.weights)
    stats["quick"] = quick
    (runs.weights / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
    plot_curves({"denoiser": res}, runs.weights / "training_curves.png")
    card(runs.weights, seed, quick, device)
    return runs.weights


def card(folder: Path, seed: int = 0, quick: bool = False, device: str = "cpu") -> None:
    """Targets (when missing) and the model card of the model in ``folder``, from its weights and stats."""
    from tasks.music.card import write_card, write_targets
    from tasks.music.objectives import TARGETS_FILE

    torch.set_num_threads(1)
    if not Path(TARGETS_FILE).exists():
        write_targets()
    write_manifest(folder)
    stats = json.loads((Path(folder) / STATS_FILE).read_text())
    log_csv = Path(folder).parent / "train" / "denoiser" / "log.csv"  # a run folder's log (none beside committed)
    if log_csv.exists():
        from tasks.music.card import curve_rows
        stats["curve"] = curve_rows(log_csv)
        (Path(folder) / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
    write_card(folder, stats, seed, n_samples=8 if quick else CARD_SAMPLES, steps=10 if quick else 100, device=device)
    write_manifest(folder)


def main() -> None:
    """CLI: ``python -m tasks.music.pretrain --card-only --weights DIR`` redoes the card of a weights folder."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, required=True, help="a weights folder (committed or a run's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--card-only", action="store_true", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    card(args.weights, args.seed, args.quick)


if __name__ == "__main__":
    main()
