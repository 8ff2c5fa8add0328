"""Loading the music task's denoiser from a weights folder (through `bench.weights`: sha256 checked once per
process) and saving it (float16 state, halving the committed size)."""
from __future__ import annotations

from pathlib import Path

import torch

from bench.train.fit import seeded
from bench.weights import load_state
from tasks.music.net import NetConfig, RollDenoiser

WEIGHT_FILE = "denoiser.pt"
TINY_CONFIG = NetConfig(dim=32, depth=1, heads=2)


def tiny_denoiser(seed: int = 0) -> RollDenoiser:
    """The random-weight miniature (``--tiny``), built under ``fork_rng`` (the caller's RNG is untouched)."""
    with seeded(seed):
        return RollDenoiser(TINY_CONFIG).eval()


def load_denoiser(folder: Path, device: str | torch.device = "cpu") -> RollDenoiser:
    """The checked ``denoiser.pt`` of ``folder`` as a float32 network in eval mode, no gradients."""
    saved = load_state(folder, WEIGHT_FILE, device)
    net = RollDenoiser(NetConfig(**saved["config"]))
    net.load_state_dict(saved["state"])
    return net.to(device).eval().requires_grad_(False)


def save_denoiser(net: RollDenoiser, folder: Path) -> Path:
    """Write the state dict (as float16) and config to ``folder/denoiser.pt``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WEIGHT_FILE
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    torch.save({"state": state, "config": net.cfg.to_dict()}, path)
    return path
