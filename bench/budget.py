"""A cell's budget: ``4x`` parsed, the task's prices (its calibration), and the plan of chains that fits the cap.

Budgets are in total forward-equivalents per returned sample, in multiples of T (unguided sampling at the same
steps): a forward = 1, a backward = c_b, a reward call = c_r, a reward gradient = c_rg (``bench.calibrate``).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench import calibrate, validate
from bench.meter import Calibration, OverBudgetMin
from bench.method import chains_for
from bench.task import Task


def parse_budget(text: str) -> float:
    """'4x' -> 4.0 (any spelling ``bench.validate.budget`` accepts); InputError (a ValueError) otherwise."""
    return float(validate.budget(text)[:-1])


def calibration(task: Task, objective) -> Calibration:
    """The committed calibration of this task and objective (defaults for tiny variants)."""
    return calibrate.load(task.name, objective.name, task.tiny)


@dataclass(frozen=True)
class BudgetPlan:
    """How a cell spends its cap: ``per_sample`` forward-equivalents per returned sample (None = uncapped),
    ``chains`` independent chains per returned sample (best-of-k; 1 = the method alone), ``min_cost`` of one
    chain per returned sample."""

    per_sample: float | None
    chains: int
    min_cost: float

    def check(self) -> None:
        """Raise OverBudgetMin when even one chain does not fit."""
        if self.per_sample is not None and self.min_cost > self.per_sample * (1 + 1e-9) + 1e-9:
            raise OverBudgetMin(self.min_cost, self.per_sample)


def plan_budget(method, cfg, steps: int, n: int, budget: float | None, cal: Calibration) -> BudgetPlan:
    """The plan of a run at ``budget`` (multiples of T; None = uncapped)."""
    per_sample = None if budget is None else budget * steps
    one = method.min_cost(cfg, steps, cal, n)
    chains = 1 if method.sized_at_run(cfg) else chains_for(one, per_sample, cal)
    return BudgetPlan(per_sample, chains, one)
