"""Overhead benchmark (not a test): wall / (cost × t_fwd) for every method on the given tasks at one budget.

cost is the run's metered forward-equivalents (forwards + c_b·backward + c_r·reward + c_rg·grad reward rows,
with the task's committed calibration); t_fwd is the time of one batched forward per row, measured at the
method's own average batch size (NFE / calls). A ratio near 1 means the method's time is what the compute axis
charges; far above 1 means a batching defect, per-step Python overhead or a stale calibration.
Usage: python scripts/overhead.py [--budget 16x] [--n 64] [--tasks gmm,toyseq]
"""
from __future__ import annotations

import argparse
import time

import torch

from bench import registry
from bench.meter import Meter, OverBudgetMin
from bench.method import Incompatible
from bench.runner import build_task, calibration, parse_budget, plan_budget, sample


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", default="16x")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--tasks", default="gmm,toyseq")
    ap.add_argument("--methods", default="all")
    args = ap.parse_args()
    torch.set_num_threads(1)
    methods = registry.methods().names() if args.methods == "all" else args.methods.split(",")
    print(f"{'task':8s} {'method':10s} {'cost':>10s} {'calls':>6s} {'batch':>6s} {'wall_s':>8s} {'ratio':>6s}")
    for name in args.tasks.split(","):
        task = build_task(name, False, "cpu")
        obj = task.objective(task.default_objective)
        for key in methods:
            m = registry.methods().get(key)
            try:
                m.check(task.family_kind, obj.grad_proxy is not None, obj.answer is not None)
                m.check_task(task, obj)  # a task-level need (a weak model, a label, attention to perturb)
            except Incompatible:
                continue
            steps = task.default_steps
            cal, budget = calibration(task, obj), parse_budget(args.budget)
            cfg = m.for_budget(m.config(), budget, steps, cal)
            plan = plan_budget(m, cfg, steps, args.n, budget, cal)
            try:
                plan.check()
            except OverBudgetMin as err:
                print(f"{name:8s} {key:10s} over_budget_min ({err})", flush=True)
                continue
            meter = Meter(cap=plan.per_sample * args.n, cal=cal)
            t0 = time.perf_counter()
            sample(task, obj, m, cfg, args.n, steps, 0, meter, chains=plan.chains)
            wall = time.perf_counter() - t0
            batch = max(1, round(meter.nfe / max(1, meter.calls)))
            fwd = time_forward(task, batch)
            print(f"{name:8s} {key:10s} {meter.cost():10.1f} {meter.calls:6d} {batch:6d} {wall:8.2f} "
                  f"{wall / (meter.cost() * fwd):6.2f}", flush=True)


if __name__ == "__main__":
    main()
