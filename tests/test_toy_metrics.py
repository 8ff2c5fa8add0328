"""The toys' main metrics measure the distance to the exact tilted target, and their noise floors are right.

Statistical checks use fixed seeds and a Student-t interval at the replicate count (two-sided 99.9%), so they are
deterministic and their thresholds follow from the number of replicates, not from the values seen.
"""
from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from tasks.gmm import objectives as G
from tasks.gmm.metrics import energy_distance, energy_floor, energy_to_target
from tasks.gmm.task import GMMTask
from tasks.toyseq.task import ToySeqTask, all_sequences, empirical_tv, target_pmf, tv_floor

GMM_OBJECTIVES = list(G.REWARDS)


def _t_bound(values: torch.Tensor, level: float = 0.999) -> float:
    """Half-width of the two-sided t interval of the mean of ``values`` (R,)."""
    r = len(values)
    return float(stats.t.ppf(0.5 + level / 2, r - 1) * values.std() / math.sqrt(r))


def _unguided(n: int, seed: int) -> torch.Tensor:
    """n exact draws of the untilted mixture (a bounded objective at λ = 0 accepts every draw), (n, 2)."""
    return G.exact_samples("region", n, seed, lam=0.0)


@pytest.mark.parametrize("name", GMM_OBJECTIVES)
def test_gmm_a_set_that_left_the_data_scores_worse_than_unguided(name):
    task = GMMTask()
    obj = task.objective(name)
    base = _unguided(256, seed=11).float()  # (256, 2)
    far = base + torch.tensor([251.0, 0.0])  # what tfg did on linear: x ≈ 253 for means within ±2
    m_base, _ = task.evaluate(obj, base, torch.zeros(256, dtype=torch.long))
    m_far, _ = task.evaluate(obj, far, torch.zeros(256, dtype=torch.long))
    assert m_far["energy"] > m_base["energy"] and m_far["mean_err"] > m_base["mean_err"]
    if name == "linear":  # the old main metric ranked the broken set first
        assert m_far["reward"] > m_base["reward"]


@pytest.mark.parametrize("name", GMM_OBJECTIVES)
def test_gmm_exact_tilted_samples_beat_unguided_ones(name):
    """Independent exact tilted sets (seeds not used by the reference) score below unguided sets of equal n."""
    exact = [energy_to_target(name, G.exact_samples(name, 512, seed)) for seed in (101, 102, 103)]
    base = [energy_to_target(name, _unguided(512, seed)) for seed in (101, 102, 103)]
    assert max(exact) < min(base)


@pytest.mark.parametrize("name", GMM_OBJECTIVES)
def test_gmm_energy_floor_is_the_mean_energy_of_exact_sets(name):
    n, reps = 32, 64
    vals = torch.tensor([energy_to_target(name, G.exact_samples(name, n, 1000 + r)) for r in range(reps)])
    assert abs(float(vals.mean()) - energy_floor(name, n)) < _t_bound(vals)


def test_gmm_energy_matches_the_plain_v_statistic_and_is_a_distance():
    x = G.exact_samples("bump", 100, 5)
    assert energy_to_target("bump", x) == pytest.approx(energy_distance(x, G.reference("bump")), rel=1e-9)
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert energy_distance(x, x + 1.0) > 0


def test_gmm_target_means_exact():
    """The grid quadrature (used for bounded objectives) reproduces the analytic linear tilted mean; the grid's
    truncation at ±5 drops < 1e-7 of the mass and a Riemann sum with h = σ/20 is exact for Gaussians far beyond
    that, hence 1e-6."""
    pts, mass = G.density_grid(G.linear_reward, 1.0)
    assert torch.allclose((pts * mass[:, None]).sum(0), G.tilted_mean(1.0), atol=1e-6)
    for name in GMM_OBJECTIVES:  # the exact sampler's mean agrees with the target mean (t interval per coordinate)
        x = G.exact_samples(name, 4096, 7)  # (4096, 2)
        for d in range(2):
            assert abs(float(x[:, d].mean() - G.target_mean(name)[d])) < _t_bound(x[:, d])


def test_bump_objective_bounded_and_differentiable():
    obj = GMMTask().objective("bump")
    x = (torch.randn(64, 2) * 3).requires_grad_(True)
    r = obj.proxy(x, torch.zeros(64, dtype=torch.long))
    assert ((r >= 0) & (r <= 1)).all() and obj.grad_proxy is obj.proxy
    r.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert obj.proxy(torch.tensor([list(G.BUMP_C)]), torch.zeros(1, dtype=torch.long)).item() == 1.0


def test_toyseq_tv_floor_exact_cases_and_simulation():
    point = torch.zeros(4096, dtype=torch.float64)
    point[17] = 1.0
    assert tv_floor(point, 10) == pytest.approx(0.0, abs=1e-12)  # a point mass is hit every time
    two = torch.zeros(4096, dtype=torch.float64)
    two[:2] = 0.5
    assert tv_floor(two, 1) == pytest.approx(0.5)  # one draw: empirical (1, 0) vs (½, ½)
    q, n, reps = target_pmf("pattern"), 64, 200
    g = torch.Generator().manual_seed(3)
    vals = torch.tensor([empirical_tv(all_sequences()[torch.multinomial(q, n, True, generator=g)], q)
                         for _ in range(reps)])
    assert abs(float(vals.mean()) - tv_floor(q, n)) < _t_bound(vals)


@pytest.mark.parametrize("name", ["count", "pattern", "motif"])
def test_toyseq_collapsed_set_scores_worse_than_exact_samples(name):
    """All samples on the single most rewarded sequence: higher reward, but a TV far above the noise floor."""
    task = ToySeqTask()
    obj, q, n = task.objective(name), target_pmf(name), 256
    seqs = all_sequences()
    r = obj.oracle(seqs, torch.zeros(len(seqs), dtype=torch.long))  # (4096,)
    best = seqs[int(torch.argmax(r))].expand(n, -1)  # (n, L)
    exact = seqs[torch.multinomial(q, n, True, generator=torch.Generator().manual_seed(5))]  # (n, L)
    inst = torch.zeros(n, dtype=torch.long)
    m_best, _ = task.evaluate(obj, best, inst)
    m_exact, _ = task.evaluate(obj, exact, inst)
    assert m_best["reward"] >= m_exact["reward"] and m_best["tv"] > m_exact["tv"]
    assert m_best["tv"] == pytest.approx(1 - float(q[int(torch.argmax(r))]))  # TV of a point mass, exactly
    assert m_exact["tv_floor"] == pytest.approx(tv_floor(q, n))
