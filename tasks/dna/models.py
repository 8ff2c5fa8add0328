"""Loading the committed models of the DNA task (lazily, through `bench.weights`: sha256 checked once per process)
or building the tiny random miniature under ``fork_rng``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from bench.train.fit import seeded
from bench.weights import load_state
from tasks.dna.net import CellCNN, DnaDenoiser, PoolCNN

DENOISER, PROXY, ORACLE, MPRA_PROXY = "denoiser.pt", "cell_proxy.pt", "cell_oracle.pt", "mpra_proxy.pt"
_ARCH = {"CellCNN": CellCNN, "PoolCNN": PoolCNN}


class Standardised(nn.Module):
    """A 1-output regressor trained on standardised labels -> (B,) in the label's own units."""

    def __init__(self, net: CellCNN, mean: float, sd: float) -> None:
        super().__init__()
        self.net, self.mean, self.sd = net, float(mean), float(sd)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """(B, L, 4) probabilities -> (B,)."""
        return self.net(p).squeeze(-1) * self.sd + self.mean  # (B,)


@dataclass
class Models:
    """Every network the task needs at run time (eval mode, gradients off)."""

    denoiser: DnaDenoiser
    proxy: nn.Module  # (B, L, 4) -> (B, 4) cell-type logits, half A of train
    oracle: nn.Module  # same contract, other architecture, half B, other seed
    mpra_proxy: Standardised

    def to(self, device: torch.device | str) -> "Models":
        """Move every network to ``device`` (in place) and return self."""
        for m in (self.denoiser, self.proxy, self.oracle, self.mpra_proxy):
            m.to(device).eval().requires_grad_(False)
        return self


def build_denoiser(saved: dict[str, Any]) -> DnaDenoiser:
    """DnaDenoiser from a {"config", "state"} dict."""
    net = DnaDenoiser(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval()


def build_classifier(saved: dict[str, Any]) -> nn.Module:
    """CellCNN or PoolCNN from a {"config", "state", "kind"} dict."""
    net = _ARCH[saved["kind"]](**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval()


def build_mpra_proxy(saved: dict[str, Any]) -> Standardised:
    """The mpra regressor from a {"config", "state", "mean", "sd"} dict."""
    net = CellCNN(**saved["config"])
    net.load_state_dict(saved["state"])
    return Standardised(net, saved["mean"], saved["sd"]).eval()


def load_models(folder: Path) -> Models:
    """Load every committed network through the sha256 manifest (a missing or corrupt file is named)."""
    return Models(build_denoiser(load_state(folder, DENOISER)), build_classifier(load_state(folder, PROXY)),
                  build_classifier(load_state(folder, ORACLE)), build_mpra_proxy(load_state(folder, MPRA_PROXY)))


def tiny_models(seed: int = 0) -> Models:
    """Random-initialised miniature (no weight files), built under ``fork_rng`` (the caller's RNG is untouched)."""
    with seeded(seed):
        return Models(DnaDenoiser(d=16, dilations=(1, 4)), CellCNN(width=8, dilations=(1,)),
                      PoolCNN(width=8), Standardised(CellCNN(n_out=1, width=8, dilations=(1,)), 0.0, 1.0))
