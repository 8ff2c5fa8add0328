"""The counter-based streams (`bench.rng`): their words are SplitMix64's output sequence, checked against a
plain-Python SplitMix64; draws depend only on (stream key, counter), not on batch composition."""
from __future__ import annotations

import math

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


def test_uniforms_and_normals_are_the_reference_transform_of_the_words():
    st, ref = Streams(3, [0]), splitmix64_reference(stream_seed(3, 0), 4)
    u = st.rand(torch.tensor([0]), (2,))[0].tolist()
    assert u == [(w >> 11) * 2.0**-53 for w in ref[:2]]
    z = st.randn(torch.tensor([0]), (1,))[0, 0].item()
    u1, u2 = ((w >> 11) * 2.0**-53 for w in ref[2:4])
    want = math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(2 * math.pi * u2)
    assert abs(z - want) <= 1e-6 * max(1.0, abs(want))  # float32 of the float64 Box-Muller value


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
