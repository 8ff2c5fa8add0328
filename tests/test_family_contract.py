"""Every family against the contract of bench/diffusion/family.py; parameterisations and spacings; the rule that
sampler math lives only in bench/diffusion/ (a source grep)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from bench import registry
from bench.diffusion import prediction as P
from bench.diffusion.family import FAMILY_PRIMITIVES, GAUSSIAN_PATH_PRIMITIVES, PREDICTION_METHODS, Family, GaussianPath
from bench.diffusion.gaussian import GaussianFamily
from bench.diffusion.schedules import T_TRAIN, gaussian_alphas_bar, gaussian_timesteps
from bench.diffusion.training import gaussian_loss
from bench.rng import Streams
from bench.runner import build_task

ROOT = Path(__file__).resolve().parents[1]
TASKS = registry.tasks().names()
_FAMILIES: dict = {}


def family(name: str):
    if name not in _FAMILIES:
        _FAMILIES[name] = build_task(name, True, "cpu", {}).build_family()
    return _FAMILIES[name]


# -- every registered task's family ------------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_family_implements_the_contract(task):
    fam = family(task)
    missing = [n for n in FAMILY_PRIMITIVES if not callable(getattr(fam, n, None))]
    assert not missing and isinstance(fam, Family), missing
    if isinstance(fam, GaussianFamily):
        assert isinstance(fam, GaussianPath)
        assert all(callable(getattr(fam, n, None)) for n in GAUSSIAN_PATH_PRIMITIVES)


@pytest.mark.parametrize("task", TASKS)
def test_only_the_last_step_is_clean_and_denoise_refuses_it(task):
    fam = family(task)
    for steps in (1, 2, 7):
        pairs = fam.timesteps(steps)
        assert len(pairs) == steps
        assert [fam.is_clean(s) for _, s in pairs] == [False] * (steps - 1) + [True]
        assert not any(fam.is_clean(t) for t, _ in pairs)
        assert all(s == nxt for (_, s), (nxt, _) in zip(pairs, pairs[1:]))  # a chain: each s is the next t
    x = fam.prior(Streams(0, range(2)), torch.arange(2))
    with pytest.raises(ValueError, match="clean"):
        fam.denoise(x, fam.timesteps(3)[-1][1])


@pytest.mark.parametrize("task", TASKS)
def test_prediction_rows_take_concat_detach(task):
    fam = family(task)
    st, owner = Streams(0, range(5)), torch.arange(5)
    x = fam.prior(st, owner)
    t = fam.timesteps(4)[1][0]
    pred = fam.denoise(x, t)
    assert all(callable(getattr(pred, n, None)) for n in PREDICTION_METHODS)
    head, tail = pred.take(torch.tensor([0, 1])), pred.take(torch.tensor([2, 3, 4]))
    joined = head.concat(tail)
    for k, v in vars(pred).items():
        got = getattr(joined, k)
        assert torch.equal(got, v) if isinstance(v, torch.Tensor) else got == v, k
    rows = torch.tensor([4, 0, 0])
    assert torch.equal(fam.point(pred.take(rows)), fam.point(pred)[rows])
    inp = fam.grad_input(x).requires_grad_(True)
    with torch.enable_grad():
        live = fam.denoise(inp, t)
    still = [k for k, v in vars(live.detach(x_t=x)).items() if isinstance(v, torch.Tensor) and v.requires_grad]
    assert not still and torch.equal(live.detach(x_t=x).x_t, x)


@pytest.mark.parametrize("task", TASKS)
def test_tilt_with_zero_scale_or_zero_gradient_is_the_base_step(task):
    fam = family(task)
    st, owner = Streams(3, range(4)), torch.arange(4)
    x = fam.prior(st, owner)
    t, s = fam.timesteps(4)[0]
    pred = fam.denoise(x, t)
    base = fam.proposal(x, t, s, pred)
    grad = torch.randn(fam.grad_input(x).shape, generator=torch.Generator().manual_seed(0))
    x_s = base.sample(Streams(9, range(4)), owner)
    for tilted in (fam.tilt(base, x, grad, 0.0), fam.tilt(base, x, torch.zeros_like(grad), 3.0)):
        assert torch.allclose(tilted.log_prob(x_s), base.log_prob(x_s), atol=1e-5)
    moved = fam.tilt(base, x, grad, 1.0)
    assert not torch.allclose(moved.log_prob(x_s), base.log_prob(x_s), atol=1e-5)  # the tilt does act


def test_gaussian_tilt_shifts_the_mean_by_scale_sigma2_grad():
    fam = family("gmm")
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    t, s = fam.timesteps(10)[4]
    base = fam.proposal(x, t, s, fam.denoise(x, t))
    g = torch.ones(3, 2)
    tilted = fam.tilt(base, x, g, 0.5)
    assert tilted.std == base.std and torch.allclose(tilted.mean - base.mean, 0.5 * base.std**2 * g)


def test_masked_tilt_keeps_revealed_tokens_and_normalises():
    fam = family("toyseq")
    x = fam.prior(Streams(0, range(4)), torch.arange(4))
    x[:, 0] = 1  # a revealed position
    t, s = fam.timesteps(4)[1]
    base = fam.proposal(x, t, s, fam.denoise(x, t))
    grad = 5 * torch.randn(4, fam.length, fam.vocab + 1, generator=torch.Generator().manual_seed(0))
    tilted = fam.tilt(base, x, grad, 2.0)
    assert torch.allclose(tilted.probs.sum(-1), torch.ones(4, fam.length))
    assert torch.equal(tilted.probs[:, 0], base.probs[:, 0])


# -- Gaussian parameterisations ---------------------------------------------------------------------------------
def _truth(seed: int = 0, t: int = 600):
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    a = float(gaussian_alphas_bar("cosine")[t])
    x_t = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
    return {"x0": x0, "eps": eps, "v": math.sqrt(a) * eps - math.sqrt(1 - a) * x0}, x_t, a


def test_conversions_between_eps_x0_and_v_are_exact_inverses():
    truth, x_t, a = _truth()
    for src in P.PREDICTIONS:
        for dst in P.PREDICTIONS:
            got = P.convert(truth[src], src, dst, x_t, a)
            assert torch.allclose(got, truth[dst], atol=1e-10), (src, dst)
    a_rows = torch.full((6, 1), a, dtype=torch.float64)  # ᾱ per row (training) gives the same answer
    assert torch.allclose(P.convert(truth["v"], "v", "x0", x_t, a_rows), truth["x0"], atol=1e-10)
    with pytest.raises(ValueError):
        GaussianFamily(torch.nn.Identity(), (3,), prediction="score")


class _Oracle(torch.nn.Module):
    """Returns the exact ε, x0 or v of a fixed (x0, ε) pair, whatever step it is asked at."""

    def __init__(self, kind: str, truth: dict) -> None:
        super().__init__()
        self.kind, self.truth = kind, truth

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.truth[self.kind].float()


@pytest.mark.parametrize("clip", [None, 1.5])
def test_the_three_prediction_types_give_one_prediction(clip):
    t = 600
    truth, x_t, _ = _truth(t=t)
    want = truth["x0"].float() if clip is None else truth["x0"].float().clamp(-clip, clip)
    for k in P.PREDICTIONS:
        fam = GaussianFamily(_Oracle(k, truth), (3,), clip=clip, prediction=k)
        pred = fam.denoise(x_t.float(), t)
        assert torch.allclose(pred.x0, want, atol=1e-4), k
        assert torch.allclose(pred.eps, fam.implied_eps(pred.x_t, t, pred.x0), atol=1e-4), k  # consistent pair
        if clip is None:
            assert torch.allclose(pred.eps, truth["eps"].float(), atol=1e-4), k


class _VNet(torch.nn.Module):
    """A small fixed v-network."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.cat([x, i[:, None] / T_TRAIN], 1))


class _EpsWrapped(torch.nn.Module):
    """The pre-refactor music pattern: a v-network that converts to ε inside itself (float32 ᾱ buffer)."""

    def __init__(self, vnet: torch.nn.Module) -> None:
        super().__init__()
        self.vnet = vnet
        self.register_buffer("abar", gaussian_alphas_bar("cosine").float(), persistent=False)

    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        a = self.abar[i.round().long().clamp(0, len(self.abar) - 1)].view(-1, 1)
        return a.sqrt() * self.vnet(x, i) + (1 - a).sqrt() * x


def test_v_family_is_bit_identical_to_a_network_that_converts_itself():
    vnet = _VNet()
    new, old = GaussianFamily(vnet, (3,), prediction="v"), GaussianFamily(_EpsWrapped(vnet), (3,))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    for t, _ in new.timesteps(12):
        a, b = new.denoise(x, t), old.denoise(x, t)
        assert torch.equal(a.x0, b.x0) and torch.equal(a.eps, b.eps), t
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(64, 3, generator=g)
    abar = gaussian_alphas_bar("cosine")
    new_loss = gaussian_loss(vnet, x0, abar, torch.Generator().manual_seed(7), target="eps", prediction="v")
    old_loss = gaussian_loss(_EpsWrapped(vnet), x0, abar, torch.Generator().manual_seed(7), target="eps")
    assert torch.equal(new_loss, old_loss)


def test_from_eps_eps_shift_and_clamp():
    fam = family("gmm")
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    t = fam.timesteps(10)[3][0]
    pred = fam.denoise(x, t)
    d = torch.full_like(x, 0.25)
    moved = fam.from_eps(x, t, pred.eps + fam.eps_shift(t, d))
    assert torch.allclose(moved.x0, pred.x0 + d, atol=1e-5)
    assert torch.allclose(fam.from_x0(x, t, pred.x0).eps, pred.eps, atol=1e-4)
    assert fam.signal(t) ** 2 + fam.noise_std(t) ** 2 == pytest.approx(1.0)
    assert fam.signal(-1) == 1.0 and fam.noise_std(-1) == 0.0
    assert torch.equal(fam.clamp_x0(x * 100), x * 100)  # gmm does not clip
    clipped = GaussianFamily(fam.net, (2,), clip=1.0)
    assert float(clipped.from_eps(x, t, pred.eps * 50).x0.abs().max()) <= 1.0
    assert float(clipped.from_eps(x, t, pred.eps * 50, clip=False).x0.abs().max()) > 1.0


# -- spacing ----------------------------------------------------------------------------------------------------
def test_spacings():
    assert gaussian_timesteps(10, "linspace") == torch.linspace(999, 0, 10).round().long().tolist()
    assert gaussian_timesteps(10, "leading") == list(range(900, -1, -100))
    assert gaussian_timesteps(10, "trailing") == list(range(999, 0, -100))
    for spacing in ("linspace", "leading", "trailing"):
        for steps in (1, 3, 50, 1000):
            ts = gaussian_timesteps(steps, spacing)
            assert len(ts) == steps and all(a > b for a, b in zip(ts, ts[1:])) and 0 <= ts[-1] <= ts[0] <= 999
        fam = GaussianFamily(torch.nn.Identity(), (2,), spacing=spacing)
        assert [t for t, _ in fam.timesteps(5)] == gaussian_timesteps(5, spacing)
    with pytest.raises(ValueError):
        GaussianFamily(torch.nn.Identity(), (2,), spacing="karras")
    with pytest.raises(ValueError):
        gaussian_timesteps(0)


# -- sampler math only in bench/diffusion/ ----------------------------------------------------------------------
_ONE_MINUS = r"\(\s*1(\.0)?\s*-(?:[^()]|\([^()]*\))*\)"  # (1 − …), one level of nested parentheses
LEAKS = {
    "tests a family's kind": r"\b(fam|family)\.kind\b",
    "√(1 − ·) of a schedule": rf"sqrt\(\s*1(\.0)?\s*-|{_ONE_MINUS}\.sqrt\(\)|{_ONE_MINUS}\s*\*\*\s*0?\.5",
    "√ᾱ": r"sqrt\([^()]*abar\b|abar\([^()]*\)\s*\*\*\s*0?\.5",
}
PAST_LEAKS = [  # lines that stood outside the families before the refactor: each pattern must catch its line
    ('inp = (x.detach().float() if fam.kind == "continuous" else fam.onehot(x)).requires_grad_(True)',
     "tests a family's kind"),
    ("x0 = (x_t - math.sqrt(1 - a) * eps) / math.sqrt(a)", "√(1 − ·) of a schedule"),
    ("return (x - a.view(-1, 1).sqrt() * x0) / (1 - a.view(-1, 1)).sqrt()", "√(1 − ·) of a schedule"),
    ("x_s = x_s + math.sqrt(fam.abar(c.s)) * d0", "√ᾱ"),
    ("return a.sqrt() * v + (1 - a).sqrt() * x  # ε̂", "√(1 − ·) of a schedule"),
    ("abar = (1 - a.view(-1, 1)) ** 0.5", "√(1 − ·) of a schedule"),
]


def _sources():
    for top in ("bench", "methods", "tasks", "scripts"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if not path.relative_to(ROOT).as_posix().startswith("bench/diffusion/"):
                yield path


def test_leak_patterns_catch_the_old_code():
    for line, name in PAST_LEAKS:
        assert re.search(LEAKS[name], line), (name, line)


def test_no_sampler_math_outside_the_families():
    found = []
    for path in _sources():
        for no, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{no}: {name}: {line.strip()}"
                      for name, pat in LEAKS.items() if re.search(pat, line)]
    assert not found, "\n".join(found)
