"""Sample-grid figures of the images task; ``bench report`` draws them through ``ImagesTask.sample_figure``."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from bench import plots
from tasks.images.data import CLASSES


def sample_grid(images: np.ndarray, path: Path, title: str = "", labels: Sequence[str] | None = None,
                ncol: int = 8) -> Path:
    """Save a grid of uint8 images (N, 28, 28) as a PNG figure at ``path``; return the path."""
    plt = plots.pyplot()
    n = len(images)
    nrow = max(1, -(-n // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(ncol * 0.9, nrow * 0.95 + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap="gray", vmin=0, vmax=255)
            if labels is not None:
                ax.set_title(labels[k], fontsize=6, pad=1)
    return plots.save(fig, path, dpi=120, title=title)


def rows_to_images(rows: Sequence[dict]) -> tuple[np.ndarray, list[str]]:
    """uint8 images (N, 28, 28) and oracle-label captions of the valid rows of ``evaluate``'s output."""
    from PIL import Image

    rows = [r for r in rows if r.get("png_b64")]
    imgs = [np.asarray(Image.open(io.BytesIO(base64.b64decode(r["png_b64"])))) for r in rows]
    labels = [CLASSES[r["oracle_pred"]].split("/")[0] for r in rows]
    return (np.stack(imgs) if imgs else np.zeros((0, 28, 28), np.uint8)), labels


def grid_from_rows(rows: Sequence[dict], path: Path, title: str = "", ncol: int = 8, limit: int = 64) -> Path:
    """Sample-grid figure from ``evaluate`` rows (oracle label as caption), at most ``limit`` images."""
    imgs, labels = rows_to_images(rows[:limit])
    return sample_grid(imgs, path, title, labels, ncol)


def _decode(b64: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def inverse_grid(rows: Sequence[dict], path: Path, title: str = "", ncol: int = 8) -> Path:
    """Inverse problems: for the first ``ncol`` samples, a column each of measurement / ground truth / sample
    (captioned with the sample's PSNR)."""
    rows = [r for r in rows if r.get("truth_b64")][:ncol]
    blank = np.zeros((28, 28), np.uint8)
    imgs = [_decode(r["measured_b64"]) for r in rows] + [_decode(r["truth_b64"]) for r in rows] + \
        [_decode(r["png_b64"]) if r.get("png_b64") else blank for r in rows]
    caps = ["measured"] * len(rows) + ["truth"] * len(rows) + [f"{r['psnr']:.1f} dB" for r in rows]
    return sample_grid(np.stack(imgs) if imgs else np.zeros((0, 28, 28), np.uint8), path, title, caps,
                       max(1, len(rows)))
