"""Chorale windows from the cached note table: split by piece, 4-bar excerpts on a 16th grid, transpositions.

Representation (one excerpt): x0 (2, 48, 64) in {-1, 1}; channel 0 = piano roll (note sounding), channel 1 =
onset (a note starts in this frame); pitch row p is MIDI ``PITCH_LO + p``; frame f covers [f, f+1)·0.125 s at
120 bpm (a 16th note). Excerpts start on quarter offsets that are multiples of 4 (bar lines in 4/4).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
NOTES_FILE = DATA_DIR / "chorales_notes.npz"
PITCH_LO, N_PITCH = 36, 48  # MIDI 36..83
N_FRAMES = 64  # 4 bars of 4/4 on a 16th grid
FPS = 8.0  # frames per second at 120 bpm
STRIDE = 16  # one bar between training windows
SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.75, 0.10, 0.15)  # train, validation, test by piece
SHIFTS = tuple(range(-6, 6))  # transpositions to all 12 keys


@dataclass(frozen=True)
class Window:
    """One excerpt: piece index, start frame, and its notes (pitch, start, end) relative to the start."""

    piece: int
    start: int
    notes: np.ndarray  # (n, 3) int


def load_table(path: Path = NOTES_FILE) -> tuple[np.ndarray, list[str]]:
    """Note rows (piece, pitch, start, end) and piece names from the cached npz."""
    d = np.load(path)
    return d["notes"].astype(np.int64), [str(s) for s in d["names"]]


def split_pieces(n_pieces: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Piece indices of the train / validation / test splits (a seeded permutation)."""
    perm = np.random.default_rng(seed).permutation(n_pieces)
    n_tr = int(round(SPLIT_FRACTIONS[0] * n_pieces))
    n_va = int(round(SPLIT_FRACTIONS[1] * n_pieces))
    return {"train": np.sort(perm[:n_tr]), "validation": np.sort(perm[n_tr:n_tr + n_va]),
            "test": np.sort(perm[n_tr + n_va:])}


def piece_windows(rows: np.ndarray, piece: int, stride: int) -> list[Window]:
    """All windows of one piece (rows already filtered to it) that start inside the piece."""
    end = int(rows[:, 3].max())
    out = []
    for s in range(0, max(end - N_FRAMES, 0) + 1, stride):
        sel = (rows[:, 2] < s + N_FRAMES) & (rows[:, 3] > s)
        n = rows[sel][:, 1:].copy()
        n[:, 1:] -= s
        out.append(Window(piece, s, n))
    return out


def windows(split: str, stride: int = STRIDE, path: Path = NOTES_FILE) -> list[Window]:
    """Windows of every piece of a split."""
    table, names = load_table(path)
    pieces = split_pieces(len(names))[split]
    return [w for k in pieces for w in piece_windows(table[table[:, 0] == k], int(k), stride)]


def fits(notes: np.ndarray, shift: int) -> bool:
    """Whether the notes transposed by ``shift`` stay inside the pitch range."""
    p = notes[:, 0] + shift
    return bool(len(p)) and p.min() >= PITCH_LO and p.max() < PITCH_LO + N_PITCH


def notes_to_roll(notes: np.ndarray, shift: int = 0) -> np.ndarray:
    """(n, 3) notes relative to the window -> (2, 48, 64) float32 roll in {-1, 1}."""
    x = -np.ones((2, N_PITCH, N_FRAMES), dtype=np.float32)
    for p, s, e in notes:
        row = p + shift - PITCH_LO
        x[0, row, max(s, 0):min(e, N_FRAMES)] = 1.0
        if 0 <= s < N_FRAMES:
            x[1, row, s] = 1.0
    return x


def nearest_fit(notes: np.ndarray) -> int | None:
    """The transposition closest to 0 that fits the pitch range (None if none does)."""
    for sh in sorted(SHIFTS, key=lambda v: (abs(v), v)):
        if fits(notes, sh):
            return sh
    return None


def training_array(split: str = "train", augment: bool = True) -> np.ndarray:
    """(N, 2, 48, 64) float32 rolls of a split; with ``augment`` every fitting transposition of every window."""
    out = []
    for w in windows(split):
        shifts = [s for s in SHIFTS if fits(w.notes, s)] if augment else [nearest_fit(w.notes)]
        out.extend(notes_to_roll(w.notes, s) for s in shifts if s is not None)
    return np.stack(out)


def test_excerpts(n_max: int = 200) -> np.ndarray:
    """Held-out excerpts: non-overlapping 4-bar windows of the test pieces, nearest fitting key, (n, 2, 48, 64)."""
    ws = windows("test", stride=N_FRAMES)
    rolls = [notes_to_roll(w.notes, sh) for w in ws if (sh := nearest_fit(w.notes)) is not None]
    return np.stack(rolls[:n_max])
