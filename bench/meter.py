"""The meter: compute is counted from outside the method.

The runner wraps the family's network and the rewards before the method sees them. NFE = rows through the
network; backward = rows whose output received a gradient (a VJP through the denoiser); reward calls = rows scored.
A run whose NFE crosses its cap raises ``BudgetExceeded`` at the offending call.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from bench.reward import Reward


class BudgetExceeded(RuntimeError):
    """The method asked for more network evaluations than its budget allows."""


@dataclass
class Meter:
    """Counters of one run; ``cap`` is the NFE cap (None = unlimited)."""

    cap: float | None = None
    nfe: int = 0
    calls: int = 0  # network forward calls (batches)
    backward: int = 0
    reward_calls: int = 0
    grad_reward_calls: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add_forward(self, rows: int) -> None:
        self.nfe += rows
        self.calls += 1
        if self.cap is not None and self.nfe > self.cap:
            raise BudgetExceeded(f"NFE {self.nfe} exceeds the cap {self.cap:.0f}")

    def usage(self) -> dict[str, float]:
        d = asdict(self)
        d.pop("cap"), d.pop("started")
        d["wall_s"] = round(time.perf_counter() - self.started, 4)
        d["nfe_equiv"] = self.nfe + 2 * self.backward
        return d


class CountedNet(nn.Module):
    """Wraps a network: counts every row of every forward, and every row a gradient flows back through."""

    def __init__(self, net: nn.Module, meter: Meter) -> None:
        super().__init__()
        self.inner = net
        self.meter = meter

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        self.meter.add_forward(rows)
        out = self.inner(x, t)
        if out.requires_grad:
            out.register_hook(lambda g: self._count_backward(rows))
        return out

    def _count_backward(self, rows: int) -> None:
        self.meter.backward += rows


class CountedReward:
    """A proxy reward seen by a method: counts calls and maps each row's owner to its instance index."""

    def __init__(self, reward: Reward, meter: Meter, owner_instance: torch.Tensor) -> None:
        self.reward = reward
        self.meter = meter
        self.owner_instance = owner_instance  # (n,) instance index of each returned sample / stream
        self.differentiable = reward.differentiable
        self.name = reward.name

    def __call__(self, x0: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        if x0.requires_grad:
            self.meter.grad_reward_calls += x0.shape[0]
        else:
            self.meter.reward_calls += x0.shape[0]
        inst = self.owner_instance.to(owner.device)[owner]  # (N,)
        return self.reward(x0, inst).to(torch.float32)
