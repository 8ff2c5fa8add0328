"""Overhead benchmark (not a test): wall / (cost × t_fwd) for every method on the given tasks at one budget.

cost is the run's metered forward-equivalents (forwards + c_b·backward + c_r·reward + c_rg·grad reward rows,
with the task's committed calibration); t_fwd is the time of one batched forward per row, measured at the
method's own average batch size (NFE / calls). A ratio near 1 means the method's time is what the compute axis
charges; far above 1 means a batching defect, per-step Python overhead or a stale calibration.
``in_calls`` is a second, load-robust ratio: wall / (seconds spent inside the metered calls, i.e. network forwards,
reward calls and autograd backward passes, timed in the same run). It is 1 + the share of time outside them (Python
per-step work, sampler math, stream draws) and, unlike ``ratio``, does not compare against a forward timed at
another moment, so it holds on a loaded machine; ``ratio`` adds what a stale calibration costs.
A small n overstates the ratio (fixed per-step work is a larger share of a small batch: math `none` at 4x measured
1.55 at n = 8 and 1.02 at n = 32), so ``--protocol results/protocol.yaml`` takes each task's n from the protocol,
the n its committed matrix runs at.
Usage: python scripts/overhead.py [--budget 16x] [--n 64 | --protocol FILE] [--tasks gmm,toyseq]
"""
from __future__ import annotations

import argparse
import functools
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import torch

from bench import registry
from bench.budget import calibration, parse_budget, plan_budget
from bench.meter import CountedNet, CountedReward, Meter, OverBudgetMin
from bench.method import Incompatible
from bench.protocol import load_protocol
from bench.runner import build_task, sample


class CallClock:
    """Seconds inside the metered calls of a run (outermost calls only: a reward that runs a network counts once)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    def wrap(self, fn):
        @functools.wraps(fn)
        def timed(*args, **kw):
            if self._depth:
                return fn(*args, **kw)
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self._depth -= 1
                self.seconds += time.perf_counter() - t0
        return timed

    def installed(self) -> ExitStack:
        """Clock network forwards, reward calls and backward passes while the returned context is open."""
        stack = ExitStack()
        for owner, name in ((CountedNet, "forward"), (CountedReward, "__call__"), (torch.autograd, "grad")):
            stack.enter_context(mock.patch.object(owner, name, self.wrap(getattr(owner, name))))
        return stack


def time_forward(task, batch: int, reps: int = 20) -> float:
    """Seconds per row of one forward at ``batch`` rows (median of ``reps``)."""
    fam = task.build_family()
    x = fam.prior(__import__("bench.rng", fromlist=["Streams"]).Streams(0, range(batch)), torch.arange(batch))
    t = fam.timesteps(10)[5][0]
    times = []
    with torch.no_grad():
        for _ in range(reps):
            t0 = time.perf_counter()
            fam.denoise(x, t)
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] / batch


def row(name: str, task, obj, key: str, n: int, budget_text: str) -> str | None:
    """One method's line (None when the task cannot run it): cost, calls, mean batch, wall and the ratio."""
    m = registry.methods().get(key)
    try:
        m.check(task.family_kind, obj.grad_proxy is not None, obj.answer is not None)
        m.check_task(task, obj)  # a task-level need (a weak model, a label, attention to perturb)
    except Incompatible:
        return None
    steps = task.default_steps
    cal, budget = calibration(task, obj), parse_budget(budget_text)
    cfg = m.for_budget(m.config(), budget, steps, cal)
    plan = plan_budget(m, cfg, steps, n, budget, cal)
    try:
        plan.check()
    except OverBudgetMin as err:
        return f"{name:8s} {key:10s} {n:4d} over_budget_min ({err})"
    meter, clock = Meter(cap=plan.per_sample * n, cal=cal), CallClock()
    with clock.installed():
        t0 = time.perf_counter()
        sample(task, obj, m, cfg, n, steps, 0, meter, chains=plan.chains)
        wall = time.perf_counter() - t0
    batch = max(1, round(meter.nfe / max(1, meter.calls)))
    fwd = time_forward(task, batch)
    return (f"{name:8s} {key:10s} {n:4d} {meter.cost():10.1f} {meter.calls:6d} {batch:6d} {wall:8.2f} "
            f"{wall / (meter.cost() * fwd):6.2f} {wall / clock.seconds:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", default="16x")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--tasks", default="gmm,toyseq")
    ap.add_argument("--methods", default="all")
    ap.add_argument("--protocol", type=Path, default=None, help="each task's n from this protocol file (not --n)")
    args = ap.parse_args()
    proto = load_protocol(args.protocol).tasks if args.protocol else {}
    torch.set_num_threads(1)
    methods = registry.methods().names() if args.methods == "all" else args.methods.split(",")
    print(f"{'task':8s} {'method':10s} {'n':>4s} {'cost':>10s} {'calls':>6s} {'batch':>6s} {'wall_s':>8s} "
          f"{'ratio':>6s} {'in_calls':>8s}")
    for name in args.tasks.split(","):
        task = build_task(name, False, "cpu")
        obj = task.objective(task.default_objective)
        for key in methods:
            line = row(name, task, obj, key, proto[name].n if name in proto else args.n, args.budget)
            if line is not None:
                print(line, flush=True)


if __name__ == "__main__":
    main()
