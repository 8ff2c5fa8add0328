"""The Reward contract: a frozen description plus a batched function.

``fn(x0, instance) -> (N,) float tensor``. ``x0`` is the clean sample batch in the family's representation:
continuous (N, *shape) floats; masked (N, L) token ids, or (N, L, V) probabilities when a differentiable reward
is called on the soft path. ``instance`` (N,) long holds each particle's instance index so conditional rewards
(a target per sample) survive branching and resampling (pitfall P11).

Invalid samples: a proxy returns ``floor`` for them, an oracle returns NaN; both are counted by the task's
metrics. Nothing raises mid-run for an invalid sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

RewardFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Reward:
    """A reward (proxy for methods, oracle for scoring)."""

    name: str
    fn: RewardFn
    on: str = "x0"  # "x0": a function of the tensor; "decoded": decodes to domain objects inside fn
    differentiable: bool = False
    role: str = "proxy"  # "proxy" | "oracle"
    higher_is_better: bool = True
    floor: float = -1e3  # value a proxy gives an invalid sample

    def __post_init__(self) -> None:
        if self.on not in ("x0", "decoded"):
            raise ValueError(f"Reward.on must be 'x0' or 'decoded', got {self.on!r}")
        if self.role not in ("proxy", "oracle"):
            raise ValueError(f"Reward.role must be 'proxy' or 'oracle', got {self.role!r}")

    def __call__(self, x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        return self.fn(x0, instance)
