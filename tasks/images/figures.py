"""Sample-grid figures of the images task for the report.

``python -m tasks.images.figures RUN_DIR FIG_DIR`` writes one grid per (objective, method, budget) of the images
records under ``RUN_DIR`` (its ``records/images.jsonl`` and ``samples/images/*.jsonl``) into ``FIG_DIR``.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from tasks.images.data import CLASSES

log = logging.getLogger(__name__)


def sample_grid(images: np.ndarray, path: Path, title: str = "", labels: Sequence[str] | None = None,
                ncol: int = 8) -> Path:
    """Save a grid of uint8 images (N, 28, 28) as a PNG figure at ``path``; return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    nrow = max(1, -(-n // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(ncol * 0.9, nrow * 0.95 + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap="gray", vmin=0, vmax=255)
            if labels is not None:
                ax.set_title(labels[k], fontsize=6, pad=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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


def grids_for_run(run_dir: Path, fig_dir: Path) -> list[Path]:
    """One grid per ok images record (latest per cell) under ``run_dir``; returns the written paths."""
    run_dir, latest = Path(run_dir), {}
    for line in (run_dir / "records" / "images.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("status") == "ok" and rec.get("samples_path"):
            latest[rec["cell"]] = rec
    paths = []
    for _, rec in sorted(latest.items()):
        rows = [json.loads(r) for r in Path(rec["samples_path"]).read_text().splitlines()]
        m = rec["metrics"]
        main = m.get(rec["main_metric"], float("nan"))
        title = (f"{rec['method']} {rec['budget']['name']} {rec['objective']} seed {rec['seed']}: "
                 f"{rec['main_metric']}={main:.3g} fid={m.get('fid', float('nan')):.3g}")
        name = f"images_{rec['objective'].replace('=', '')}_{rec['method']}_{rec['budget']['name']}_s{rec['seed']}.png"
        paths.append(grid_from_rows(rows, Path(fig_dir) / name, title))
        log.info("wrote %s", paths[-1])
    return paths


def main() -> None:
    """CLI: ``python -m tasks.images.figures RUN_DIR FIG_DIR``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("fig_dir")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    grids_for_run(Path(a.run_dir), Path(a.fig_dir))


if __name__ == "__main__":
    main()
