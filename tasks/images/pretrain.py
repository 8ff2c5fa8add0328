"""Training recipes of the images task: `bench pretrain --task images` reproduces every committed weight file.

Parts (each also runnable alone: ``python -m tasks.images.pretrain --part diffusion``):
  diffusion   ε-prediction UNet, ``gaussian_loss`` with the cosine schedule, AdamW + EMA      -> unet.pt
  guide       guidance (proxy) classifier, seed + 1, flips + pixel noise                        -> guide.pt
  oracle      held-out classifier, seed + 2, random-shift crops, no noise                       -> oracle.pt
  stats       oracle-feature sums/covariances of each class's test images (FID reference)        -> ref_stats.npz
  card        base-model quality numbers, ``manifest.json`` and ``MODEL_CARD.md``
All training runs on one thread (``torch.set_num_threads(1)``); data: Fashion-MNIST train split only.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.diffusion.schedules import gaussian_alphas_bar
from bench.diffusion.training import gaussian_loss
from tasks.images import data
from tasks.images.nets import GuideNet, OracleNet, UNet, n_params

log = logging.getLogger(__name__)

DIFF = {"ch": 32, "mult": (1, 2, 2), "emb": 128, "steps": 2200, "batch": 32, "lr": 1e-3, "warmup": 100,
        "ema": 0.999}
CLS = {"guide": {"epochs": 2, "batch": 128, "lr": 2e-3, "noise": 0.1},
       "oracle": {"epochs": 4, "batch": 128, "lr": 2e-3, "noise": 0.0}}
QUICK_STEPS = 3


def _lr(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warmup then cosine decay to 10% of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))


def train_diffusion(out_dir: Path, seed: int = 0, quick: bool = False) -> dict:
    """Train the UNet on the train split; save the EMA weights to ``unet.pt``; return a summary."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_all = data.to_model(data.load_split("train")[0])  # (60000, 1, 28, 28)
    net = UNet(DIFF["ch"], DIFF["mult"], DIFF["emb"])
    ema = copy.deepcopy(net).eval()
    opt = torch.optim.AdamW(net.parameters(), lr=DIFF["lr"], weight_decay=0.0)
    abar = gaussian_alphas_bar("cosine")
    steps = QUICK_STEPS if quick else DIFF["steps"]
    t0, losses = time.time(), []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, DIFF["lr"], DIFF["warmup"])
        idx = torch.randint(0, len(x_all), (DIFF["batch"],), generator=gen)  # (B,)
        loss = gaussian_loss(net, x_all[idx], abar, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        decay = min(DIFF["ema"], (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
                pe.lerp_(p, 1 - decay)
        losses.append(loss.item())
        if step % 100 == 0 or step == steps - 1:
            torch.save({"state": ema.state_dict(), "config": net.config, "step": step}, out_dir / "unet_partial.pt.tmp")
            log.info("diffusion step %d/%d loss %.4f (%.0fs)", step, steps, np.mean(losses[-100:]), time.time() - t0)
    wall = time.time() - t0
    torch.save({"state": ema.state_dict(), "config": net.config}, out_dir / "unet.pt")
    (out_dir / "unet_partial.pt.tmp").unlink(missing_ok=True)
    summary = {"params": n_params(net), "steps": steps, "wall_s": round(wall, 1),
               "final_loss": float(np.mean(losses[-200:]))}
    _save_summary(out_dir, "unet", summary)
    return summary


def _augment(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """guide: random horizontal flips + Gaussian pixel noise; oracle: random ±2-pixel shifts."""
    if kind == "guide":
        flip = torch.rand(x.shape[0], generator=gen) < 0.5  # (B,)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x + CLS["guide"]["noise"] * torch.randn(x.shape, generator=gen)
    pad = F.pad(x, (2, 2, 2, 2), value=-1.0)  # (B, 1, 32, 32)
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()
    return pad[:, :, dy:dy + 28, dx:dx + 28]


@torch.no_grad()
def accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy of ``net`` on (N, 1, 28, 28) images with labels (N,)."""
    net.eval()
    hits = sum((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item() for i in range(0, len(x), batch))
    return hits / len(x)


def train_classifier(kind: str, out_dir: Path, seed: int = 0, quick: bool = False) -> dict:
    """Train the ``guide`` (proxy) or ``oracle`` classifier on the train split; save ``<kind>.pt``."""
    cfg = CLS[kind]
    seed = seed + (1 if kind == "guide" else 2)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr = data.load_split("train")
    xte, yte = data.load_split("test")
    x, y = data.to_model(xtr), torch.from_numpy(ytr)  # (60000, 1, 28, 28), (60000,)
    net = GuideNet() if kind == "guide" else OracleNet()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    per_epoch = len(x) // cfg["batch"]
    total = QUICK_STEPS if quick else cfg["epochs"] * per_epoch
    t0 = time.time()
    for step in range(total):
        if step % per_epoch == 0:
            perm = torch.randperm(len(x), generator=gen)
        net.train()
        for g in opt.param_groups:
            g["lr"] = _lr(step, total, cfg["lr"], 50)
        idx = perm[(step % per_epoch) * cfg["batch"]:(step % per_epoch + 1) * cfg["batch"]]
        loss = F.cross_entropy(net(_augment(x[idx], kind, gen)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0:
            log.info("%s step %d/%d loss %.4f (%.0fs)", kind, step, total, loss.item(), time.time() - t0)
    wall = time.time() - t0
    net.eval()
    acc = accuracy(net, data.to_model(xte), torch.from_numpy(yte))
    torch.save({"state": net.state_dict(), "config": net.config}, out_dir / f"{kind}.pt")
    summary = {"params": n_params(net), "steps": total, "wall_s": round(wall, 1), "test_acc": round(acc, 4)}
    log.info("%s: %s", kind, summary)
    _save_summary(out_dir, kind, summary)
    return summary


def _save_summary(out_dir: Path, key: str, summary: dict) -> None:
    """Merge ``summary`` into ``out_dir/train_log.json`` (read by the model card writer)."""
    path = out_dir / "train_log.json"
    logs = json.loads(path.read_text()) if path.exists() else {}
    logs[key] = summary
    path.write_text(json.dumps(logs, indent=2, sort_keys=True) + "\n")


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False) -> None:
    """Reproduce every committed weight file of the images task into ``out_dir`` (quick: a few steps each)."""
    from tasks.images.card import reference_stats, write_card

    torch.set_num_threads(1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_classifier("guide", out_dir, seed, quick)
    train_classifier("oracle", out_dir, seed, quick)
    train_diffusion(out_dir, seed, quick)
    reference_stats(out_dir)
    write_card(out_dir, seed, quick)


def main() -> None:
    """CLI: ``python -m tasks.images.pretrain --part all|diffusion|guide|oracle|stats|card [--quick]``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="all")
    ap.add_argument("--out", default=str(Path(__file__).parent / "weights"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.part == "all":
        pretrain(out, a.seed, a.quick)
    elif a.part == "diffusion":
        train_diffusion(out, a.seed, a.quick)
    elif a.part in CLS:
        train_classifier(a.part, out, a.seed, a.quick)
    else:
        from tasks.images.card import reference_stats, write_card
        if a.part == "stats":
            reference_stats(out)
        else:
            write_card(out, a.seed, a.quick)


if __name__ == "__main__":
    main()
