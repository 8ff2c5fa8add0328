"""Decoding between the continuous piano roll, note lists and PrettyMIDI (120 bpm, 16th grid = 0.125 s).

A sample x (2, 48, 64) is binarised at 0: channel 0 says a pitch sounds in a frame, channel 1 that a note starts
there. A note starts where the roll turns on (or where an onset is set inside a sounding run, splitting repeated
notes) and ends where the roll turns off; velocity is fixed at ``VELOCITY``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tasks.music.data import FPS, N_FRAMES, N_PITCH, PITCH_LO

VELOCITY = 100


def binarize(x0: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 2, 48, 64) floats -> roll and onset bool arrays, each (B, 48, 64)."""
    x = x0.detach().float().cpu().numpy() if isinstance(x0, torch.Tensor) else np.asarray(x0)
    return x[:, 0] > 0, x[:, 1] > 0


def roll_to_notes(roll: np.ndarray, onset: np.ndarray | None = None) -> np.ndarray:
    """One roll (48, 64) bool (+ onset) -> (n, 3) int notes (midi pitch, start frame, end frame), sorted by start."""
    split = np.zeros_like(roll) if onset is None else (onset & roll)
    pad = np.pad(roll, ((0, 0), (1, 1)))  # (48, 66)
    starts = (pad[:, 1:-1] & ~pad[:, :-2]) | (split & pad[:, :-2])  # (48, 64) note start frames
    out = []
    for p in range(roll.shape[0]):
        on = np.flatnonzero(starts[p])
        ends = np.flatnonzero(pad[p, 1:-1] & ~pad[p, 2:]) + 1  # run ends (exclusive)
        for s in on:
            e_run = ends[ends > s].min()
            nxt = on[(on > s) & (on < e_run)]
            out.append((p + PITCH_LO, int(s), int(nxt.min()) if len(nxt) else int(e_run)))
    arr = np.asarray(out, dtype=np.int64).reshape(-1, 3)
    return arr[np.lexsort((arr[:, 0], arr[:, 1]))]


def notes_to_pm(notes: np.ndarray, fps: float = FPS, program: int = 0) -> Any:
    """(n, 3) notes on the grid -> pretty_midi.PrettyMIDI with one piano instrument (120 bpm)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=program)
    inst.notes = [pretty_midi.Note(velocity=VELOCITY, pitch=int(p), start=s / fps, end=e / fps) for p, s, e in notes]
    pm.instruments.append(inst)
    return pm


def pm_to_x0(pm: Any, fps: float = FPS) -> torch.Tensor:
    """PrettyMIDI -> (2, 48, 64) roll in {-1, 1} via ``get_piano_roll`` (onsets from note starts)."""
    x = -torch.ones(2, N_PITCH, N_FRAMES)
    roll = pm.get_piano_roll(fs=fps)[PITCH_LO:PITCH_LO + N_PITCH, :N_FRAMES] > 0  # (48, T)
    x[0, :, :roll.shape[1]] = torch.from_numpy(roll).float() * 2 - 1
    for inst in pm.instruments:
        for n in inst.notes:
            f = int(round(n.start * fps))
            if PITCH_LO <= n.pitch < PITCH_LO + N_PITCH and f < N_FRAMES:
                x[1, n.pitch - PITCH_LO, f] = 1.0
    return x


def decode(x0: torch.Tensor) -> list[Any]:
    """(B, 2, 48, 64) -> PrettyMIDI objects; None for an empty roll (invalid sample)."""
    roll, onset = binarize(x0)
    return [notes_to_pm(roll_to_notes(r, o)) if r.any() else None for r, o in zip(roll, onset)]


def write_midi(pms: list[Any], folder: Path, prefix: str = "sample") -> list[Path]:
    """Write each non-None PrettyMIDI to ``folder/{prefix}_{k:03d}.mid``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, pm in enumerate(pms):
        if pm is not None:
            paths.append(folder / f"{prefix}_{k:03d}.mid")
            pm.write(str(paths[-1]))
    return paths
