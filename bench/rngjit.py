"""The CPU draws of ``bench.rng`` as compiled loops (numba), the same bits as its numpy passes.

``Streams.randn`` on CPU computes, for every word, SplitMix64(key + (counter + 1)·γ), then u = (top 52 bits)·2^-52,
x = u·XS[j] and the test u < RS[j] (j the low 9 bits). In numpy that is a dozen element-wise passes over memory
per word (7-9 ns a normal). Here the words of a 4,096-word block come from a branch-free loop that LLVM
vectorises (about 0.3 ns a word) and are decoded in a second, scalar loop while still in L1 (about 1.5 ns). The
arithmetic is the same: wrapping uint64 products and shifts, an exact float64 product, one rounding to float32,
so the output is identical bit for bit (``tests/test_rng.py`` compares the two paths). The words the fast path
rejects (about 1.5%) go through the same rounds as ``bench.rng._rejected``, in two compiled loops around numpy's
``exp`` and ``log1p`` (numpy's, so that no last-ulp difference between math libraries can flip a decision).

Without numba (``AVAILABLE`` False, or ``BENCH_NO_JIT=1``) ``bench.rng`` keeps its numpy passes: same draws,
slower.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

# numba is imported at the first compiled draw, not here: `bench` starts without paying its import (~0.6 s)
AVAILABLE = importlib.util.find_spec("numba") is not None and os.environ.get("BENCH_NO_JIT", "") in ("", "0")
_BLOCK = 4096  # words per block of _fast_normals (32 KB: L1)
_SCALE = 2.0**-52  # u = mantissa bits · 2^-52: exactly ((bits | 1.0) viewed as float) − 1.0, as rng._decode has it
_SCALE53 = 2.0**-53  # a uniform from a word's top 53 bits


def _row(first, key, count, gamma, m1, m2, out):  # pragma: no cover - jit
    """out[:count] (uint64) = SplitMix64(key + (c + 1)·γ) for counters c = first .. first + count − 1: the
    arithmetic of ``bench.rng._words_numpy`` in wrapping uint64; a loop with no branch, which LLVM vectorises."""
    for j in range(count):
        z = (first + np.uint64(j + 1)) * gamma + key
        z = (z ^ (z >> np.uint64(30))) * m1
        z = (z ^ (z >> np.uint64(27))) * m2
        out[j] = z ^ (z >> np.uint64(31))


def _words(keys, base, per_row, gamma, m1, m2, out):  # pragma: no cover - jit
    """Fill ``out`` (r·per_row,) uint64 with the rows' words for counters base .. base + per_row − 1, row-major."""
    for i in range(keys.shape[0]):
        _row(base[i], keys[i], per_row, gamma, m1, m2, out[i * per_row:(i + 1) * per_row])


def _decode(z, xs, rs):  # pragma: no cover - jit
    """One word's fast path, ``bench.rng._decode`` on a scalar: u = top 52 bits · 2^-52 (exact), x = u·XS[j] with
    j the low 9 bits (layer and sign); (x, whether u < RS[j])."""
    u = np.float64(np.int64(z >> np.uint64(12))) * _SCALE
    j = np.int64(z & np.uint64(511))
    return u * xs[j], u < rs[j]


def _fast_normals(keys, base, per_row, gamma, m1, m2, xs, rs, out, bad_pos, bad_word):  # pragma: no cover - jit
    """Fill ``out`` (r, per_row) float32 with the fast-path normals of rows' words; write each rejected word's flat
    position and word into ``bad_pos`` / ``bad_word``; return how many were rejected. Words are made a block at a
    time (vectorised), then decoded (the table lookups keep that loop scalar): 1.6x faster than one fused loop."""
    w = np.empty(_BLOCK, dtype=np.uint64)
    n_bad = 0
    for i in range(keys.shape[0]):
        for j0 in range(0, per_row, _BLOCK):
            m = min(_BLOCK, per_row - j0)
            _row(base[i] + np.uint64(j0), keys[i], m, gamma, m1, m2, w)
            for j in range(m):
                x, ok = _decode(w[j], xs, rs)
                out[i, j0 + j] = np.float32(x)
                if not ok:
                    bad_pos[n_bad] = i * per_row + j0 + j
                    bad_word[n_bad] = w[j]
                    n_bad += 1
    return n_bad


def _round_args(word, key, rnd, gamma, m1, m2, edges, s2, u0, u1, mag, arg):  # pragma: no cover - jit
    """One round of ``bench.rng._rejected`` up to its transcendentals, for each pending draw: its sub-stream's
    three words (the third kept in ``s2``), the uniforms u0, u1 of the first two, the candidate's |x| (``mag``)
    and the wedge's exponent −x²/2 (``arg``)."""
    w3 = np.empty(3, dtype=np.uint64)
    for i in range(word.shape[0]):
        _row(np.uint64(3 * rnd), key[i], 3, gamma, m1, m2, w3)
        u0[i] = np.float64(w3[0] >> np.uint64(11)) * _SCALE53
        u1[i] = np.float64(w3[1] >> np.uint64(11)) * _SCALE53
        s2[i] = w3[2]
        z = word[i]
        m = np.float64(np.int64(z >> np.uint64(12))) * _SCALE * edges[np.int64(z & np.uint64(255))]
        mag[i] = m
        arg[i] = -0.5 * m * m


def _round_decide(word, key, todo, s2, u0, mag, f_x, log0, log1, dens, xs, rs, r_tail, out):  # pragma: no cover
    """The rest of the round, given f(x) = exp(arg) and, for base-layer draws, log1p(−u0), log1p(−u1): keep a
    tail draw when 2·Exp(1) > e1², a wedge draw when its height is under f(x); a failed wedge redraws from the
    third word's fast path. Writes the finished draws into ``out`` and compacts the pending ones (word, key,
    todo) to the front; returns how many remain."""
    left = 0
    for i in range(word.shape[0]):
        z = word[i]
        layer = np.int64(z & np.uint64(255))
        if layer == 0:
            e1, e2 = -log0[i] / r_tail, -log1[i]
            keep, val = 2.0 * e2 > e1 * e1, r_tail + e1
        else:
            keep, val = dens[layer] + u0[i] * (dens[layer + 1] - dens[layer]) < f_x[i], mag[i]
        if keep:
            out[todo[i]] = -val if z & np.uint64(256) else val
            continue
        if layer != 0:  # a failed wedge: a fresh word's fast path
            z = s2[i]
            x, ok = _decode(z, xs, rs)
            if ok:
                out[todo[i]] = x
                continue
        word[left], key[left], todo[left] = z, key[i], todo[i]
        left += 1
    return left


@functools.cache
def _kernels():
    """The compiled loops (words, fast normals, a rejected round's two halves); compiled on first use and
    cached on disk by numba."""
    from numba import njit
    global _row, _decode  # the loops call these: compiled first, under the names they look up
    jit = njit(cache=True, nogil=True)
    _row, _decode = jit(_row), jit(_decode)
    return jit(_words), jit(_fast_normals), jit(_round_args), jit(_round_decide)


def words(keys: np.ndarray, base: np.ndarray, per_row: int, consts: tuple[np.uint64, np.uint64, np.uint64]
          ) -> np.ndarray:
    """(r, per_row) uint64 words of rows with stream keys ``keys`` and first counters ``base`` (r,) uint64."""
    out = np.empty(keys.shape[0] * per_row, dtype=np.uint64)  # (r·per_row,)
    _kernels()[0](keys, base, per_row, *consts, out)
    return out.reshape(keys.shape[0], per_row)


def fast_normals(keys: np.ndarray, base: np.ndarray, per_row: int, consts: tuple[np.uint64, np.uint64, np.uint64],
                 xs: np.ndarray, rs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fast path for rows with stream keys ``keys`` and first counters ``base`` (r,) uint64: the normals
    (r, per_row) float32 (rejected entries hold a placeholder), and the rejected entries' flat positions (m,) int64
    and words (m,) int64. ``consts`` = (γ, M1, M2) as uint64."""
    r = keys.shape[0]
    out = np.empty((r, per_row), dtype=np.float32)  # (r, per_row)
    bad_pos = np.empty(r * per_row, dtype=np.int64)  # untouched pages beyond the ~1.5% written cost nothing
    bad_word = np.empty(r * per_row, dtype=np.uint64)
    n_bad = _kernels()[1](keys, base, per_row, *consts, xs, rs, out, bad_pos, bad_word)
    return out, bad_pos[:n_bad].copy(), bad_word[:n_bad].view(np.int64).copy()


def rejected(w: np.ndarray, sub: int, consts: tuple[np.uint64, np.uint64, np.uint64], tables: tuple[np.ndarray, ...],
             r_tail: float) -> np.ndarray:
    """``bench.rng._rejected`` for rejected words (m,) int64 -> normals (m,) float64, with the same rounds and
    bits: the loops compiled, the transcendentals (exp, log1p) left to numpy so they are numpy's functions.
    ``tables`` = (edges, dens, xs, rs) as in ``bench.rng``."""
    _, _, prepare, decide = _kernels()
    edges, dens, xs, rs = tables
    word = w.view(np.uint64).copy()
    key = word ^ np.uint64(sub)
    todo = np.arange(len(w))
    out = np.zeros(len(w), dtype=np.float64)
    for rnd in range(10_000):  # each round leaves ~2% of what it is given
        p = len(todo)
        if not p:
            return out
        s2, u0, u1, mag, arg = np.empty(p, np.uint64), *(np.empty(p) for _ in range(4))
        prepare(word, key, rnd, *consts, edges, s2, u0, u1, mag, arg)
        tail = np.flatnonzero((word & np.uint64(255)) == 0)
        log0, log1 = np.zeros(p), np.zeros(p)
        log0[tail], log1[tail] = np.log1p(-u0[tail]), np.log1p(-u1[tail])
        left = decide(word, key, todo, s2, u0, mag, np.exp(arg), log0, log1, dens, xs, rs, r_tail, out)
        word, key, todo = word[:left], key[:left], todo[:left]
    raise RuntimeError("ziggurat: draws still rejected after 10,000 rounds")  # probability ~0.02^10000
