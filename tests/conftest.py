"""Shared helpers: run a method on a task through the runner's metered path."""
from __future__ import annotations

import os
import tempfile

import pytest
import torch

from bench.contract import metered_run

# Hermetic tests: bench.diskcache writes into a fresh folder per session unless the caller set one.
os.environ.setdefault("GUIDEBENCH_CACHE", tempfile.mkdtemp(prefix="guidebench-cache-"))
_CACHE: dict = {}


def run_method(task: str, method: str, objective: str | None = None, n: int = 16, steps: int = 16, seed: int = 0,
               budget: str | None = None, tiny: bool = False, **overrides):
    """(output, meter, cfg, task) of one metered run (``bench.contract.metered_run``, tasks cached per session)."""
    return metered_run(task, method, objective, n, steps, seed, budget, tiny, _CACHE, **overrides)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    yield
