"""The meter: compute is counted from outside the method, and priced on one axis.

The runner wraps the family's network and the rewards before the method sees them. NFE = rows through the
network; backward = rows whose output received a gradient (a VJP through the denoiser); reward calls = rows scored
by the proxy (without grad); grad reward calls = rows of the differentiable proxy evaluated with grad. The cost of
a run is in forward-equivalents of the task's network (``Calibration``):

    cost = nfe + c_b·backward + c_r·reward_calls + c_rg·grad_reward_calls

A run whose cost crosses its cap raises ``BudgetExceeded`` at the offending counted event (a forward, a backward
or a reward call). The raw counts stay in the record beside the cost.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from bench.reward import Reward


class BudgetExceeded(RuntimeError):
    """The method spent more forward-equivalents than its budget allows."""


class OverBudgetMin(RuntimeError):
    """Even the method's smallest run (one chain, width 1) costs more than the cap: no score is recorded."""

    def __init__(self, min_cost_per_sample: float, cap_per_sample: float) -> None:
        super().__init__(f"one chain costs {min_cost_per_sample:.4g} forward-equivalents per sample, "
                         f"above the cap {cap_per_sample:.4g}")
        self.min_cost_per_sample = min_cost_per_sample


@dataclass(frozen=True)
class Calibration:
    """Prices in forward-equivalents: c_b per backward row, c_r per proxy-reward row, c_rg per gradient-reward
    row. ``source`` is the calibration file it came from, or "default" (c_b = 2, c_r = c_rg = 1)."""

    c_b: float = 2.0
    c_r: float = 1.0
    c_rg: float = 1.0
    source: str = "default"

    def price(self, counts: "Counts") -> float:
        """Forward-equivalents of ``counts``."""
        return counts.forward + self.c_b * counts.backward + self.c_r * counts.reward + self.c_rg * counts.grad_reward


DEFAULT_CALIBRATION = Calibration()


@dataclass(frozen=True)
class Counts:
    """Counted events (rows) per returned sample: the raw form of a method's cost model."""

    forward: float = 0.0
    backward: float = 0.0
    reward: float = 0.0
    grad_reward: float = 0.0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.forward + other.forward, self.backward + other.backward, self.reward + other.reward,
                      self.grad_reward + other.grad_reward)

    def scale(self, factor: float) -> "Counts":
        return Counts(self.forward * factor, self.backward * factor, self.reward * factor,
                      self.grad_reward * factor)


@dataclass
class Meter:
    """Counters of one run; ``cap`` is the total cost cap in forward-equivalents (None = unlimited)."""

    cap: float | None = None
    cal: Calibration = DEFAULT_CALIBRATION
    nfe: int = 0
    calls: int = 0  # network forward calls (batches)
    backward: int = 0
    reward_calls: int = 0
    grad_reward_calls: int = 0
    weak_nfe: float = 0.0  # forward-equivalents of a cheaper weak model's rows (autoguidance)
    started: float = field(default_factory=time.perf_counter)

    def counts(self) -> Counts:
        return Counts(self.nfe + self.weak_nfe, self.backward, self.reward_calls, self.grad_reward_calls)

    def cost(self) -> float:
        """Forward-equivalents spent so far."""
        return self.cal.price(self.counts())

    def _check(self, event: str) -> None:
        if self.cap is not None and self.cost() > self.cap * (1 + 1e-9) + 1e-9:
            raise BudgetExceeded(f"cost {self.cost():.6g} exceeds the cap {self.cap:.6g} at a {event} "
                                 f"(nfe={self.nfe} backward={self.backward} reward={self.reward_calls} "
                                 f"grad_reward={self.grad_reward_calls})")

    def add_forward(self, rows: int) -> None:
        self.nfe += rows
        self.calls += 1
        self._check("forward")

    def add_weak(self, equivalents: float) -> None:
        self.weak_nfe += equivalents
        self.calls += 1
        self._check("weak-model forward")

    def add_backward(self, rows: int) -> None:
        self.backward += rows
        self._check("backward")

    def add_reward(self, rows: int, grad: bool) -> None:
        if grad:
            self.grad_reward_calls += rows
        else:
            self.reward_calls += rows
        self._check("grad reward call" if grad else "reward call")

    def usage(self, n: int | None = None) -> dict[str, float]:
        """The record's usage block: raw counts, wall time, ``cost`` and ``cost_per_sample`` (with ``n``)."""
        d = asdict(self)
        d.pop("cap"), d.pop("started"), d.pop("cal")
        d["wall_s"] = round(time.perf_counter() - self.started, 4)
        if not d["weak_nfe"]:
            d.pop("weak_nfe")  # only autoguidance runs carry it
        d["nfe_equiv"] = self.nfe + self.weak_nfe + 2 * self.backward
        d["cost"] = round(self.cost(), 6)
        if n:
            d["cost_per_sample"] = round(self.cost() / n, 6)
        return d


class CountedNet(nn.Module):
    """Wraps a network: counts every row of every forward, and every row a gradient flows back through.
    ``weight``: forward-equivalents of one row (1 for the task's network; an autoguidance weak model counts at
    its own relative cost, into ``Meter.weak_nfe``). Keyword inputs (a label) pass through. ``autocast``: a
    reduced precision (torch.bfloat16) the network runs under; its output is cast back to float32, so sampler
    math, rewards and gradients outside the network stay in float32."""

    def __init__(self, net: nn.Module, meter: Meter, weight: float = 1.0, autocast: torch.dtype | None = None) -> None:
        super().__init__()
        self.inner = net
        self.meter = meter
        self.weight = float(weight)
        self.autocast = autocast

    def forward(self, x: torch.Tensor, t: torch.Tensor, **kw) -> torch.Tensor:
        rows = x.shape[0]
        if self.weight == 1.0:
            self.meter.add_forward(rows)
        else:
            self.meter.add_weak(rows * self.weight)
        if self.autocast is None:
            out = self.inner(x, t, **kw)
        else:
            with torch.autocast(x.device.type, dtype=self.autocast):
                out = self.inner(x, t, **kw)
            out = out.float()
        if out.requires_grad:
            out.register_hook(lambda g: self.meter.add_backward(rows * self.weight))
        return out


class CountedReward:
    """A proxy reward seen by a method: counts calls and maps each row's owner to its instance index."""

    def __init__(self, reward: Reward, meter: Meter, owner_instance: torch.Tensor) -> None:
        self.reward = reward
        self.meter = meter
        self.owner_instance = owner_instance  # (n,) instance index of each returned sample / stream
        self.differentiable = reward.differentiable
        self.name = reward.name

    def __call__(self, x0: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        self.meter.add_reward(x0.shape[0], grad=x0.requires_grad)
        inst = self.owner_instance.to(owner.device)[owner]  # (N,)
        return self.reward(x0, inst).to(torch.float32)
