"""Exactness on the toy tasks: SMC samples the exactly tilted target."""
from __future__ import annotations

import math

import torch
from conftest import run_method

from tasks.gmm.task import tilted_mean
from tasks.toyseq.task import count_reward, seq_index, tilted_pmf

LAM = 1.5  # toyseq tilt p·exp(λ·count)


def _tv(k: int, seed: int) -> float:
    out, _, _, _ = run_method("toyseq", "smc", objective="count", n=k, steps=64, seed=seed, k=k, lam=LAM,
                              return_all=True)
    emp = torch.bincount(seq_index(out.x0), minlength=4096).double() / k
    return 0.5 * float((emp - tilted_pmf(count_reward, 1 / LAM)).abs().sum())


def test_smc_tv_to_tilted_pmf_small_and_shrinking():
    tv_small = sum(_tv(100, s) for s in (0, 1)) / 2
    tv_large = sum(_tv(2000, s) for s in (0, 1)) / 2
    assert tv_large < 0.05, tv_large
    assert tv_large < tv_small, (tv_small, tv_large)


def test_smc_gmm_mean_matches_exact_tilted_mean():
    means = []
    for seed in range(6):  # independent populations give an honest Monte-Carlo standard error
        out, _, _, _ = run_method("gmm", "smc", objective="linear", n=1000, steps=100, seed=seed, k=1000, lam=1.0,
                                  return_all=True)
        means.append(out.x0.mean(0))
    m = torch.stack(means).double()
    se = m.std(0) / math.sqrt(len(m))
    z = (m.mean(0) - tilted_mean(1.0)) / se
    assert (z.abs() < 3).all(), z


def test_smc_adaptive_resampling_carries_weights():
    out, _, _, _ = run_method("toyseq", "smc", objective="count", n=400, steps=32, k=400, lam=LAM, ess=0.5,
                              return_all=True)
    assert out.diagnostics["resamples"] < 32  # some steps skipped
    emp = torch.bincount(seq_index(out.x0), minlength=4096).double() / 400
    assert 0.5 * float((emp - tilted_pmf(count_reward, 1 / LAM)).abs().sum()) < 0.15


def test_tds_converges_toward_tilted_targets():
    def tv(k, seed):
        out, _, _, _ = run_method("toyseq", "tds", objective="count", n=k, steps=64, seed=seed, k=k, lam=LAM,
                                  return_all=True)
        emp = torch.bincount(seq_index(out.x0), minlength=4096).double() / k
        return 0.5 * float((emp - tilted_pmf(count_reward, 1 / LAM)).abs().sum())
    small, large = sum(tv(100, s) for s in (0, 1)) / 2, sum(tv(1000, s) for s in (0, 1)) / 2
    assert large < small and large < 0.06, (small, large)
    means = []
    for seed in range(4):
        out, _, _, _ = run_method("gmm", "tds", objective="linear", n=500, steps=100, seed=seed, k=500, lam=1.0,
                                  return_all=True)
        means.append(out.x0.mean(0))
    m = torch.stack(means).double()
    z = (m.mean(0) - tilted_mean(1.0)) / (m.std(0) / math.sqrt(len(m)))
    assert (z.abs() < 3).all(), z


def test_dts_sampling_converges_with_budget():
    target = tilted_pmf(count_reward, 1 / LAM)
    tvs = []
    for budget in ("2x", "8x"):  # at 1x one rollout and its reward call exceed T forward-equivalents
        out, meter, _, _ = run_method("toyseq", "dts", objective="count", n=200, steps=8, budget=budget, lam=LAM)
        emp = torch.bincount(seq_index(out.x0), minlength=4096).double() / 200
        tvs.append(0.5 * float((emp - target).abs().sum()))
    assert tvs[1] < tvs[0] - 0.2 and tvs[1] < 0.45, tvs
