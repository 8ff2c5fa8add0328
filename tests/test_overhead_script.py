"""scripts/overhead.py's in-call clock: it times exactly the metered calls of a run, once each, and leaves the
patched callables as they were."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import torch

from bench.meter import CountedNet, CountedReward

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("overhead", ROOT / "scripts" / "overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_clock_counts_outer_calls_once() -> None:
    clock = _script().CallClock()
    inner = clock.wrap(lambda: time.sleep(0.02))
    outer = clock.wrap(lambda: (inner(), time.sleep(0.02)))
    t0 = time.perf_counter()
    outer()
    wall = time.perf_counter() - t0
    assert 0.04 <= clock.seconds <= wall  # the nested 0.02 s is inside the outer call's, not added twice


def test_clock_restores_patched_callables_and_times_a_run() -> None:
    mod = _script()
    before = (CountedNet.forward, CountedReward.__call__, torch.autograd.grad)
    task = mod.build_task("gmm", False, "cpu")
    obj = task.objective("linear")
    clock = mod.CallClock()
    with clock.installed():
        assert CountedNet.forward is not before[0] and torch.autograd.grad is not before[2]
        t0 = time.perf_counter()
        dps = mod.registry.methods().get("dps")
        mod.sample(task, obj, dps, dps.config(), 8, 10, 0, mod.Meter(cap=None, cal=mod.calibration(task, obj)))
        wall = time.perf_counter() - t0
    assert (CountedNet.forward, CountedReward.__call__, torch.autograd.grad) == before
    assert 0 < clock.seconds <= wall
