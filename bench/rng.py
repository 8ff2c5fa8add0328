"""Per-sample random streams, counter-based and vectorised.

One stream per returned sample (or per population for coupled methods), keyed by (seed, sample index). Every
row of a batch carries the index of the stream it draws from (its *owner*). A stream's k-th number is
SplitMix64(key + k·γ) — SplitMix64's own output sequence — so a row's draws depend only on its stream's key and
how many numbers that stream has produced: never on the batch size, the other rows, or the device. All streams
are drawn in one vectorised call (no per-sample Python loop, no per-sample kernel launch).

Normals (``NORMALS``) take one word each through a 256-layer ziggurat (Marsaglia & Tsang 2000, in Doornik's 2005
layout): the word's low 8 bits pick a layer, bit 8 the sign, its top 52 bits a uniform u, and x = u·X[layer] is
returned when u < X[layer+1]/X[layer] (98.5% of words; an exact float64 product, so the same bits on every CPU
kernel and device). The rest (the base layer's tail, a layer's wedge) are resolved from a sub-stream keyed by the
rejected word itself, so they too depend only on (stream key, counter). No transcendental function runs on the
fast path; Box–Muller, the earlier layout, spent 28 ns a normal on two words, a log, a sqrt and a cos.

On CPU the words and the fast path run in numpy passes, or, when numba is installed, in compiled loops
(``bench.rngjit``: the same arithmetic, the same bits, 3-5x faster).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from bench import rngjit

_GAMMA = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64
_M1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_M2 = -7723592293110705685  # 0x94D049BB133111EB
BLOCK = 1 << 16  # words per block of a CPU draw (512 KB of int64 plus scratch: about L2; 1<<15 was 1.3x slower)
_U64 = {k: np.uint64(v & (2**64 - 1)) for k, v in (("gamma", _GAMMA), ("m1", _M1), ("m2", _M2))}
_MIX = (_U64["gamma"], _U64["m1"], _U64["m2"])  # SplitMix64's constants as the compiled loops take them
NORMALS = "ziggurat256-v1"  # what a normal draw is; records of a family that draws normals hash it
_M52, _ONE = (1 << 52) - 1, 0x3FF0000000000000  # mantissa mask; the bits of 1.0
_SUB = 0x5DEECE66D2545F49  # keys a rejected word's sub-stream (any odd constant apart from the keys' own)


def _ziggurat() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Layer edges X (257,), X[0] = V/f(R) (the base layer with its tail), X[1] = R, X[256] = 0; the density f
    at each edge (257,); and the signed lookup tables of ``_decode``: XS (512,) = ±X[i], RS (512,) =
    X[i+1]/X[i], indexed by a word's low 9 bits. R and V (each layer's area) as in Marsaglia & Tsang."""
    r, v = 3.6541528853610088, 0.00492867323399
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    edges = [v / f(r), r]
    for _ in range(254):
        edges.append(math.sqrt(-2.0 * math.log(v / edges[-1] + f(edges[-1]))))
    x = np.array([*edges, 0.0])  # (257,)
    dens = np.array([f(e) for e in x])  # (257,)
    xs = np.concatenate([x[:-1], -x[:-1]])  # (512,): bit 8 set -> negative
    rs = np.tile(x[1:] / x[:-1], 2)  # (512,)
    return np.stack([x, dens]), xs, rs, r


_ZIG_EDGES, _ZIG_XS, _ZIG_RS, _ZIG_R = _ziggurat()


def _decode(w, xs, rs, f64):
    """The ziggurat's fast path on int64 words, numpy or torch alike (the CPU path runs it in numpy, other
    devices in torch): u in [0, 1) from the top 52 bits, x = u·XS[j] with j the low 9 bits (layer and sign), and
    whether u < RS[j] (x lies inside the layer's rectangle, so it is a normal draw as it is)."""
    u = ((w >> 12) & _M52 | _ONE).view(f64) - 1.0  # (..) exact: 52 random mantissa bits
    j = w & 511
    return u * xs.take(j), u < rs.take(j)


def stream_seed(seed: int, index: int) -> int:
    """A 63-bit key for stream ``index`` of run ``seed`` (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint64)[0] >> 1)


def _srl(x: torch.Tensor, k: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Logical right shift of int64 (into ``out`` when given)."""
    out = torch.bitwise_right_shift(x, k, out=out) if out is not None else x >> k
    return out.bitwise_and_((1 << (64 - k)) - 1)


def splitmix64(z: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """The SplitMix64 finaliser on int64 tensors (wrapping arithmetic); ``inplace`` overwrites ``z``. The steps
    run in place on one scratch buffer: allocation, not arithmetic, was most of its time (4x faster, same bits)."""
    z = z if inplace else z.clone()
    tmp = torch.empty_like(z)
    z.bitwise_xor_(_srl(z, 30, tmp)).mul_(_M1)
    z.bitwise_xor_(_srl(z, 27, tmp)).mul_(_M2)
    return z.bitwise_xor_(_srl(z, 31, tmp))


class _Backend:
    """Where a draw's element-wise work runs: numpy on CPU (its uint64 arithmetic and gathers are faster than
    torch's), torch on other devices; ``_decode`` and ``_rejected`` are written once for both."""

    def __init__(self, streams: "Streams") -> None:
        self.cpu = streams.device.type == "cpu" and streams.numpy
        self.xp, self.f64 = (np, np.float64) if self.cpu else (torch, torch.float64)
        self.device = streams.device
        self._words = streams._words
        tabs = (*_ZIG_EDGES, _ZIG_XS, _ZIG_RS)
        self.edges, self.dens, self.xs, self.rs = tabs if self.cpu else (torch.from_numpy(t).to(self.device)
                                                                           for t in tabs)

    def words(self, keys, base, per_row: int):
        """(r, per_row) int64 words (numpy array on CPU, tensor elsewhere)."""
        if self.cpu:
            return _words_numpy(keys, base, per_row).view(np.int64)
        return self._words(keys, base, per_row)

    def flat_nonzero(self, mask):
        """Flat positions of the true entries."""
        return mask.reshape(-1).nonzero()[0] if self.cpu else mask.reshape(-1).nonzero().squeeze(1)

    def float64(self, a):
        """An exact conversion of integers below 2^53 (torch would promote to float32 by default)."""
        return a.astype(np.float64) if self.cpu else a.double()

    def tensor(self, a) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)) if self.cpu else a


def _rejected(w, be: _Backend):
    """Normals for the words whose fast path failed (m,) int64 -> (m,) float64. Each round gives every pending
    draw three words of its sub-stream (key = word ^ _SUB, counters 3·round ..): in the base layer, Marsaglia's
    tail draw x = R + e1, e1 = Exp(1)/R, kept when 2·Exp(1) > e1²; in layer i >= 1, the wedge test
    f(X[i]) + U·(f(X[i+1]) - f(X[i])) < f(x), and on failure a fresh word's fast path (whose own rejection goes
    to the next round)."""
    if be.cpu and rngjit.AVAILABLE:  # the same rounds in compiled loops, numpy's exp and log1p
        return rngjit.rejected(w, _SUB, _MIX,
                               (*_ZIG_EDGES, _ZIG_XS, _ZIG_RS), _ZIG_R)
    xp, key, word = be.xp, w ^ _SUB, w.copy() if be.cpu else w.clone()
    out = xp.zeros(w.shape, dtype=be.f64) if be.cpu else torch.zeros(w.shape, dtype=be.f64, device=be.device)
    todo = xp.arange(len(w)) if be.cpu else torch.arange(len(w), device=be.device)
    for rnd in range(10_000):  # each round leaves ~2% of what it is given
        if not len(todo):
            return out
        kt = key[todo]
        s = be.words(kt, kt * 0 + 3 * rnd, 3)  # (p, 3)
        uni = be.float64((s >> 11) & ((1 << 53) - 1)) * 2.0**-53  # (p, 3) in [0, 1), exact
        wd = word[todo]
        layer, neg = wd & 255, (wd & 256) != 0
        mag = (((wd >> 12) & _M52 | _ONE).view(be.f64) - 1.0) * be.edges[layer]  # (p,) |x| of the candidate
        tail, wedge = layer == 0, layer != 0
        val, keep = mag.copy() if be.cpu else mag.clone(), xp.zeros_like(tail)
        ut = uni[tail]  # (p_tail, 3): the ~2% in the base layer; the logs run on these alone
        e1, e2 = -xp.log1p(-ut[:, 0]) / _ZIG_R, -xp.log1p(-ut[:, 1])  # Exp(1)/R, Exp(1)
        keep[tail], val[tail] = 2.0 * e2 > e1 * e1, _ZIG_R + e1
        lw, mw = layer[wedge], mag[wedge]  # (p_wedge,)
        y = be.dens[lw] + uni[:, 0][wedge] * (be.dens[lw + 1] - be.dens[lw])
        keep[wedge] = y < xp.exp(-0.5 * mw * mw)
        val = xp.where(neg, -val, val)
        fresh, fresh_ok = _decode(s[:, 2], be.xs, be.rs, be.f64)
        redraw = ~tail & ~keep  # a failed wedge starts over from a fresh word
        val = xp.where(redraw, fresh, val)
        done = keep | (redraw & fresh_ok)
        word[todo[redraw]] = s[:, 2][redraw]
        out[todo[done]] = val[done]
        todo = todo[~done]
    raise RuntimeError("ziggurat: draws still rejected after 10,000 rounds")  # probability ~0.02^10000


def _words_numpy(keys: torch.Tensor, base: torch.Tensor, per_row: int) -> np.ndarray:
    """The words of ``Streams._words`` computed in numpy's uint64 (CPU): the same wrapping arithmetic, with a
    native logical shift instead of shift-and-mask, about 1.3x faster than torch's int64 ops for the same bits
    (a compiled loop, about 10x faster again, when numba is installed)."""
    k, b = np.asarray(keys).view(np.uint64), np.asarray(base).view(np.uint64)
    if rngjit.AVAILABLE:  # the same arithmetic in one compiled loop
        return rngjit.words(k, b, per_row, _MIX)
    z = np.arange(1, per_row + 1, dtype=np.uint64)[None, :] + b[:, None]  # (r, per_row): counter + 1
    z *= _U64["gamma"]
    z += k[:, None]  # key + (k + 1)·γ
    tmp = np.empty_like(z)
    for shift, mul in ((30, _U64["m1"]), (27, _U64["m2"]), (31, None)):
        np.right_shift(z, np.uint64(shift), out=tmp)
        z ^= tmp
        if mul is not None:
            z *= mul
    return z


class Streams:
    """A bank of counter-based streams; ``owner`` tensors route each row's draws to its stream."""

    def __init__(self, seed: int, indices: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.keys = torch.tensor([stream_seed(seed, i) for i in indices], dtype=torch.int64, device=self.device)
        self.counters = torch.zeros_like(self.keys)
        self.numpy = self.device.type == "cpu"  # element-wise work in numpy (False: torch, as on other devices)

    def __len__(self) -> int:
        return self.keys.numel()

    def _claim(self, owner: torch.Tensor, per_row: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's stream key and first counter, (R,) each, for ``per_row`` words a row; each stream's rows take
        consecutive counters in row order, and the stream counters advance past them."""
        owner = owner.to(self.device).long()
        order = torch.argsort(owner, stable=True)
        sorted_owner = owner[order]
        start = torch.searchsorted(sorted_owner, sorted_owner)  # first row of each owner's group
        rank = torch.empty_like(owner)
        rank[order] = torch.arange(owner.numel(), device=self.device) - start
        base = self.counters[owner] + rank * per_row  # (R,)
        self.counters += torch.bincount(owner, minlength=len(self)) * per_row
        return self.keys[owner], base

    def _words(self, keys: torch.Tensor, base: torch.Tensor, per_row: int) -> torch.Tensor:
        """(r, per_row) int64 words: SplitMix64(key + (counter + 1)·γ) for counters base .. base + per_row - 1."""
        idx = base[:, None] + torch.arange(per_row, device=self.device)  # (r, per_row)
        z = idx.add_(1).mul_(_GAMMA).add_(keys[:, None])  # key + (k + 1)·γ
        return splitmix64(z, inplace=True)

    def _raw(self, keys: torch.Tensor, base: torch.Tensor, per_row: int) -> torch.Tensor:
        """``_words`` as int64 on this device (computed in numpy on CPU, ``_words_numpy``)."""
        if self.numpy:
            return torch.from_numpy(_words_numpy(keys, base, per_row).view(np.int64))
        return self._words(keys, base, per_row)

    def _uniforms(self, keys: torch.Tensor, base: torch.Tensor, per_row: int) -> torch.Tensor:
        """(r, per_row) float64 uniforms in [0, 1): the top 53 bits of each word times 2^-53 (the shifted word
        fits in 53 bits, so its int64 -> float64 conversion is exact)."""
        bits = self._raw(keys, base, per_row)
        return _srl(bits, 11, bits).double().mul_(2.0**-53)

    def _bits(self, owner: torch.Tensor, per_row: int) -> torch.Tensor:
        """(R, per_row) int64 random words of the rows' streams."""
        return self._words(*self._claim(owner, per_row), per_row)

    def _blocks(self, rows: int, per_row: int) -> range:
        """Row starts of the blocks a draw is computed in: on CPU about BLOCK words each, so the dozen element-wise
        passes of a draw run in cache (memory traffic, not arithmetic, bounds them); one block elsewhere."""
        step = max(1, BLOCK // max(1, per_row)) if self.device.type == "cpu" else max(1, rows)
        return range(0, rows, step)

    def rand(self, owner: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform [0, 1) float64 draws of shape (len(owner), *shape), 53-bit resolution."""
        size = int(np.prod(shape)) if shape else 1
        keys, base = self._claim(owner, size)
        out = torch.empty((len(keys), size), dtype=torch.float64, device=self.device)
        blocks = self._blocks(len(keys), size)
        for lo in blocks:
            hi = lo + blocks.step
            out[lo:hi] = self._uniforms(keys[lo:hi], base[lo:hi], size)  # (r, size)
        return out.view(len(keys), *shape)

    def randn(self, owner: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal float32 draws of shape (len(owner), *shape): one word each through the ziggurat. The
        fast path runs first (block by block, or in one compiled loop); the ~1.5% of words it rejects are
        resolved together at the end."""
        size = int(np.prod(shape)) if shape else 1
        keys, base = self._claim(owner, size)
        be = _Backend(self)
        if be.cpu and rngjit.AVAILABLE:  # the same fast path in one compiled loop (bench.rngjit)
            x, pos, rejected = rngjit.fast_normals(keys.numpy().view(np.uint64), base.numpy().view(np.uint64), size,
                                                   _MIX, _ZIG_XS, _ZIG_RS)
            out = torch.from_numpy(x)  # (R, size)
        else:
            out, pos, rejected = self._fast_blocks(keys, base, size, be)
        if len(pos):
            out.view(-1)[be.tensor(pos).to(self.device)] = be.tensor(_rejected(rejected, be)).to(out)
        return out.view(len(keys), *shape)

    def _fast_blocks(self, keys: torch.Tensor, base: torch.Tensor, size: int, be: _Backend):
        """The fast path block by block: (R, size) float32 normals (rejected entries hold a placeholder), and the
        rejected entries' flat positions and words (numpy arrays on CPU, tensors elsewhere)."""
        out = torch.empty((len(keys), size), dtype=torch.float32, device=self.device)
        blocks, pos, rejected = self._blocks(len(keys), size), [], []
        for lo in blocks:
            hi = lo + blocks.step
            w = be.words(keys[lo:hi], base[lo:hi], size)  # (r, size) int64
            x, ok = _decode(w, be.xs, be.rs, be.f64)  # (r, size) each
            out[lo:hi] = be.tensor(x)
            bad = be.flat_nonzero(~ok)
            pos.append(bad + lo * size)
            rejected.append(w.reshape(-1)[bad])
        if not pos:  # no rows
            return out, [], []
        cat = np.concatenate if be.cpu else torch.cat
        return out, cat(pos), cat(rejected)

    def categorical(self, owner: torch.Tensor, probs: torch.Tensor, k: int = 1) -> torch.Tensor:
        """``k`` draws per row (and per leading position) from ``probs`` (R, ..., V) by inverse CDF -> (R·k, ...)
        long, row-major (row i's draws at i·k .. i·k + k − 1): the same draws as ``k`` repeated rows, each row's CDF
        built once and searched for all k uniforms."""
        pos = tuple(probs.shape[1:-1])
        u = self.rand(owner.repeat_interleave(k), pos).to(probs.device)  # (R·k, ...)
        u = u.view(-1, k, *pos).movedim(1, -1)  # (R, ..., k): the k uniforms of a row beside its CDF
        cdf = probs.double().cumsum(-1)  # (R, ..., V)
        cdf = cdf / cdf[..., -1:].clamp_min(1e-300)
        idx = torch.searchsorted(cdf.contiguous(), u.contiguous())  # (R, ..., k)
        return idx.clamp_(max=probs.shape[-1] - 1).movedim(-1, 1).reshape(-1, *pos)  # (R·k, ...)
