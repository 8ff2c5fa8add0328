"""Parse music21's Bach chorales once into a compact note table (pretraining-only dependency).

The cache ``data/chorales_notes.npz`` holds, for every chorale in ``corpus.chorales.Iterator()``, its notes as
integer rows (piece, midi pitch, start, end) on a 16th-note grid, plus the piece names and time signatures.
Windows, splits and transpositions are computed from this table by ``tasks.music.data`` (no music21 needed).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

GRID_PER_QUARTER = 4  # 16th-note grid
NOTES_FILE = Path(__file__).parent / "data" / "chorales_notes.npz"


def _piece_notes(score) -> tuple[list[tuple[int, int, int]], str]:
    """(pitch, start, end) rows of one parsed score on the 16th grid, and its first time signature."""
    from music21 import chord, note

    merged = score.stripTies()
    rows: list[tuple[int, int, int]] = []
    for el in merged.flatten().notes:
        start = int(round(float(el.offset) * GRID_PER_QUARTER))
        end = int(round(float(el.offset + el.quarterLength) * GRID_PER_QUARTER))
        if end <= start:
            continue
        if isinstance(el, note.Note):
            rows.append((el.pitch.midi, start, end))
        elif isinstance(el, chord.Chord):
            rows.extend((p.midi, start, end) for p in el.pitches)
    ts = score.recurse().getElementsByClass("TimeSignature")
    return rows, (ts[0].ratioString if len(ts) else "4/4")


def build_cache(out: Path = NOTES_FILE) -> Path:
    """Parse every chorale (a few minutes on one core) and write the compressed note table."""
    from music21 import corpus

    names = list(corpus.chorales.Iterator(returnType="filename"))
    table: list[tuple[int, int, int, int]] = []
    sigs: list[str] = []
    for k, name in enumerate(names):
        rows, sig = _piece_notes(corpus.parse(name))
        table.extend((k, p, s, e) for p, s, e in rows)
        sigs.append(sig)
        if k % 50 == 0:
            log.info("parsed %d/%d chorales", k, len(names))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, notes=np.asarray(table, dtype=np.int16), names=np.asarray(names),
                        timesig=np.asarray(sigs))
    log.info("wrote %s: %d pieces, %d notes", out, len(names), len(table))
    return out


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    build_cache()
