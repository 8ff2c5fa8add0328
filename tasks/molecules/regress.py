"""Property regressors at run time: features, standardisation, rebuilding the gap proxy / gap oracle (fingerprint
MLPs on disjoint halves of QM9 train) and predicting with them. Their training is in ``pretrain.py``."""
from __future__ import annotations

import logging

import numpy as np
import torch

from tasks.molecules import chem
from tasks.molecules.net import FingerprintMLP

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


def standardise(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y - mean) / std per column, plus mean and std (columns of a 2-D array or a 1-D vector)."""
    mean, std = y.mean(0), y.std(0) + 1e-8
    return (y - mean) / std, mean, std


def property_table(smiles: list[str], gap: np.ndarray) -> np.ndarray:
    """(n, len(DIFF_PROPS)) exact RDKit properties plus the DFT gap."""
    cols = [chem.properties(smiles, p) for p in DIFF_PROPS[:-1]]
    return np.stack([*cols, gap.astype(np.float64)], axis=1)


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
