"""Gradient-guidance methods (freedom, ugd, mpgd, lgd, tfg, gg) and their shared core ``bench.guidance``."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import run_method

from bench import guidance, registry
from bench.meter import Calibration, Meter
from bench.reward import Reward
from bench.rng import Streams
from bench.runner import build_task, sample
from bench.task import Objective

A = torch.tensor([1.0, 0.5])  # gmm `linear`: r(x) = A·x
MODEST = {"dps": {"scale": 0.2}, "freedom": {"rho": 0.2}, "ugd": {"scale": 0.2}, "mpgd": {"c": 0.2},
          "lgd": {"scale": 0.2}, "tfg": {"rho": 0.2, "mu": 0.05}, "gg": {"delta": 1.0, "rounds": 2}}
NEW = ["freedom", "ugd", "mpgd", "lgd", "tfg", "gg"]


def _mean_reward(x0: torch.Tensor) -> float:
    return float((x0 @ A).mean())


@pytest.mark.parametrize("method", NEW)
def test_guidance_raises_mean_linear_reward_above_none(method):
    base, _, _, _ = run_method("gmm", "none", objective="linear", n=128, steps=50)
    out, _, _, _ = run_method("gmm", method, objective="linear", n=128, steps=50, **MODEST[method])
    assert torch.isfinite(out.x0).all()
    assert _mean_reward(out.x0) > _mean_reward(base.x0) + 1.0, (_mean_reward(out.x0), _mean_reward(base.x0))


def test_freedom_without_recurrence_and_constant_schedule_is_dps():
    """FreeDoM (N_recur = 1, w = 1) is exactly DPS with s = ρ̄ (same streams, same samples)."""
    a, _, _, _ = run_method("gmm", "dps", objective="linear", n=16, steps=20, scale=0.3)
    b, _, _, _ = run_method("gmm", "freedom", objective="linear", n=16, steps=20, rho=0.3, schedule="constant")
    assert torch.equal(a.x0, b.x0)


def _reference(method: str, n: int, steps: int, seed: int, coef: float) -> torch.Tensor:
    """Hand-written loops from family primitives: 'dps' with s_t = coef/√α_t, or 'mpgd' with step c = coef."""
    fam = build_task("gmm", False, "cpu").build_family()
    rng, owner = Streams(seed, range(n)), torch.arange(n)
    x = fam.prior(rng, owner)  # (n, 2)
    for t, s in fam.timesteps(steps):
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            pred = fam.denoise(xg, t)
            x0 = pred.x0 if method == "dps" else pred.x0.detach().requires_grad_(True)
            grad = torch.autograd.grad((x0 @ A).sum(), xg if method == "dps" else x0)[0]  # (n, 2)
        pred.x0, pred.eps = pred.x0.detach(), pred.eps.detach()
        if method == "dps":
            x = fam.proposal(x, t, s, pred).sample(rng, owner) + coef / math.sqrt(fam.abar(t) / fam.abar(s)) * grad
        else:  # x0′ = x̂0 + c·∇ℓ(x̂0), then DDIM(x_t; x0′, ε_θ)
            pred.x0 = pred.x0 + coef * grad
            x = fam.proposal(x, t, s, pred).sample(rng, owner)
    return x


def test_tfg_variance_only_is_dps_with_step_over_sqrt_alpha():
    """TFG (ρ̄ constant, μ̄ = 0, σ̄ = 0, N_recur = 1) = DPS whose step at t → s is s_t = ρ̄/√α_t, α_t = ᾱ_t/ᾱ_s."""
    out, _, _, _ = run_method("gmm", "tfg", objective="linear", n=16, steps=20, seed=5, rho=0.3, mu=0.0,
                              sigma=0.0, rho_schedule="constant")
    torch.testing.assert_close(out.x0, _reference("dps", 16, 20, 5, 0.3), rtol=1e-5, atol=1e-5)


def test_mpgd_is_ddim_toward_the_gradient_updated_x0():
    out, meter, _, _ = run_method("gmm", "mpgd", objective="linear", n=16, steps=20, seed=2, c=0.4)
    torch.testing.assert_close(out.x0, _reference("mpgd", 16, 20, 2, 0.4), rtol=1e-5, atol=1e-5)
    assert meter.backward == 0


@pytest.mark.parametrize("method,overrides,bwd,grad_r", [
    ("freedom", {"n_recur": 3}, 3, 3),  # N_recur·T VJPs, N_recur·T ∇R
    ("ugd", {"k": 2, "m": 3}, 2, 2 * 4),  # k·T VJPs, k·T·(1+m) ∇R
    ("mpgd", {}, 0, 1),  # T ∇R, no VJP
    ("lgd", {"n_mc": 5}, 1, 5),  # T VJPs, T·n ∇R
    ("tfg", {"n_recur": 2, "n_iter": 3, "n_eps": 2, "sigma": 0.1}, 2, 2 * 4 * 2),  # N_recur·T·(1+N_iter)·n_ε
])
def test_counted_backward_and_reward_gradients_match_the_cost_model(method, overrides, bwd, grad_r):
    n, steps = 4, 8
    out, meter, cfg, _ = run_method("gmm", method, objective="linear", n=n, steps=steps, **overrides)
    m = registry.methods().get(method)
    recur = overrides.get("n_recur", overrides.get("k", 1))
    assert meter.nfe == m.counts(cfg, steps).forward * n == recur * steps * n
    assert meter.backward == bwd * steps * n
    assert meter.grad_reward_calls == grad_r * steps * n
    assert meter.reward_calls == 0 and out.diagnostics["nan_grad_rows"] == 0


def test_gg_counts_every_round():
    n, steps, rounds = 4, 8, 3
    _, meter, cfg, _ = run_method("gmm", "gg", objective="linear", n=n, steps=steps, rounds=rounds)
    assert meter.nfe == registry.methods().get("gg").counts(cfg, steps).forward * n == (rounds + 1) * steps * n
    assert meter.backward == rounds * steps * n and meter.grad_reward_calls == rounds * n


def test_for_budget_fits_recurrence_and_rounds():
    """The recurrence (rounds) is the largest whose forward-equivalents fit b·T: one more would not."""
    cal = Calibration(c_b=1.5, c_r=0.5, c_rg=0.25, source="test")
    for key, name in [("freedom", "n_recur"), ("ugd", "k"), ("tfg", "n_recur"), ("gg", "rounds")]:
        m = registry.methods().get(key)
        cfg = m.config(**{name: 6})
        for b in (4.0, 16.0):
            fit = m.for_budget(cfg, b, 10, cal)
            up = dataclasses.replace(fit, **{name: getattr(fit, name) + 1})
            assert m.cost(fit, 10, cal) <= b * 10 < m.cost(up, 10, cal), (key, b)
        per = m.cost(dataclasses.replace(cfg, **{name: 1}), 10, cal) - m.cost(
            dataclasses.replace(cfg, **{name: 0 if key == "gg" else 1}), 10, cal)
        assert key != "gg" or per == 10 * (1 + 1.5) + 0.25  # one gg round: T forwards + T VJPs + one ∇R row


def test_schedules_average_to_the_base_value():
    fam = build_task("gmm", False, "cpu").build_family()
    spec = guidance.GuidanceSpec(rho=0.7, mu=0.3, rho_schedule="increase", mu_schedule="decrease")
    coefs = guidance.plan(fam, 25, spec)
    assert abs(sum(c.rho for c in coefs) / 25 - 0.7) < 1e-9 and abs(sum(c.mu for c in coefs) / 25 - 0.3) < 1e-9
    assert coefs[0].rho < coefs[-1].rho and coefs[0].mu > coefs[-1].mu  # α_t grows toward the data
    flat = guidance.plan(fam, 25, guidance.GuidanceSpec(rho=0.7))
    assert all(c.rho == 0.7 for c in flat)


def test_smoothed_log_reward_is_log_mean_exp():
    class Ctx:  # the two Context fields the helper reads
        streams = Streams(0, range(3))
        grad_reward = staticmethod(lambda x0, owner: (x0 @ A) ** 2)

    x0, owner, gamma, k = torch.randn(3, 2), torch.arange(3), 0.5, 6
    got = guidance.smoothed_log_reward(Ctx, x0, owner, gamma, k)  # (3,)
    xi = Streams(0, range(3)).randn(owner.repeat_interleave(k), (2,))  # the same draws
    ell = (((x0.repeat_interleave(k, 0) + gamma * xi) @ A) ** 2).view(3, k)
    torch.testing.assert_close(got, ell.exp().mean(1).log())
    assert (got > ell.mean(1)).all()  # log of the mean, not the mean of logs (P3)


def _nan_objective() -> Objective:
    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        bad = torch.where(x0[:, 0].detach() > 0, torch.nan, 1.0)  # (N,) NaN factor on half the plane
        return (x0 @ A.to(x0)) * bad

    good = Reward("linear", lambda x0, i: x0 @ A.to(x0), differentiable=True)
    return Objective("nan", good, good, "reward", grad_proxy=Reward("nan", fn, differentiable=True))


@pytest.mark.parametrize("method", ["dps"] + NEW)
def test_nan_reward_gradients_are_guarded_and_counted(method):
    task, meter = build_task("gmm", False, "cpu"), Meter()
    m = registry.methods().get(method)
    cfg = m.config(**{k: v for k, v in MODEST[method].items() if k != "rounds"})
    out, _ = sample(task, _nan_objective(), m, cfg, 8, 10, 0, meter)
    assert torch.isfinite(out.x0).all()
    assert out.diagnostics["nan_grad_rows"] > 0 and meter.grad_reward_calls > 0
