"""Property regressors: the gap proxy / gap oracle (fingerprint MLPs on disjoint halves of QM9 train) and the
differentiable one-hot predictor of every objective's property. All trained with 1 CPU thread."""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
import torch.nn as nn

from tasks.molecules import chem
from tasks.molecules.data import LENGTH, V, encode
from tasks.molecules.net import FingerprintMLP, OneHotPredictor

log = logging.getLogger(__name__)

DIFF_PROPS = ("rings", "logp", "qed", "sa", "gap")
GAP_PROXY = dict(features="morgan_bits", hidden=(256,), dropout=0.1)
GAP_ORACLE = dict(features="count_features", hidden=(512, 256), dropout=0.2)


def featurise(smiles: list[str | None], kind: str) -> np.ndarray:
    """Fingerprint matrix for a regressor: ``morgan_bits`` (proxy) or ``count_features`` (oracle)."""
    if kind == "morgan_bits":
        return chem.morgan_bits(smiles)
    if kind == "count_features":
        return chem.count_features(smiles)
    raise ValueError(f"unknown feature kind {kind!r}")


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int, batch: int = 256,
        lr: float = 1e-3) -> nn.Module:
    """Minimise MSE(net(x), y) with AdamW and a cosine learning rate; returns net in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)  # (n,)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = nn.functional.mse_loss(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        log.info("epoch %d/%d mse %.4f wall %.0fs", ep + 1, epochs, total / len(x), time.time() - t0)
    return net.eval()


def standardise(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y - mean) / std per column, plus mean and std (columns of a 2-D array or a 1-D vector)."""
    mean, std = y.mean(0), y.std(0) + 1e-8
    return (y - mean) / std, mean, std


def train_gap_regressor(smiles: list[str], gap: np.ndarray, cfg: dict, seed: int, epochs: int) -> dict:
    """Train one fingerprint MLP on (smiles, gap); returns a savable dict (config, state, mean, std)."""
    torch.manual_seed(seed)
    x = torch.from_numpy(featurise(smiles, cfg["features"]))  # (n, F)
    y, mean, std = standardise(gap.astype(np.float64))
    net = FingerprintMLP(x.shape[1], tuple(cfg["hidden"]), cfg["dropout"])
    fit(net, x, torch.from_numpy(y).float(), seed, epochs)
    return {"config": net.config, "features": cfg["features"], "state": net.state_dict(),
            "mean": float(mean), "std": float(std)}


def property_table(smiles: list[str], gap: np.ndarray) -> np.ndarray:
    """(n, len(DIFF_PROPS)) exact RDKit properties plus the DFT gap."""
    cols = [chem.properties(smiles, p) for p in DIFF_PROPS[:-1]]
    return np.stack([*cols, gap.astype(np.float64)], axis=1)


def train_diff_predictor(smiles: list[str], props: np.ndarray, seed: int, epochs: int, width: int = 96) -> dict:
    """Train the one-hot CNN on token one-hots -> standardised DIFF_PROPS; returns a savable dict."""
    torch.manual_seed(seed)
    x = nn.functional.one_hot(encode(smiles), V).float()  # (n, L, V)
    y, mean, std = standardise(props)
    net = OneHotPredictor(V, LENGTH, len(DIFF_PROPS), width)
    fit(net, x, torch.from_numpy(y).float(), seed, epochs)
    return {"config": net.config, "props": list(DIFF_PROPS), "state": net.state_dict(),
            "mean": mean.tolist(), "std": std.tolist()}


def load_gap_regressor(saved: dict) -> tuple[FingerprintMLP, str, float, float]:
    """Rebuild (net, feature kind, mean, std) from a dict written by :func:`train_gap_regressor`."""
    cfg = saved["config"]
    net = FingerprintMLP(cfg["n_in"], tuple(cfg["hidden"]), cfg["dropout"])
    net.load_state_dict(saved["state"])
    return net.eval(), saved["features"], saved["mean"], saved["std"]


def predict_gap(saved_or_loaded: tuple, smiles: list[str | None]) -> np.ndarray:
    """Gap (hartree) from a loaded regressor; NaN where the SMILES is invalid."""
    net, kind, mean, std = saved_or_loaded
    valid = np.array([chem.to_mol(s) is not None for s in smiles], dtype=bool)
    out = np.full(len(smiles), np.nan)
    if valid.any():
        x = torch.from_numpy(featurise([s for s, v in zip(smiles, valid) if v], kind))  # (n_valid, F)
        with torch.inference_mode():
            y = net(x.to(next(net.parameters()).device))  # (n_valid,)
        out[valid] = y.double().cpu().numpy() * std + mean
    return out
