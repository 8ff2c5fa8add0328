"""Metrics of the images task: FID on the held-out classifier's penultimate features (torchmetrics with a custom
feature module and committed reference statistics) and diversity. Figures are in ``figures.py``.

Reference statistics (``ref_stats.npz``) hold, for each class k and for ``all``, the float64 feature sum
``sum_k`` (64,), the sum of outer products ``cov_sum_k`` (64, 64) and the count ``n_k`` of the test images,
i.e. exactly torchmetrics' real-feature states, so no test image is needed at evaluation time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


class OracleFeatures(nn.Module):
    """torchmetrics feature module: model-space images (N, 1, 28, 28) in [-1, 1] -> oracle features (N, 64)."""

    def __init__(self, oracle: nn.Module) -> None:
        super().__init__()
        self.oracle = oracle.eval()
        self.num_features = int(oracle.num_features)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.oracle.features(x.float())  # (N, 64)


def feature_stats(feats: torch.Tensor) -> dict[str, np.ndarray]:
    """torchmetrics-style sufficient statistics of features (N, D): sum (D,), cov_sum (D, D), n."""
    f = feats.detach().double().cpu()
    return {"sum": f.sum(0).numpy(), "cov_sum": (f.t() @ f).numpy(), "n": np.asarray(len(f))}


def load_ref(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Reference statistics per key ("0".."9", "all") from a ``ref_stats.npz`` file."""
    z = np.load(path)
    keys = sorted(name[2:] for name in z.files if name.startswith("n_"))
    return {k: {"sum": z[f"sum_{k}"], "cov_sum": z[f"cov_sum_{k}"], "n": z[f"n_{k}"]} for k in keys}


def save_ref(path: Path, stats: dict[str, dict[str, np.ndarray]]) -> None:
    """Write per-key statistics as flat arrays ``sum_<k>``, ``cov_sum_<k>``, ``n_<k>``."""
    flat = {f"{name}_{k}": v for k, s in stats.items() for name, v in s.items()}
    np.savez_compressed(path, **flat)


REAL_EVERY = 5  # the k-NN manifold metrics' real set: every 5th test image (2000, about 200 per class)


def save_real_features(path: Path, feats: torch.Tensor, labels: torch.Tensor) -> None:
    """Write the real set of the manifold metrics: oracle features (float16) and labels of every
    ``REAL_EVERY``-th test image."""
    keep = slice(None, None, REAL_EVERY)
    np.savez_compressed(path, feats=feats[keep].cpu().numpy().astype(np.float16),
                        labels=labels[keep].cpu().numpy().astype(np.uint8))


def load_real_features(path: Path) -> dict[str, torch.Tensor]:
    """The real feature set per key ("0".."9": that class's rows; "all": every row), float32."""
    z = np.load(path)
    feats, labels = torch.from_numpy(z["feats"].astype(np.float32)), torch.from_numpy(z["labels"].astype(np.int64))
    return {"all": feats, **{str(k): feats[labels == k] for k in range(10)}}


def manifold(real: torch.Tensor, fake_feats: torch.Tensor) -> dict[str, float]:
    """Precision, recall, density, coverage (``bench.manifold``, k = 5) of sample features against a real set."""
    from bench.manifold import prdc
    return prdc(real.to(fake_feats.device), fake_feats.float())


class _GivenFeatures(nn.Module):
    """torchmetrics feature module for rows that already are features (N, D): the identity."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return feats


def fid_of_features(feats: torch.Tensor, ref: dict[str, np.ndarray]) -> float:
    """FID between feature rows ``feats`` (N >= 2, D) and the reference statistics, via torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_GivenFeatures(feats.shape[1]), reset_real_features=False)
    metric.real_features_sum = torch.as_tensor(ref["sum"], dtype=torch.float64)
    metric.real_features_cov_sum = torch.as_tensor(ref["cov_sum"], dtype=torch.float64)
    metric.real_features_num_samples = torch.as_tensor(int(ref["n"]))
    metric.to(feats.device)
    metric.update(feats, real=False)
    return float(metric.compute())


def fid(features: OracleFeatures, ref: dict[str, np.ndarray], images: torch.Tensor) -> float:
    """FID between ``images`` (N >= 2, model space) and the reference statistics (their oracle features)."""
    return fid_of_features(features(images), ref)


def fid_mean_term(feats: torch.Tensor, ref: dict[str, np.ndarray]) -> float:
    """The FID's mean term ‖μ_g − μ_r‖² of feature rows ``feats`` (N, D); the rest is the covariance term."""
    mu_r = torch.as_tensor(ref["sum"]) / float(ref["n"])  # (D,) float64
    return float(((feats.detach().double().cpu().mean(0) - mu_r) ** 2).sum())


def diversity(feats: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance between the rows of ``feats`` (N, D); NaN if N < 2."""
    n = feats.shape[0]
    if n < 2:
        return float("nan")
    d = torch.cdist(feats.double(), feats.double())  # (N, N)
    return float(d.sum() / (n * (n - 1)))
