"""Sequence logos (matplotlib letter glyphs, height = information content x frequency) of samples and real data."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.dna.data import ALPHABET, encode, load_split

COLOURS = {"A": "#2ca02c", "C": "#1f77b4", "G": "#ff7f0e", "T": "#d62728"}


def frequencies(seqs: list[str]) -> np.ndarray:
    """(L, 4) base frequencies of equal-length ACGT strings."""
    tok = encode(seqs)  # (N, L)
    return np.stack([(tok == b).mean(0) for b in range(4)], axis=1)  # (L, 4)


def information(freq: np.ndarray, n: int) -> np.ndarray:
    """(L, 4) frequencies -> (L, 4) letter heights in bits: f · (2 − H(f) − e_n), e_n the small-sample correction."""
    h = -(freq * np.log2(np.clip(freq, 1e-12, 1))).sum(1)  # (L,)
    ic = np.clip(2 - h - 3 / (2 * np.log(2) * max(n, 1)), 0, 2)  # (L,)
    return freq * ic[:, None]


def draw_logo(ax, heights: np.ndarray) -> None:
    """Stacked letter glyphs on ``ax``, the largest on top at each position."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.text import TextPath
    from matplotlib.transforms import Affine2D

    font = FontProperties(family="DejaVu Sans", weight="bold")
    glyphs = {b: TextPath((0, 0), b, size=1, prop=font) for b in ALPHABET}
    for pos, col in enumerate(heights):
        y = 0.0
        for b in np.argsort(col):
            letter, h = ALPHABET[b], float(col[b])
            if h <= 1e-3:
                continue
            ext = glyphs[letter].get_extents()
            tr = (Affine2D().translate(-ext.x0, -ext.y0).scale(0.9 / ext.width, h / ext.height)
                  .translate(pos + 0.05, y))
            ax.add_patch(PathPatch(tr.transform_path(glyphs[letter]), color=COLOURS[letter], lw=0))
            y += h
    ax.set_xlim(0, len(heights))
    ax.set_ylim(0, max(0.25, float(heights.sum(1).max()) * 1.1))
    ax.set_ylabel("bits", fontsize=7)


def logo_figure(samples: list[str], path: Path, title: str, window: tuple[int, int] = (80, 120)) -> Path | None:
    """Logos of positions ``window`` of the samples (top) and of held-out real HepG2 sequences (bottom)."""
    if not samples:
        return None
    from bench import plots

    real = _real_hepg2()
    plt = plots.pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(10, 3.4), sharex=True)
    lo, hi = window
    for ax, seqs, name in ((axes[0], samples, f"samples (n={len(samples)})"),
                           (axes[1], real, f"held-out real HepG2 (n={len(real)})")):
        draw_logo(ax, information(frequencies([s[lo:hi] for s in seqs]), len(seqs)))
        ax.set_title(name, fontsize=8)
    axes[1].set_xlabel(f"position {lo}..{hi - 1}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return plots.save(fig, path)


def _real_hepg2() -> list[str]:
    from tasks.dna.data import decode

    return decode(load_split("test", "HepG2"))
