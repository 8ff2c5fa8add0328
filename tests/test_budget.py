"""The compute axis: every method's cost model against a dry count of a real run, at 1x/4x/16x on the toys.

"Fills the budget" means, for every method and budget: (a) the metered cost of the run is at most the cap;
(b) the method's width knob is the largest that fits (one step up of the knob would cross the cap, tested per
method in ``WIDTH``), and (c) no further whole best-of-k chain fits ((k + 1)·(one chain + c_r) > b·T). With
integer knobs this bounds the unspent budget by one knob step (or one chain), not by a fraction picked here.
"""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import run_method
from test_methods import TOYS, _compatible, toy_objective

from bench import registry
from bench.budget import calibration, parse_budget, plan_budget
from bench.calibrate import calibration_path, load
from bench.meter import BudgetExceeded, Calibration, CountedNet, CountedReward, Counts, Meter, OverBudgetMin
from bench.method import Incompatible
from bench.particles import particle_counts, populations
from bench.reward import Reward
from bench.runner import Cell, build_task, execute

METHODS = registry.methods().names()
BUDGETS = ["1x", "4x", "16x"]
N, STEPS = 5, 8
WIDTH = {"best-of-n": "N", "svdd": "M", "treeg-sc": "A", "treeg-sd": "A", "treeg-g": "A", "code": "N", "smc": "k",
         "tds": "k", "dsearch": "P0", "tfg": "n_recur", "freedom": "n_recur", "ugd": "k", "gg": "rounds"}


def _setup(task: str, method: str, budget: str):
    t = build_task(task, False, "cpu")
    obj = t.objective(toy_objective(method, task))
    m, cal, b = registry.methods().get(method), calibration(t, obj), parse_budget(budget)
    cfg = m.for_budget(m.config(), b, STEPS, cal)
    return m, cal, b, cfg, plan_budget(m, cfg, STEPS, N, b, cal)


@pytest.mark.parametrize("task", list(TOYS))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("budget", BUDGETS)
def test_metered_cost_matches_the_cost_model_and_fills_the_budget(task, method, budget):
    if not _compatible(task, method):
        pytest.skip("incompatible pair (recorded as such by the runner)")
    m, cal, b, cfg, plan = _setup(task, method, budget)
    cap = b * STEPS
    if plan.min_cost > cap:
        with pytest.raises(OverBudgetMin):
            run_method(task, method, objective=toy_objective(method, task), n=N, steps=STEPS, budget=budget)
        return
    out, meter, got_cfg, _ = run_method(task, method, objective=toy_objective(method, task), n=N, steps=STEPS,
                                        budget=budget)
    assert got_cfg == cfg and out.x0.shape[0] == N
    assert meter.cost() <= cap * N + 1e-6
    if not m.anytime:  # dts: bounded by the cap, not predicted exactly
        want = m.counts(cfg, STEPS).scale(N * plan.chains) + Counts(reward=N * plan.chains * (plan.chains > 1))
        assert meter.counts() == want, (meter.counts(), want)
        assert abs(meter.cost() - cal.price(want)) < 1e-6
    if not m.sized_at_run(cfg):
        assert (plan.chains + 1) * (plan.min_cost + cal.c_r) > cap  # (c) no further chain fits
    if method in WIDTH:  # (b) the width knob is maximal
        up = dataclasses.replace(cfg, **{WIDTH[method]: getattr(cfg, WIDTH[method]) + 1})
        assert m.cost(up, STEPS, cal) > cap or plan.chains > 1, (cfg, m.cost(up, STEPS, cal), cap)


WINDOWED = [k for k in METHODS if getattr(registry.methods().get(k), "window", None)]


@pytest.mark.parametrize("task", list(TOYS))
@pytest.mark.parametrize("method", WINDOWED)
@pytest.mark.parametrize("budget", BUDGETS)
def test_a_tree_search_keeps_branching_by_guiding_fewer_steps_before_it_stops_branching(task, method, budget):
    """The sizing order of the TreeG family: branches K lowered to 2, then the guided window shortened to the
    latest steps that fit, and only when none fits K = 1 (unguided chains, marked ≡ none / best-of-n)."""
    if not _compatible(task, method):
        pytest.skip("incompatible pair (recorded as such by the runner)")
    m, cal, b, cfg, _ = _setup(task, method, budget)
    cap, start = b * STEPS, m.config()
    fits = lambda c: m.cost(m.widen(c, 1), STEPS, cal) <= cap + 1e-9  # noqa: E731
    if cfg.K == 1:  # no branching at all: even K = 2 on the last step alone does not fit
        assert not fits(dataclasses.replace(start, K=2, window_start=(STEPS - 1) / STEPS))
        assert m.reduces_to(cfg, STEPS) is not None
        return
    assert fits(cfg) and m.reduces_to(cfg, STEPS) is None
    if cfg.window_start > start.window_start:  # the window moved: only after K reached 2, and by as little as fits
        assert cfg.K == 2 and not fits(dataclasses.replace(cfg, window_start=cfg.window_start - 1 / STEPS))
    elif cfg.K < start.K:  # K lowered: one more branch would not fit
        assert not fits(dataclasses.replace(cfg, K=cfg.K + 1))


def test_treeg_g_at_4x_is_a_search_on_every_toy():
    """Its gradient-guided branch costs more than 4 forwards a step, so 4x used to size it to K = 1 (≡ best-of-n)."""
    for task in TOYS:
        m, _, _, cfg, _ = _setup(task, "treeg-g", "4x")
        assert cfg.K >= 2 and 0 < cfg.window_start < 1 and m.reduces_to(cfg, STEPS) is None, (task, cfg)


@pytest.mark.parametrize("method", ["smc", "tds"])
@pytest.mark.parametrize("budget", ["1x", "4x", "16x"])
def test_return_all_particles_per_sample_follow_the_budget_and_never_overshoot(method, budget):
    """k = 4 particles per population, n = 10 (k does not divide n): the populations fit the cap; their number
    follows the budget; at 1x the smallest run (⌈n/k⌉ populations) already overshoots and is refused."""
    n, task = 10, "gmm"
    t = build_task(task, False, "cpu")
    m, cal, b = registry.methods().get(method), calibration(t, t.objective("linear")), parse_budget(budget)
    cfg = m.for_budget(m.config(k=4, return_all=True), b, STEPS, cal)
    plan = plan_budget(m, cfg, STEPS, n, b, cal)
    if plan.min_cost > b * STEPS:
        assert budget == "1x"
        with pytest.raises(OverBudgetMin):
            run_method(task, method, objective="linear", n=n, steps=STEPS, budget=budget, k=4, return_all=True)
        return
    out, meter, cfg, _ = run_method(task, method, objective="linear", n=n, steps=STEPS, budget=budget, k=4,
                                    return_all=True)
    spec = m.spec(cfg)
    pops = populations(n, cfg.k, b * STEPS, cal.price(particle_counts(spec, STEPS)))
    assert out.x0.shape[0] == n and meter.counts() == particle_counts(spec, STEPS).scale(pops)
    assert meter.cost() <= b * STEPS * n + 1e-6
    per_sample = pops * cfg.k / n  # particles per returned sample
    assert per_sample * cal.price(particle_counts(spec, STEPS)) / cfg.k <= b * STEPS + 1e-6
    assert min(pops + 1, n) == pops or (pops + 1) * cal.price(particle_counts(spec, STEPS)) > b * STEPS * n


def test_return_all_uncapped_keeps_whole_populations():
    out, meter, _, _ = run_method("toyseq", "smc", objective="count", n=12, steps=STEPS, k=4, return_all=True)
    assert out.x0.shape[0] == 12 and meter.nfe == 12 * STEPS  # three whole populations, every particle returned


def test_best_of_one_chain_is_the_plain_method_and_chains_select_by_proxy():
    """k = 1 reproduces the method's own streams; with k chains the returned sample is the best chain by proxy."""
    base, _, _, t = run_method("gmm", "dps", objective="linear", n=N, steps=STEPS)
    plain, meter, cfg, _ = run_method("gmm", "dps", objective="linear", n=N, steps=STEPS, budget="16x")
    *_, plan = _setup("gmm", "dps", "16x")
    assert plan.chains >= 2 and meter.reward_calls == N * plan.chains
    proxy = t.objective("linear").proxy
    zero = torch.zeros(N, dtype=torch.long)
    assert bool((proxy(plain.x0, zero) >= proxy(base.x0, zero) - 1e-6).all())  # chain 0 is the plain run


@pytest.mark.parametrize("event", ["forward", "backward", "reward", "grad_reward"])
def test_meter_raises_at_the_offending_event(event):
    cal = Calibration(c_b=2.0, c_r=0.5, c_rg=3.0, source="test")
    meter = Meter(cap=10.0, cal=cal)
    net = CountedNet(_Lin(), meter)
    reward = CountedReward(Reward("sum", lambda x, i: x.sum(1)), meter, torch.zeros(4, dtype=torch.long))
    x = torch.randn(4, 2)
    net(x, None)  # 4
    with pytest.raises(BudgetExceeded, match=event.replace("_", " ")):
        if event == "forward":
            net(torch.randn(7, 2), None)  # 11 > 10
        elif event == "backward":
            xg = x.clone().requires_grad_(True)
            meter.cap = 4 + 4 + 1.0  # the forward fits; its backward (2·4) does not
            torch.autograd.grad(net(xg, None).sum(), xg)
        elif event == "reward":
            reward(torch.randn(13, 2), torch.zeros(13, dtype=torch.long))  # 4 + 6.5
        else:
            reward(torch.randn(3, 2).requires_grad_(True), torch.zeros(3, dtype=torch.long))  # 4 + 9


class _Lin(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        return self.lin(x)


def test_calibration_files_and_defaults():
    cal = load("gmm", "linear")
    assert cal.source.startswith("gmm/calibration.json") and cal.c_b > 0 and cal.c_r > 0 and cal.c_rg > 0
    assert load("gmm", "linear", tiny=True) == Calibration()  # tiny networks are not calibrated
    assert load("molecules", "rings=2").source.endswith("#rings=3")  # a pattern falls back to its measured spec
    default = Calibration()
    assert (default.c_b, default.c_r, default.c_rg, default.source) == (2.0, 1.0, 1.0, "default")
    for task in registry.tasks().names():
        doc = json.loads(calibration_path(task).read_text())
        assert doc["c_b"] >= 0 and doc["objectives"] and doc["batch"] > 0 and doc["repeats"] >= 3, task


def test_records_carry_cost_and_no_ok_record_exceeds_its_cap(tmp_path):
    recs = [execute(Cell(task="gmm", method=m, objective="linear", budget=b, n=N, steps=STEPS), tmp_path,
                    show_progress=False) for m in ("none", "best-of-n", "dps", "tfg", "treeg-sd", "smc", "dts")
            for b in ("1x", "4x")]
    statuses = {r["status"] for r in recs}
    assert statuses <= {"ok", "over_budget_min"} and "over_budget_min" in statuses  # dps cannot run at 1x
    for r in recs:
        u, cap = r["usage"], r["budget"]["cost_cap"]
        assert set(r["budget"]["calibration"]) == {"c_b", "c_r", "c_rg", "source"}
        assert abs(u["cost_per_sample"] * N - u["cost"]) < 1e-5
        if r["status"] == "ok":
            assert u["cost"] <= cap + 1e-6 and r["metrics"], r["cell"]
        else:
            assert u["min_cost_per_sample"] > cap / N and not r["metrics"] and u["cost"] == 0


TINY = {"molecules": "rings=3", "molecules_cond": "rings=3", "music": "note_density", "images": "label=3",
        "images_flow": "label=3"}


@pytest.mark.parametrize("task", list(TINY))
@pytest.mark.parametrize("method", ["best-of-n", "svdd", "treeg-sd", "smc", "tds", "dps", "tag", "tfg"])
def test_tiny_real_tasks_dry_count(task, method):
    """The same dry count on the tiny random-weight real tasks (default prices: tiny networks are uncalibrated)."""
    t = build_task(task, True, "cpu")
    obj = t.objective(TINY[task])
    m = registry.methods().get(method)
    try:
        m.check(t.family_kind, obj.grad_proxy is not None)
    except Incompatible:
        pytest.skip("incompatible pair")
    n, steps, b = 2, 4, 8.0
    cal = calibration(t, obj)
    assert cal == Calibration()
    cfg = m.for_budget(m.config(), b, steps, cal)
    plan = plan_budget(m, cfg, steps, n, b, cal)
    out, meter, _, _ = run_method(task, method, objective=TINY[task], n=n, steps=steps, budget="8x", tiny=True)
    want = m.counts(cfg, steps).scale(n * plan.chains) + Counts(reward=n * plan.chains * (plan.chains > 1))
    assert out.x0.shape[0] == n and meter.counts() == want and meter.cost() <= b * steps * n + 1e-6
