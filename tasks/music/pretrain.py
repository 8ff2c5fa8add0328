"""`bench pretrain --task music`: train the piano-roll DDPM on CPU and write weights, manifest and model card.

Stages: (1) parse the chorales into ``data/chorales_notes.npz`` if missing (music21); (2) train the ε-network with
``bench.diffusion.training.gaussian_loss`` (cosine schedule) on transposed training windows, keeping an EMA;
(3) write the held-out targets ``data/test_targets.npz`` (rule values of the test excerpts, music21 for chords);
(4) sample unguided, score rule losses and OA against the test excerpts, and write ``weights/MODEL_CARD.md``.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from bench.diffusion.schedules import gaussian_alphas_bar
from bench.diffusion.training import gaussian_loss
from bench.weights import write_manifest
from tasks.music import data as D
from tasks.music.net import NetConfig, RollDenoiser, n_params

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHT_FILE = "denoiser.pt"
STATS_FILE = "train_stats.json"
NET_CONFIG = NetConfig(dim=160, depth=5, heads=5, patch=2)
STEPS, BATCH, LR, WARMUP, EMA = 2800, 64, 3e-4, 200, 0.999


def _lr(step: int, total: int) -> float:
    """Linear warmup then cosine decay to 10% of LR."""
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    frac = (step - WARMUP) / max(total - WARMUP, 1)
    return LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


@torch.no_grad()
def _val_loss(net: torch.nn.Module, val: torch.Tensor, abar: torch.Tensor, reps: int = 4) -> float:
    """Mean ε-MSE on the validation windows with fixed noise (seed 1234)."""
    gen = torch.Generator().manual_seed(1234)
    losses = [gaussian_loss(net, val[k:k + 256], abar, gen).item()
              for _ in range(reps) for k in range(0, len(val), 256)]
    return float(np.mean(losses))


def train(seed: int = 0, steps: int = STEPS) -> tuple[RollDenoiser, dict[str, float]]:
    """Train the denoiser; returns the EMA network and training stats."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train_x = torch.from_numpy(D.training_array("train") > 0)  # (N, 2, 48, 64) bool
    val_x = torch.from_numpy(D.training_array("validation", augment=False)) # (M, 2, 48, 64)
    log.info("train windows (x12 keys): %d, validation windows: %d", len(train_x), len(val_x))
    net = RollDenoiser(NET_CONFIG)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.01)
    abar = gaussian_alphas_bar("cosine")
    gen = torch.Generator().manual_seed(seed)
    t0, run = time.time(), 0.0
    for step in range(steps):
        idx = torch.randint(0, len(train_x), (BATCH,), generator=gen)
        x0 = train_x[idx].float() * 2 - 1  # (B, 2, 48, 64) in {-1, 1}
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps)
        loss = gaussian_loss(net, x0, abar, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - EMA)
        run = 0.98 * run + 0.02 * loss.item() if step else loss.item()
        if step % 100 == 0 or step == steps - 1:
            log.info("step %d loss %.4f (ema %.4f) %.0fs", step, loss.item(), run, time.time() - t0)
    stats = {"wall_s": time.time() - t0, "steps": steps, "train_windows": len(train_x),
             "val_loss_ema": _val_loss(ema, val_x, abar), "params": n_params(net), "config": NET_CONFIG.to_dict()}
    log.info("done: %s", stats)
    return ema, stats


def save(net: RollDenoiser, out_dir: Path) -> Path:
    """Write the state dict (stored as float16 to halve the committed size) and config to ``out_dir/denoiser.pt``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / WEIGHT_FILE
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    torch.save({"state": state, "config": net.cfg.to_dict()}, path)
    return path


def pretrain(out_dir: Path = WEIGHTS_DIR, seed: int = 0, quick: bool = False) -> None:
    """Reproduce every committed file of this task (weights, manifest, targets, model card)."""
    out_dir = Path(out_dir)
    if not D.NOTES_FILE.exists():
        from tasks.music.corpus import build_cache
        build_cache()
    net, stats = train(seed, steps=5 if quick else STEPS)
    save(net, out_dir)
    (out_dir / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
    write_manifest(out_dir)
    card(out_dir, seed, quick)


def card(out_dir: Path = WEIGHTS_DIR, seed: int = 0, quick: bool = False) -> None:
    """Targets (full runs only) and the model card from the saved weights and training stats."""
    from tasks.music.card import write_card, write_targets
    torch.set_num_threads(1)
    if not quick:
        write_targets()
    stats = json.loads((Path(out_dir) / STATS_FILE).read_text())
    write_card(out_dir, stats, seed, n_samples=8 if quick else 170, steps=10 if quick else 100)
    write_manifest(out_dir)


def main() -> None:
    """CLI: ``python -m tasks.music.pretrain [--quick] [--card-only] [--out DIR]``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--card-only", action="store_true", help="only targets + model card from saved weights")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.card_only:
        card(args.out, args.seed, args.quick)
    else:
        pretrain(args.out, args.seed, args.quick)


if __name__ == "__main__":
    main()
