"""Reference statistics, the base model's own quality numbers, the manifest and MODEL_CARD.md."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from bench.diffusion.ancestral import sample_unguided
from bench.diffusion.gaussian import GaussianFamily
from bench.weights import write_manifest
from tasks.images import data
from tasks.images.metrics import OracleFeatures, diversity, feature_stats, fid, load_ref, save_ref
from tasks.images.nets import GuideNet, OracleNet, UNet
from tasks.images.rewards import png_bytes, quantize

log = logging.getLogger(__name__)

N_SAMPLES = 256
FLOOR_N = 64  # sample size at which the real-data FID floor is reported (the task's default_n)


def _load(out_dir: Path, name: str, cls: type) -> torch.nn.Module:
    blob = torch.load(out_dir / f"{name}.pt", map_location="cpu", weights_only=True)
    net = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in blob["config"].items()})
    net.load_state_dict(blob["state"])
    return net.eval().requires_grad_(False)


@torch.no_grad()
def _features(oracle: torch.nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([oracle.features(x[i:i + batch]) for i in range(0, len(x), batch)])  # (N, 64)


def reference_stats(out_dir: Path) -> None:
    """Write ``ref_stats.npz``: oracle-feature statistics of the test images of each class and of all classes."""
    oracle = _load(out_dir, "oracle", OracleNet)
    xte, yte = data.load_split("test")
    feats = _features(oracle, data.to_model(xte))  # (10000, 64)
    stats = {str(k): feature_stats(feats[torch.from_numpy(yte == k)]) for k in range(10)}
    stats["all"] = feature_stats(feats)
    save_ref(out_dir / "ref_stats.npz", stats)
    log.info("reference statistics written (%d test images)", len(feats))


def base_quality(out_dir: Path, n: int = N_SAMPLES, steps: int = 50) -> dict:
    """The base model's own numbers: FID vs all test images, oracle class histogram, real-data FID floors."""
    unet, guide, oracle = (_load(out_dir, k, c) for k, c in (("unet", UNet), ("guide", GuideNet),
                                                            ("oracle", OracleNet)))
    ref = load_ref(out_dir / "ref_stats.npz")
    feat = OracleFeatures(oracle)
    t0 = time.time()
    fam = GaussianFamily(unet, data.SHAPE, "cosine", eta=1.0, clip=1.0)
    x = quantize(sample_unguided(fam, n, steps, batch=128))  # (n, 1, 28, 28)
    wall = time.time() - t0
    pred_o, pred_g = oracle(x).argmax(1), guide(x).argmax(1)  # (n,), (n,)
    xtr, ytr = data.load_split("train")
    real = data.to_model(xtr[:n])  # (n, 1, 28, 28) train images: the real-data floor at the same n
    floors = {str(k): round(fid(feat, ref[str(k)], data.to_model(xtr[ytr == k][:FLOOR_N])), 3) for k in range(10)}
    return {
        "n_samples": n, "steps": steps, "sampling_wall_s": round(wall, 1),
        "fid_all": round(fid(feat, ref["all"], x), 3),
        "fid_all_real_train_same_n": round(fid(feat, ref["all"], real), 3),
        "fid_class_real_train_n64": floors,
        "oracle_class_hist": np.bincount(pred_o.numpy(), minlength=10).tolist(),
        "guide_oracle_agreement": round(float((pred_o == pred_g).float().mean()), 4),
        "diversity": round(diversity(feat(x)), 3), "diversity_real": round(diversity(feat(real)), 3),
        "png_bytes_mean": round(float(png_bytes(data.to_uint8(x)).mean()), 1),
        "png_bytes_mean_real": round(float(png_bytes(xtr[:n]).mean()), 1),
    }


def write_card(out_dir: Path, seed: int = 0, quick: bool = False) -> None:
    """Compute base-model quality, write ``quality.json``, ``manifest.json`` and ``MODEL_CARD.md``."""
    from tasks.images.card_text import render

    out_dir = Path(out_dir)
    quality = base_quality(out_dir, n=16 if quick else N_SAMPLES, steps=5 if quick else 50)
    (out_dir / "quality.json").write_text(json.dumps(quality, indent=2, sort_keys=True) + "\n")
    logs = json.loads((out_dir / "train_log.json").read_text())
    write_manifest(out_dir)
    (out_dir / "MODEL_CARD.md").write_text(render(logs, quality, seed, quick))
    log.info("model card written: %s", quality)
