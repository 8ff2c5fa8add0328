"""Training loops of the molecules task (1 CPU thread): the MDLM denoiser and the property regressors."""
from __future__ import annotations

import copy
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from bench.diffusion.training import masked_loss
from tasks.molecules.data import LENGTH, MASK_ID, V
from tasks.molecules.net import SmilesDenoiser

log = logging.getLogger(__name__)

BASE_CONFIG = dict(d=128, layers=4, heads=4, ff=4)


def lr_at(step: int, steps: int, peak: float, warmup: int = 200) -> float:
    """Linear warmup then cosine decay to peak/20."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * net."""
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.mul_(decay).add_(p.detach(), alpha=1 - decay)


@torch.no_grad()
def eval_loss(net: nn.Module, x: torch.Tensor, seed: int, batch: int = 512) -> float:
    """Mean masked ELBO (nats per token) on ``x`` with a fixed generator."""
    gen = torch.Generator().manual_seed(seed)
    net.eval()
    losses = [masked_loss(net, x[i:i + batch], MASK_ID, gen).item() for i in range(0, len(x), batch)]
    return float(np.mean(losses))


def train_denoiser(train_x: torch.Tensor, val_x: torch.Tensor, seed: int, steps: int, batch: int = 256,
                   lr: float = 1e-3, ckpt: Path | None = None,
                   stop_at: int | None = None, init_state: dict | None = None,
                   warmup: int = 200) -> tuple[SmilesDenoiser, dict]:
    """Train the MDLM denoiser with ``masked_loss``; returns the EMA network and a log dict.

    ``steps`` sets the learning-rate schedule; ``stop_at`` (default: ``steps``) ends training early on that
    schedule (the committed weights may be such a stop, see the model card). ``init_state`` continues from a
    saved state dict (a second training phase with a fresh optimiser and schedule).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = SmilesDenoiser(V, LENGTH, **BASE_CONFIG)
    if init_state is not None:
        net.load_state_dict(init_state)
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    t0, hist = time.time(), []
    stop = steps if stop_at is None else min(stop_at, steps)
    for step in range(stop):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warmup)
        idx = torch.randint(0, len(train_x), (batch,), generator=gen)  # (batch,)
        net.train()
        loss = masked_loss(net, train_x[idx], MASK_ID, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        ema_update(ema, net, 0.999 if step > 500 or init_state is not None else 0.99)
        hist.append(loss.item())
        if (step + 1) % 100 == 0 or step + 1 == stop:
            msg = f"step {step + 1}/{steps} loss {np.mean(hist[-100:]):.4f} wall {time.time() - t0:.0f}s"
            if (step + 1) % 500 == 0 or step + 1 == stop:
                msg += f" val(ema) {eval_loss(ema, val_x[:2048], 1):.4f}"
                if ckpt is not None:
                    torch.save({"config": ema.config, "state": ema.state_dict()}, ckpt)
            log.info(msg)
    info = {"steps": steps, "stop_at": stop, "batch": batch, "lr": lr, "wall_s": time.time() - t0,
            "final_train_loss": float(np.mean(hist[-100:])), "val_loss": eval_loss(ema, val_x, 1)}
    return ema.eval(), info
