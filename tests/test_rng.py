"""The counter-based streams (`bench.rng`): their words are SplitMix64's output sequence, checked against a
plain-Python SplitMix64; draws depend only on (stream key, counter), not on batch composition."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from bench.rng import Streams, splitmix64, stream_seed

MASK = (1 << 64) - 1


def splitmix64_reference(state: int, count: int) -> list[int]:
    """Vigna's SplitMix64 next() on Python ints: the first ``count`` outputs from ``state``, as unsigned 64-bit."""
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append(z ^ (z >> 31))
    return out


def _signed(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


def test_stream_words_are_splitmix64_outputs():
    st = Streams(7, [0, 5])
    owner = torch.tensor([1, 0, 1])  # stream 1 twice: its rows take consecutive counters
    got = st._bits(owner, 3)  # (3, 3)
    ref0 = splitmix64_reference(stream_seed(7, 0), 3)
    ref1 = splitmix64_reference(stream_seed(7, 5), 6)
    assert got[1].tolist() == [_signed(u) for u in ref0]
    assert got[0].tolist() == [_signed(u) for u in ref1[:3]] and got[2].tolist() == [_signed(u) for u in ref1[3:]]
    assert st.counters.tolist() == [3, 6]


def test_finaliser_leaves_its_input_alone_unless_asked():
    z = torch.tensor([0, 1, -1, 2**62], dtype=torch.int64)
    before = z.clone()
    out = splitmix64(z)
    assert torch.equal(z, before) and not torch.equal(out, before)
    assert torch.equal(splitmix64(z.clone(), inplace=True), out)


def test_uniforms_are_the_reference_transform_of_the_words():
    st, ref = Streams(3, [0]), splitmix64_reference(stream_seed(3, 0), 2)
    u = st.rand(torch.tensor([0]), (2,))[0].tolist()
    assert u == [(w >> 11) * 2.0**-53 for w in ref[:2]]


# The ziggurat, written again from its definition on Python floats (Marsaglia & Tsang's R and V; Doornik's layout:
# layer i covers |x| < X[i], its rectangle |x| < X[i+1]).
ZR, ZV, SUB, M52 = 3.6541528853610088, 0.00492867323399, 0x5DEECE66D2545F49, (1 << 52) - 1


def _density(x: float) -> float:
    return math.exp(-0.5 * x * x)


def _edges() -> list[float]:
    xs = [ZV / _density(ZR), ZR]
    while len(xs) < 256:
        xs.append(math.sqrt(-2.0 * math.log(ZV / xs[-1] + _density(xs[-1]))))
    return [*xs, 0.0]


def ziggurat_reference(word: int, edges: list[float]) -> tuple[float, str]:
    """One normal from one unsigned 64-bit word, and which path made it (fast / wedge / tail)."""
    def fast(w: int) -> tuple[int, bool, float, bool]:
        i, neg, u = w & 255, bool(w >> 8 & 1), ((w >> 12) & M52) * 2.0**-52
        return i, neg, u * edges[i], u < edges[i + 1] / edges[i]

    i, neg, x, ok = fast(word)
    if ok:
        return (-x if neg else x), "fast"
    sub = splitmix64_reference(word ^ SUB, 60)  # the rejected word's sub-stream: three words a round
    for rnd in range(20):
        u0, u1 = ((w >> 11) * 2.0**-53 for w in sub[3 * rnd:3 * rnd + 2])
        if i == 0:
            e1, e2 = -math.log1p(-u0) / ZR, -math.log1p(-u1)
            if 2.0 * e2 > e1 * e1:
                return (-(ZR + e1) if neg else ZR + e1), "tail"
            continue
        if _density(edges[i]) + u0 * (_density(edges[i + 1]) - _density(edges[i])) < _density(x):
            return (-x if neg else x), "wedge"
        i, neg, x, ok = fast(sub[3 * rnd + 2])
        if ok:
            return (-x if neg else x), "wedge"
    raise AssertionError("no draw in 20 rounds")


def test_normals_are_the_reference_ziggurat_of_the_words():
    """100,000 normals of one stream, bit for bit (as float32) the reference ziggurat of its SplitMix64 words,
    with every path taken: the fast one, a wedge's redraw and the base layer's tail."""
    n, edges = 100_000, _edges()
    got = Streams(5, [0]).randn(torch.tensor([0]), (n,))[0].numpy()  # (n,) float32
    ref = [ziggurat_reference(w, edges) for w in splitmix64_reference(stream_seed(5, 0), n)]
    paths = Counter(p for _, p in ref)
    assert paths["wedge"] > 0 and paths["tail"] > 0, paths
    assert np.array_equal(got, np.array([v for v, _ in ref], dtype=np.float32))


def test_normals_agree_between_the_numpy_and_torch_paths():
    """Other devices run the ziggurat in torch; on the same words it must give the same bits as numpy."""
    a, b = Streams(11, range(40)), Streams(11, range(40))
    b.numpy = False
    owner = torch.arange(40).repeat(3)
    assert torch.equal(a.randn(owner, (7, 61)), b.randn(owner, (7, 61)))


def test_normals_are_standard_normal():
    """2^21 draws from many streams: Kolmogorov–Smirnov, the mass beyond the base layer's edge R (the tail
    path) and a 64-bin chi-square, each at a false-alarm rate of 1e-6."""
    from scipy import stats
    x = Streams(0, range(256)).randn(torch.arange(256), (8192,)).double().flatten().numpy()  # (2^21,)
    n, alpha = x.size, 1e-6
    assert stats.kstest(x, "norm").pvalue > alpha
    p_tail = 2 * stats.norm.sf(ZR)
    z = ((np.abs(x) > ZR).sum() - n * p_tail) / math.sqrt(n * p_tail * (1 - p_tail))
    assert abs(z) < stats.norm.isf(alpha / 2)
    counts = np.bincount(np.minimum((stats.norm.cdf(x) * 64).astype(int), 63), minlength=64)
    assert stats.chisquare(counts).pvalue > alpha


def test_draws_do_not_depend_on_batch_composition():
    a, b = Streams(0, range(6)), Streams(0, range(6))
    whole = a.randn(torch.arange(6), (4, 5))  # (6, 4, 5)
    parts = torch.cat([b.randn(torch.tensor([4, 5]), (4, 5)), b.randn(torch.tensor([0, 1, 2, 3]), (4, 5))])
    assert torch.equal(whole[[4, 5, 0, 1, 2, 3]], parts)


def test_numpy_words_are_the_torch_words_bit_for_bit():
    """The CPU path computes the words in numpy uint64; the torch int64 path (other devices) must give the same
    bits, including keys and counters whose products wrap past 2^63."""
    from bench.rng import _words_numpy
    gen = torch.Generator().manual_seed(0)
    keys = torch.randint(-2**63, 2**63 - 1, (9,), generator=gen, dtype=torch.int64)
    base = torch.cat([torch.tensor([0, 1, 2**62, 2**63 - 40]), torch.randint(0, 2**40, (5,), generator=gen)])
    st = Streams(0, [0])
    want = st._words(keys, base, 37)  # (9, 37) int64
    got = torch.from_numpy(_words_numpy(keys, base, 37).view(np.int64))
    assert torch.equal(got, want)


def test_records_of_a_family_drawing_normals_hash_their_generator(monkeypatch):
    """A change of the normal draws changes every continuous record's values, so it must change their config
    hash (resume and the CI baseline key on it); discrete families draw uniforms only and hash as before."""
    from bench.diffusion.gaussian import GaussianFamily
    from bench.rng import NORMALS
    from bench.runner import Cell, header
    gmm, toy = (Cell(task=t, method="none", objective=o, n=8, steps=4) for t, o in (("gmm", "linear"),
                                                                                     ("toyseq", "pattern")))
    before = header(gmm)
    assert before["normals"] == NORMALS and "normals" not in header(toy)
    monkeypatch.setattr(GaussianFamily, "noise", NORMALS + "-next")
    assert header(gmm)["config_hash"] != before["config_hash"]


def test_k_categorical_draws_per_row_are_the_draws_of_k_repeated_rows():
    """``categorical(owner, probs, k)`` builds each row's CDF once; its draws are those of the rows repeated k times
    (so a search's children are unchanged), and later draws of the same streams are unchanged too."""
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(6, 40, 33, generator=g) ** 4  # (R, L, V), uneven rows; not normalised
    owner = torch.tensor([0, 0, 1, 2, 2, 2])
    a, b = Streams(5, range(3)), Streams(5, range(3))
    once = a.categorical(owner, probs, k=4)  # (R·4, L)
    repeated = b.categorical(owner.repeat_interleave(4), probs.repeat_interleave(4, dim=0))
    assert once.shape == (24, 40) and torch.equal(once, repeated)
    assert torch.equal(a.rand(owner, (3,)), b.rand(owner, (3,)))  # the counters advanced alike
    assert once.view(6, 4, 40)[0].unique(dim=0).shape[0] == 4  # a row's k draws are k different sequences
    flat = torch.rand(6, 9, generator=g)  # (R, V): one draw per row, no positions (a search's resampling)
    assert torch.equal(a.categorical(owner, flat, k=3), b.categorical(owner.repeat_interleave(3),
                                                                       flat.repeat_interleave(3, dim=0)))


def test_compiled_and_numpy_paths_draw_the_same_bits(monkeypatch):
    """With numba the CPU draws run in compiled loops (`bench.rngjit`); without it, in numpy passes. Both must
    give the same words and the same normals bit for bit: 2^21 normals in rows of several shapes and owners
    (about 30,000 rejected words, ~500 of them base-layer tails), and words whose counters wrap past 2^63."""
    import pytest
    pytest.importorskip("numba")
    from bench import rngjit
    from bench.rng import _words_numpy
    if not rngjit.AVAILABLE:
        pytest.skip("compiled path switched off (BENCH_NO_JIT)")

    def draws() -> list[torch.Tensor]:
        st = Streams(21, range(64))
        keys = torch.tensor([-2**63, -1, 0, 2**62, 12345], dtype=torch.int64)
        base = torch.tensor([0, 2**63 - 40, 1, 7, 2**40], dtype=torch.int64)
        words = torch.from_numpy(_words_numpy(keys, base, 37).view(np.int64))  # (5, 37)
        return [words, st.randn(torch.arange(64).repeat(4), (88, 91)), st.randn(torch.tensor([3, 3, 0]), (5,)),
                st.randn(torch.tensor([9]), (1,)), st.rand(torch.tensor([1, 1, 2]), (13,))]

    compiled = draws()
    monkeypatch.setattr(rngjit, "AVAILABLE", False)
    assert all(torch.equal(a, b) for a, b in zip(compiled, draws()))
