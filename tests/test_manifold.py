"""k-NN manifold metrics (bench.manifold): a hand-checked case, identities, and parity with the reference code."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import math

import numpy as np
import pytest
import torch

from bench.manifold import prdc


def test_hand_computed_line():
    """Reals at 0..4 on a line, k = 1: every real radius is 1. Fakes at 0.5 and 0.6 (within 1 of reals 0 and 1)
    and 10 (outside every real ball)."""
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])
    fake = torch.tensor([[0.5], [10.0], [0.6]])
    got = prdc(real, fake, k=1)
    assert got["precision"] == pytest.approx(2 / 3)  # 0.5 and 0.6 inside, 10 outside
    assert got["density"] == pytest.approx((2 + 0 + 2) / 3)  # each of 0.5, 0.6 lies in the balls of reals 0 and 1
    assert got["coverage"] == pytest.approx(2 / 5)  # reals 0 and 1 have a fake within radius 1
    # fake radii (k = 1): 0.5 -> 0.1, 0.6 -> 0.1, 10 -> 9.4: reals 1..4 lie within 9.4 of fake 10, real 0 in none
    assert got["recall"] == pytest.approx(4 / 5)


def test_same_distribution_scores_near_one_and_a_shifted_one_near_zero():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(500, 8, generator=gen), torch.randn(500, 8, generator=gen)
    same = prdc(real, fake)
    assert min(same["precision"], same["recall"], same["coverage"]) > 0.8 and 0.7 < same["density"] < 1.3
    far = prdc(real, fake + 10)
    assert all(v == 0 for v in far.values())
    assert all(math.isnan(v) for v in prdc(real[:5], fake).values())  # k = 5 needs 6 rows


@pytest.mark.skipif(importlib.util.find_spec("prdc") is None,
                    reason="parity with the reference implementation needs: pip install prdc (pulls scikit-learn)")
def test_parity_with_the_reference_implementation():
    from prdc import compute_prdc
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(300, 16)).astype(np.float32), rng.normal(0.3, 1.2, size=(200, 16)).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        want = compute_prdc(real, fake, nearest_k=5)
    got = prdc(torch.from_numpy(real), torch.from_numpy(fake), k=5)
    for key, value in want.items():
        assert got[key] == pytest.approx(float(value), abs=1e-9), key
