"""The two sampler families against exact answers."""
from __future__ import annotations

import torch
from conftest import run_method

from bench.rng import Streams
from tasks.gmm.task import MEANS, STD, WEIGHTS, GMMTask
from tasks.toyseq.task import ToySeqTask, base_pmf, seq_index


def _tv(x0, pmf):
    emp = torch.bincount(seq_index(x0), minlength=len(pmf)).double() / len(x0)
    return 0.5 * float((emp - pmf).abs().sum())


def test_gaussian_unguided_matches_mixture_moments():
    out, meter, _, _ = run_method("gmm", "none", n=2000, steps=100)
    true_mean = (WEIGHTS[:, None] * MEANS).sum(0)
    true_var = (WEIGHTS[:, None] * (MEANS**2 + STD**2)).sum(0) - true_mean**2
    assert torch.allclose(out.x0.mean(0), true_mean, atol=0.12)
    assert torch.allclose(out.x0.var(0), true_var, rtol=0.1)
    assert meter.nfe == 2000 * 100


def test_masked_unguided_matches_pmf():
    out, _, _, _ = run_method("toyseq", "none", n=2000, steps=64)
    assert _tv(out.x0, base_pmf()) < 0.25  # 4096 states, 2000 draws: the sampling-noise floor is ~0.2


def test_masked_primitives_keep_revealed_and_prompt():
    fam = ToySeqTask().build_family()
    fam.prompt = torch.tensor([2, -1, -1, -1, -1, 1])
    st, owner = Streams(0, range(8)), torch.arange(8)
    x = fam.prior(st, owner)
    assert (x[:, 0] == 2).all() and (x[:, -1] == 1).all() and (x[:, 1:5] == fam.mask_id).all()
    for t, s in fam.timesteps(10):
        pred = fam.denoise(x, t)
        prev = x.clone()
        x = fam.proposal(x, t, s, pred).sample(st, owner)
        revealed = prev != fam.mask_id
        assert (x[revealed] == prev[revealed]).all()
    assert (x != fam.mask_id).all()
    again = fam.renoise(x, 0.0, 1.0, st, owner)
    assert (again[:, 0] == 2).all() and (again[:, -1] == 1).all() and (again[:, 1:5] == fam.mask_id).all()


def test_masked_bridge_reaches_x0_and_logprob():
    fam = ToySeqTask().build_family()
    st, owner = Streams(1, range(4)), torch.arange(4)
    x = fam.prior(st, owner)
    x0 = torch.randint(0, 4, (4, 6), generator=torch.Generator().manual_seed(0))
    assert torch.equal(fam.bridge(x, 1.0, 0.0, x0, st, owner), x0)
    pred = fam.denoise(x, 1.0)
    prop = fam.proposal(x, 1.0, 0.5, pred)
    xs = prop.sample(st, owner)
    assert torch.isfinite(prop.log_prob(xs)).all()


def test_gaussian_bridge_renoise_consistency():
    fam = GMMTask().build_family()
    st, owner = Streams(0, range(20000)), torch.arange(20000)
    x0 = torch.zeros(20000, 2)
    x_t = fam.renoise(x0, -1, 500, st, owner)  # q(x_t | x0)
    assert abs(float(x_t.std()) - (1 - fam.abar(500)) ** 0.5) < 0.02
    xs = fam.bridge(x_t, 500, 400, x0, st, owner)  # q(x_s | x_t, x0) has marginal q(x_s | x0)
    assert abs(float(xs.std()) - (1 - fam.abar(400)) ** 0.5) < 0.02
    assert torch.equal(fam.bridge(x_t, 0, -1, x0, st, owner), x0)


def test_results_do_not_depend_on_batch_size():
    for task in ("gmm", "toyseq"):
        for method in ("none", "treeg-sc", "smc", "best-of-n"):
            small, _, _, _ = run_method(task, method, n=3, steps=10, budget="4x")
            big, _, _, _ = run_method(task, method, n=9, steps=10, budget="4x")
            assert torch.equal(small.x0, big.x0[:3]), (task, method)


def test_shared_ancestral_sampler_matches_pmf_and_ignores_batch():
    from bench.diffusion.ancestral import sample_unguided

    fam = ToySeqTask().build_family()
    x0 = sample_unguided(fam, 2000, 64, seed=0, batch=500)  # (2000, L)
    assert _tv(x0, base_pmf()) < 0.25  # the same sampling-noise floor as the `none` method's test above
    torch.testing.assert_close(sample_unguided(fam, 40, 24, seed=5), sample_unguided(fam, 40, 24, seed=5, batch=7))
    g = GMMTask().build_family()
    torch.testing.assert_close(sample_unguided(g, 30, 12, seed=1), sample_unguided(g, 30, 12, seed=1, batch=4))


def test_gauss_proposal_children_are_mean_plus_std_times_their_streams_normals():
    """k children per parent, parent-major, each mean + std·z with z the parent's stream's next normals."""
    from bench.diffusion.gaussian import GaussProposal
    mean, owner = torch.randn(5, 3, 7, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 1, 2, 4])
    kids = GaussProposal(mean, 0.37).sample(Streams(1, range(5)), owner, 4)  # (20, 3, 7)
    z = Streams(1, range(5)).randn(owner.repeat_interleave(4), (3, 7)).view(5, 4, 3, 7)
    assert torch.equal(kids, (mean.unsqueeze(1) + 0.37 * z).view(20, 3, 7))
    assert torch.equal(GaussProposal(mean, 0.0).sample(Streams(1, range(5)), owner, 2), mean.repeat_interleave(2, 0))
