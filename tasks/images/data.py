"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (pretraining and reference statistics only).

The folder is a setting: ``GUIDEBENCH_FASHION_MNIST_DIR`` overrides the package default
``/usr/share/datasets/fashion-mnist``. Images are 28x28 uint8; the models see them scaled to [-1, 1].
"""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "GUIDEBENCH_FASHION_MNIST_DIR"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SHAPE = (1, 28, 28)


def data_dir() -> Path:
    """The folder holding the four IDX files (setting: env ``GUIDEBENCH_FASHION_MNIST_DIR``)."""
    return Path(os.environ.get(ENV_VAR, DEFAULT_DIR))


def _read_idx(path: Path, header: int) -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: `apt-get install -y dataset-fashion-mnist` or set {ENV_VAR}")
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def load_split(split: str = "train", folder: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and int64 labels (N,) of ``split`` ("train" 60k or "test" 10k)."""
    prefix = {"train": "train", "test": "t10k"}[split]
    folder = Path(folder) if folder is not None else data_dir()
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)  # (N, 28, 28)
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)  # (N,)
    if len(images) != len(labels):
        raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
    log.info("loaded %s: %d images from %s", split, len(images), folder)
    return images, labels


def to_model(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)  # (N, 1, 28, 28)


def to_uint8(x0: torch.Tensor) -> np.ndarray:
    """Model space (N, 1, 28, 28) in [-1, 1] (clipped) -> uint8 (N, 28, 28)."""
    x = ((x0.detach().float().clamp(-1, 1) + 1) * 127.5).round()  # (N, 1, 28, 28)
    return x.squeeze(1).to("cpu", torch.uint8).numpy()
