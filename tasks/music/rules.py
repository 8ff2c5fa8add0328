"""The SCG rules (Huang et al. 2024, anchors.md §3) on our grid: 64 frames of 0.125 s, 8 windows of 8 frames (1 s).

All exact rules read the binarised roll (channel 0 > 0), which equals pretty_midi's ``get_piano_roll(fs=8)`` of the
decoded MIDI; with a constant velocity the velocity weighting of the pitch histogram cancels in the normalisation.
- pitch histogram (12): per pitch class, the number of sounding (pitch, frame) cells, normalised to sum 1.
- note density (16): vertical = mean number of sounding pitches per frame of each window; horizontal = number of
  frames of the window holding an onset (0->1 transition of the roll, zero-padded) / ``H_SCALE``.
- chord progression (8): notes -> music21 stream, key = ``analyze('key')``, ``chordify()``, roman numeral of the
  chord with the longest overlap of each window, mapped to a degree 0..7 (SCG's ``chord_tag_num``).
Losses: MSE for the histogram and the density, 0-1 per slot for chords. Surrogates of the first two are smooth
functions of the continuous roll for gradient methods.
"""
from __future__ import annotations

import functools
import logging

import numpy as np
import torch
import torch.nn.functional as F

from tasks.music.data import N_FRAMES, PITCH_LO
from tasks.music.midi import binarize, roll_to_notes

log = logging.getLogger(__name__)

WIN = 8  # frames per rule window (half a bar, 1 s at 120 bpm)
N_WIN = N_FRAMES // WIN
H_SCALE = 1.0  # SCG divides by 5 at fs=100; on a 16th grid raw onset-frame counts are already on the vertical scale
SEC_PER_QUARTER = 0.5  # 120 bpm
TAU = 0.1  # temperature of the soft roll sigmoid(x / TAU) for the surrogates
RULES = ("pitch_histogram", "note_density", "chord_progression")


def pitch_histogram(roll: np.ndarray) -> np.ndarray:
    """(B, 48, 64) bool -> (B, 12) normalised pitch-class occupancy (class 0 = C)."""
    per_pitch = roll.sum(-1).astype(np.float64)  # (B, 48)
    pcs = (np.arange(roll.shape[1]) + PITCH_LO) % 12
    h = np.stack([per_pitch[:, pcs == c].sum(1) for c in range(12)], axis=1)  # (B, 12)
    return h / (h.sum(1, keepdims=True) + 1e-12)


def onsets(roll: np.ndarray) -> np.ndarray:
    """0->1 transitions along time, zero-padded at the start: (B, 48, 64) bool."""
    prev = np.concatenate([np.zeros_like(roll[..., :1]), roll[..., :-1]], axis=-1)
    return roll & ~prev


def note_density(roll: np.ndarray) -> np.ndarray:
    """(B, 48, 64) bool -> (B, 16): 8 vertical then 8 horizontal densities."""
    b = roll.shape[0]
    vert = roll.sum(1).reshape(b, N_WIN, WIN).mean(-1)  # (B, 8)
    horiz = onsets(roll).any(1).reshape(b, N_WIN, WIN).sum(-1) / H_SCALE  # (B, 8)
    return np.concatenate([vert, horiz], axis=1).astype(np.float64)


def chord_tag_num(figure: str) -> int:
    """SCG's degree of a roman-numeral figure; the check order matters (VII, VI, IV, V, III, II, I)."""
    for token, deg in (("VII", 7), ("VI", 6), ("IV", 4), ("V", 5), ("III", 3), ("II", 2), ("I", 1)):
        if token in figure or token.lower() in figure:
            return deg
    return 0


def notes_to_stream(notes: np.ndarray):  # -> music21.stream.Stream
    """(n, 3) grid notes -> a flat music21 stream (quarterLength = frames / 4)."""
    from music21 import note, stream

    s = stream.Stream()
    for p, st, en in notes:
        n = note.Note(int(p))
        n.quarterLength = (en - st) / 4.0
        s.insert(st / 4.0, n)
    return s


def chords_from_notes(notes: np.ndarray) -> np.ndarray:
    """(n, 3) grid notes -> (8,) int chord degrees; all 0 when no key is found."""
    from music21 import chord, key, roman
    from music21.analysis.discrete import DiscreteAnalysisException

    out = np.zeros(N_WIN, dtype=np.int64)
    if len(notes) == 0:
        return out
    s = notes_to_stream(notes)
    try:
        k = key.Key(str(s.analyze("key")).split(" ")[0])
    except DiscreteAnalysisException:
        return out
    spans = []
    for c in s.chordify().flatten().getElementsByClass(chord.Chord):
        start = float(c.offset) * SEC_PER_QUARTER
        spans.append((start, start + float(c.quarterLength) * SEC_PER_QUARTER,
                      chord_tag_num(str(roman.romanNumeralFromChord(c, k).figure))))
    win_sec = WIN / 8.0
    for w in range(N_WIN):
        lo, hi = w * win_sec, (w + 1) * win_sec
        overlaps = [max(0.0, min(e, hi) - max(s0, lo)) for s0, e, _ in spans]
        if overlaps and max(overlaps) > 0:
            out[w] = spans[int(np.argmax(overlaps))][2]
    return out


@functools.lru_cache(maxsize=None)
def _profiles() -> tuple[np.ndarray, np.ndarray]:
    """Key profiles of music21's default ``analyze('key')`` method (AardenEssen, a Krumhansl-style correlation)."""
    from music21.analysis import discrete

    m = discrete.analysisClassFromMethodName("key")()
    return np.asarray(m.getWeights("major"), float), np.asarray(m.getWeights("minor"), float)


def ks_key(notes: np.ndarray) -> tuple[int, str] | None:
    """music21's ``analyze('key')`` (duration-weighted profile correlation) in numpy: (tonic pc, mode)."""
    dist = np.zeros(12)
    np.add.at(dist, notes[:, 0] % 12, (notes[:, 2] - notes[:, 1]) / 4.0)
    if not dist.any():
        return None
    best, arg = -np.inf, None
    for mode, prof in zip(("major", "minor"), _profiles()):
        rot = np.stack([np.roll(prof, i) for i in range(12)])  # (12 tonics, 12 pcs)
        a, b = rot - prof.mean(), dist - dist.mean()
        corr = (a @ b) / np.sqrt((a ** 2).sum(1) * (b ** 2).sum())  # (12,)
        i = int(np.argmax(corr))
        if corr[i] > best:
            best, arg = corr[i], (i, mode)
    return arg


@functools.lru_cache(maxsize=None)
def _key_object(pc: int, mode: str):  # -> music21.key.Key
    """The Key music21 would build for (pc, mode), with its enharmonic spelling, via SCG's string round-trip."""
    from music21 import analysis, key, pitch

    tonic = analysis.discrete.analysisClassFromMethodName("key")()._bestKeyEnharmonic(pitch.Pitch(pc), mode)
    return key.Key(str(key.Key(tonic, mode)).split(" ")[0])


@functools.lru_cache(maxsize=200_000)
def _degree(pitches: tuple[int, ...], pc: int, mode: str) -> int:
    """Chord degree of the chord with these MIDI pitches in the key (pc, mode)."""
    from music21 import chord, note, roman

    c = chord.Chord([note.Note(p) for p in pitches])  # spelled like notes (Chord([ints]) respells)
    return chord_tag_num(str(roman.romanNumeralFromChord(c, _key_object(pc, mode)).figure))


def canonical_chord(pitches: list[int]) -> tuple[int, ...]:
    """Bass pitch class in octave 2, the other pitch classes once above it (the bass doubled if it recurs).

    The degree depends only on the bass and the pitch-class set (checked against music21 on random chords in
    tests), so this collapses octave doublings and voicings onto one cache entry.
    """
    bass = 36 + pitches[0] % 12
    ups = sorted({(p - pitches[0]) % 12 for p in pitches[1:]} - {0})
    dbl = (bass + 12,) if any((p - pitches[0]) % 12 == 0 for p in pitches[1:]) else ()
    return tuple(sorted((bass, *(bass + u for u in ups), *dbl)))


def chords_fast(notes: np.ndarray) -> np.ndarray:
    """Same as ``chords_from_notes`` without building a stream: numpy key finding and chordify, cached numerals."""
    out = np.zeros(N_WIN, dtype=np.int64)
    k = ks_key(notes) if len(notes) else None
    if k is None:
        return out
    cuts = np.unique(np.concatenate([notes[:, 1], notes[:, 2]]))  # segment boundaries (frames)
    spans = []  # (start, end, sounding pitches) of every chordified segment, in quarter lengths
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        sounding = notes[(notes[:, 1] <= lo) & (notes[:, 2] >= hi), 0]
        if len(sounding):
            spans.append((lo / 8.0, hi / 8.0, sounding))
    for w in range(N_WIN):  # only the longest-overlap chord of each window needs its numeral
        lo, hi = w * WIN / 8.0, (w + 1) * WIN / 8.0
        overlaps = [max(0.0, min(e, hi) - max(s0, lo)) for s0, e, _ in spans]
        if overlaps and max(overlaps) > 0:
            out[w] = _degree(canonical_chord(sorted(spans[int(np.argmax(overlaps))][2].tolist())), *k)
    return out


@functools.lru_cache(maxsize=50_000)
def _chords_cached(key_bytes: bytes) -> tuple[int, ...]:
    notes = np.frombuffer(key_bytes, dtype=np.int64).reshape(-1, 3)
    return tuple(chords_fast(notes).tolist())


def chord_progression(roll: np.ndarray, onset: np.ndarray | None = None) -> np.ndarray:
    """(B, 48, 64) bool (+ onset) -> (B, 8) chord degrees (cached on the decoded notes)."""
    rows = []
    for k in range(roll.shape[0]):
        notes = roll_to_notes(roll[k], None if onset is None else onset[k])
        rows.append(_chords_cached(np.ascontiguousarray(notes).tobytes()))
    return np.asarray(rows, dtype=np.int64).reshape(-1, N_WIN)


def rule_values(x0: torch.Tensor | np.ndarray, rule: str) -> np.ndarray:
    """Rule vector of each sample of a (B, 2, 48, 64) batch."""
    roll, onset = binarize(x0)
    if rule == "pitch_histogram":
        return pitch_histogram(roll)
    if rule == "note_density":
        return note_density(roll)
    if rule == "chord_progression":
        return chord_progression(roll, onset)
    raise ValueError(f"unknown rule {rule!r}; choose from {RULES}")


def rule_loss(values: np.ndarray, target: np.ndarray, rule: str) -> np.ndarray:
    """(B, d) values vs (B, d) targets -> (B,) loss (MSE, or 0-1 per slot for chords)."""
    if rule == "chord_progression":
        return (values != target).mean(1).astype(np.float64)
    return ((values - target) ** 2).mean(1)


def soft_roll(x0: torch.Tensor) -> torch.Tensor:
    """Differentiable sounding probability of each cell: (B, 2, 48, 64) -> (B, 48, 64)."""
    return torch.sigmoid(x0[:, 0] / TAU)


def soft_pitch_histogram(x0: torch.Tensor) -> torch.Tensor:
    """Surrogate of ``pitch_histogram`` on the continuous roll: (B, 12), differentiable."""
    a = soft_roll(x0).sum(-1)  # (B, 48)
    h = a.view(a.shape[0], -1, 12).sum(1)  # (B, 12); PITCH_LO = 36 is a C
    return h / (h.sum(1, keepdim=True) + 1e-12)


def soft_note_density(x0: torch.Tensor) -> torch.Tensor:
    """Surrogate of ``note_density`` on the continuous roll: (B, 16), differentiable."""
    a = soft_roll(x0)  # (B, 48, 64)
    b = a.shape[0]
    vert = a.sum(1).view(b, N_WIN, WIN).mean(-1)  # (B, 8)
    on = F.relu(a - F.pad(a, (1, 0))[..., :-1])  # (B, 48, 64) soft onsets
    frame_on = 1 - torch.exp(torch.log1p(-on.clamp(max=1 - 1e-6)).sum(1))  # (B, 64) P(any onset)
    horiz = frame_on.view(b, N_WIN, WIN).sum(-1) / H_SCALE  # (B, 8)
    return torch.cat([vert, horiz], dim=1)


assert PITCH_LO % 12 == 0, "soft_pitch_histogram assumes the lowest pitch is a C"
