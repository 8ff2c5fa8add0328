"""Loading the math task's denoiser from a weights folder (through ``bench.weights``: sha256 checked once per
process), saving it, and the tiny random-weight miniature."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.train.fit import seeded
from bench.weights import load_state
from tasks.math import tokens
from tasks.math.net import MathDenoiser

DENOISER = "denoiser.pt"
TINY = dict(d=16, layers=1, heads=2, ff=2)


def build_denoiser(saved: dict[str, Any]) -> MathDenoiser:
    """MathDenoiser from a {"config", "state", ...} dict (eval mode, gradients off)."""
    net = MathDenoiser(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval().requires_grad_(False)


def load_denoiser(folder: Path, device: str | torch.device = "cpu") -> MathDenoiser:
    """The committed denoiser of ``folder`` (a missing or corrupt file is named in the error)."""
    return build_denoiser(load_state(Path(folder), DENOISER)).to(device)


def save_denoiser(net: MathDenoiser, folder: Path, name: str = DENOISER, **extra: Any) -> Path:
    """Write ``net`` (its config, state and ``extra`` metadata) to ``folder/name`` (default ``denoiser.pt``)."""
    path = Path(folder) / name
    torch.save({"config": net.config, "state": net.state_dict(), **extra}, path)
    return path


def tiny_denoiser(seed: int = 0) -> MathDenoiser:
    """Random-initialised miniature (no weight files), built under ``seeded`` (the caller's RNG is untouched)."""
    with seeded(seed):
        net = MathDenoiser(tokens.V, tokens.L, **TINY)
    return net.eval().requires_grad_(False)
