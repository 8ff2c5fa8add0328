"""mgeval-style musicality features, the overlapping-area (OA) metric, and a piano-roll figure.

OA (SCG ``compute_oa`` / mgeval ``overlap_area``): for each feature, intra-set distances are the leave-one-out
distances within the ground-truth (GT) set, inter-set distances go from every GT excerpt to every generated sample;
OA = ∫ min(KDE_intra, KDE_inter). Features (velocity is constant in our decoding, so mgeval's mean velocity is
dropped): used pitches, pitch range, pitch-class histogram (12-d, L2), mean inter-onset interval, mean note
length, note density (notes per second).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bench import plots
from tasks.music.data import FPS, N_FRAMES

log = logging.getLogger(__name__)

FEATURES = ("used_pitch", "pitch_range", "pitch_class_hist", "avg_ioi", "note_length", "note_density")
GRID = 1000  # integration points for the KDE overlap


def features(notes: np.ndarray) -> dict[str, np.ndarray] | None:
    """Features of one excerpt from (n, 3) grid notes (pitch, start, end); None if it has no note."""
    if len(notes) == 0:
        return None
    pitch = notes[:, 0]
    onset_times = np.unique(notes[:, 1]) / FPS
    pch = np.bincount(pitch % 12, minlength=12).astype(float)
    return {
        "used_pitch": np.array([len(np.unique(pitch))], float),
        "pitch_range": np.array([pitch.max() - pitch.min()], float),
        "pitch_class_hist": pch / pch.sum(),
        "avg_ioi": np.array([np.diff(onset_times).mean() if len(onset_times) > 1 else 0.0]),
        "note_length": np.array([((notes[:, 2] - notes[:, 1]) / FPS).mean()]),
        "note_density": np.array([len(notes) / (N_FRAMES / FPS)]),
    }


def _stack(feats: list[dict[str, np.ndarray] | None], name: str) -> np.ndarray:
    return np.stack([f[name] for f in feats if f is not None])  # (n, d)


def _binned_kde(v: np.ndarray, grid: np.ndarray, floor_bw: float) -> np.ndarray:
    """Gaussian KDE of samples v on a uniform grid (Scott bandwidth, linear binning, exact kernel sum per bin)."""
    dx = grid[1] - grid[0]
    bw = max(np.std(v, ddof=1) * len(v) ** (-0.2), floor_bw)
    pos = (v - grid[0]) / dx
    i0 = np.clip(np.floor(pos).astype(int), 0, len(grid) - 2)
    w1 = np.clip(pos - i0, 0.0, 1.0)
    counts = np.bincount(i0, 1 - w1, len(grid)) + np.bincount(i0 + 1, w1, len(grid))  # (GRID,)
    half = int(min(np.ceil(5 * bw / dx), len(grid)))
    u = np.arange(-half, half + 1) * dx
    kern = np.exp(-0.5 * (u / bw) ** 2) / (bw * np.sqrt(2 * np.pi))
    return np.convolve(counts, kern, mode="same")[: len(grid)] / len(v)


def overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """mgeval's ``overlap_area``: ∫ over [min, max] of both sets of min(KDE_a, KDE_b) (Gaussian, Scott bandwidth).

    KDEs are evaluated by linear binning on a fine grid (matches scipy's gaussian_kde + quad to ~1e-5, much
    faster); NaN if either set has fewer than 2 values.
    """
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    span = max(hi - lo, 1e-6)
    floor_bw = 1e-3 * span  # a point mass gets a narrow kernel instead of an undefined KDE
    bws = [max(np.std(v, ddof=1) * len(v) ** (-0.2), floor_bw) for v in (a, b)]
    pad = 5 * max(bws)
    m = min(max(GRID, int(span / (min(bws) / 4))), 100_000)  # intervals inside [lo, hi]; lo and hi on the grid
    dx = span / m
    k = int(np.ceil(pad / dx))
    grid = lo + dx * np.arange(-k, m + k + 1)
    da, db = (_binned_kde(v, grid, floor_bw) for v in (a, b))
    return float(np.trapezoid(np.minimum(da, db)[k:k + m + 1], grid[k:k + m + 1]))


def oa_scores(gt: list[dict | None], gen: list[dict | None]) -> dict[str, float]:
    """OA per feature and their mean (``oa``) between GT excerpts and generated samples."""
    out: dict[str, float] = {}
    for name in FEATURES:
        g = _stack(gt, name)  # (n, d)
        if sum(f is not None for f in gen) < 2:
            out[f"oa_{name}"] = float("nan")
            continue
        s = _stack(gen, name)  # (m, d)
        d_gg = np.linalg.norm(g[:, None] - g[None], axis=-1)  # (n, n)
        intra = d_gg[~np.eye(len(g), dtype=bool)]
        inter = np.linalg.norm(g[:, None] - s[None], axis=-1).ravel()  # (n*m,)
        out[f"oa_{name}"] = overlap_area(intra, inter)
    vals = [out[f"oa_{n}"] for n in FEATURES]
    out["oa"] = float(np.mean(vals)) if not np.isnan(vals).any() else float("nan")
    return out


def save_piano_roll_figure(x0: np.ndarray, path: Path, n: int = 4, title: str = "") -> Path:
    """Save the roll channel of the first ``n`` samples of (B, 2, 48, 64) as a PNG (matplotlib Agg)."""
    from tasks.music.data import PITCH_LO

    plt = plots.pyplot()
    n = min(n, len(x0))
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3), squeeze=False)
    for k, ax in enumerate(axes[0]):
        ax.imshow(np.asarray(x0[k, 0]) > 0, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(0, N_FRAMES / FPS, PITCH_LO - 0.5, PITCH_LO + x0.shape[2] - 0.5))
        ax.set_xlabel("seconds")
        ax.set_title(f"#{k}", fontsize=9)
    axes[0][0].set_ylabel("MIDI pitch")
    return plots.save(fig, path, dpi=100, title=title)
