"""Loading the committed models of the molecules task (lazily, through `bench.weights`: sha256 checked once per
process) or building the tiny random miniature."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from bench.train.fit import seeded
from bench.weights import checked_path, load_state
from tasks.molecules.data import LENGTH, V, read_smiles_gz
from tasks.molecules.net import CondSmilesDenoiser, FingerprintMLP, OneHotPredictor, SmilesDenoiser

log = logging.getLogger(__name__)

COND_DENOISER = "cond_denoiser.pt"  # the ring-count conditional denoiser of the `molecules_cond` twin
DENOISER, DIFF, GAP_PROXY, GAP_ORACLE = "denoiser.pt", "diff_predictor.pt", "gap_proxy.pt", "gap_oracle.pt"
TRAIN_SMILES, TEST_SMILES, FCD_STATS = "train_smiles.txt.gz", "test_smiles.txt.gz", "fcd_test_stats.pt"
TINY_PROPS = ["rings", "logp", "qed", "sa", "gap"]


class DiffPredictor(nn.Module):
    """OneHotPredictor plus de-standardisation: (N, L, V) probabilities -> (N, n_props) in property units."""

    def __init__(self, net: OneHotPredictor, props: Sequence[str], mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.net, self.props = net, list(props)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.net(p) * self.std + self.mean  # (N, n_props)


@dataclass
class Models:
    """Everything the task needs at run time."""

    denoiser: SmilesDenoiser
    diff_predictor: DiffPredictor
    gap_proxy: tuple[FingerprintMLP, str, float, float]
    gap_oracle: tuple[FingerprintMLP, str, float, float]
    train_smiles: set[str] = field(default_factory=set)
    fcd_ref: dict[str, np.ndarray] | None = None

    def to(self, device: torch.device) -> "Models":
        """Move every network to ``device`` (in place) and return self."""
        for m in (self.denoiser, self.diff_predictor, self.gap_proxy[0], self.gap_oracle[0]):
            m.to(device).eval().requires_grad_(False)
        return self

    def fcd(self, smiles: Sequence[str | None]) -> float:
        """FCD of the valid samples to the QM9 test reference statistics; NaN below 2 valid samples or without a
        reference (hand-built test Models only: `load_models` requires one).

        fcd-torch is a core dependency: a missing install raises ImportError rather than turning into a NaN
        score (which once made the CI baseline depend on whether the package happened to be installed).
        """
        if self.fcd_ref is None:
            return float("nan")
        valid = [s for s in smiles if s]
        if len(valid) < 2:
            return float("nan")
        fcd = chemnet()
        return float(fcd.metric(self.fcd_ref, fcd.precalc(valid)))


@functools.cache
def chemnet() -> Any:
    """The fcd-torch ChemNet scorer, loaded once per process (each evaluate used to reload its weights)."""
    from fcd_torch import FCD

    return FCD(device="cpu", n_jobs=1)


def build_denoiser(saved: dict[str, Any]) -> SmilesDenoiser:
    """SmilesDenoiser from a {"config", "state"} dict."""
    net = SmilesDenoiser(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval()


def build_cond_denoiser(saved: dict[str, Any]) -> CondSmilesDenoiser:
    """CondSmilesDenoiser from a {"config", "state"} dict."""
    net = CondSmilesDenoiser(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval()


def load_cond_denoiser(folder: Path, device: str | torch.device = "cpu") -> CondSmilesDenoiser:
    """The committed conditional denoiser, sha256-checked through the manifest."""
    return build_cond_denoiser(load_state(folder, COND_DENOISER, device)).to(device)


def tiny_cond_denoiser(seed: int = 0) -> CondSmilesDenoiser:
    """A random 1-layer conditional denoiser (random label embedding, so the condition changes the output),
    built under ``fork_rng``."""
    with seeded(seed):
        net = CondSmilesDenoiser(V, LENGTH, d=32, layers=1, heads=2, ff=2)
        torch.nn.init.normal_(net.label.weight, std=0.5)
    return net.eval()


def build_diff_predictor(saved: dict[str, Any]) -> DiffPredictor:
    """DiffPredictor from a dict written by ``regress.train_diff_predictor``."""
    net = OneHotPredictor(**saved["config"])
    net.load_state_dict(saved["state"])
    return DiffPredictor(net, saved["props"], saved["mean"], saved["std"]).eval()


def load_models(folder: Path) -> Models:
    """Load every committed artefact through the sha256 manifest."""
    from tasks.molecules.regress import load_gap_regressor

    fcd_ref = {k: v.double().numpy() for k, v in load_state(folder, FCD_STATS).items()}
    return Models(
        denoiser=build_denoiser(load_state(folder, DENOISER)),
        diff_predictor=build_diff_predictor(load_state(folder, DIFF)),
        gap_proxy=load_gap_regressor(load_state(folder, GAP_PROXY)),
        gap_oracle=load_gap_regressor(load_state(folder, GAP_ORACLE)),
        train_smiles=set(read_smiles_gz(checked_path(folder, TRAIN_SMILES))),
        fcd_ref=fcd_ref,
    )


def tiny_models(seed: int = 0) -> Models:
    """Random-initialised miniature (no weight files): a 1-layer denoiser and small regressors, built under
    ``fork_rng`` (the caller's global RNG is left as it was)."""
    with seeded(seed):
        den = SmilesDenoiser(V, LENGTH, d=32, layers=1, heads=2, ff=2)
        diff = DiffPredictor(OneHotPredictor(V, LENGTH, len(TINY_PROPS), width=16), TINY_PROPS,
                             [1.5, 0.3, 0.45, 4.0, 0.25], [1.0, 1.0, 0.1, 1.0, 0.05])
        proxy = (FingerprintMLP(2048, (16,)), "morgan_bits", 0.25, 0.05)
        oracle = (FingerprintMLP(2048, (16, 16)), "count_features", 0.25, 0.05)
    return Models(den.eval(), diff.eval(), proxy, oracle)
