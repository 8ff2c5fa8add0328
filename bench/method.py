"""The Method contract.

A method is registered under its key (its file name), has a version, declares the families it supports and
whether it needs reward gradients, has one frozen config dataclass with documented defaults, a cost model (NFE per
returned sample as a function of its config and the step count) and the inverse that sets its width knob for a
budget. ``run(ctx, cfg)`` returns the clean samples and the owner (stream / population) of each.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable

import torch

from bench.meter import CountedReward
from bench.rng import Streams


class Incompatible(Exception):
    """The method cannot run on this task/objective (family, or a needed gradient, is missing)."""


@dataclass
class Context:
    """What a method sees: the counted family and rewards, the streams, and the run's shape."""

    family: Any  # GaussianFamily | MaskedFamily, network counted
    reward: CountedReward  # proxy, on clean samples, (x0, owner) -> (N,)
    streams: Streams  # one per returned sample
    n: int  # returned samples
    steps: int
    grad_reward: CountedReward | None = None  # differentiable proxy, if the objective has one
    progress: Callable[[Iterable, str], Iterable] = lambda it, desc="": it
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def owners(self, per: int = 1) -> torch.Tensor:
        """Owner ids of ``per`` rows for each returned sample, sample-major: (n·per,)."""
        return torch.arange(self.n, device=self.streams.device).repeat_interleave(per)


@dataclass
class Output:
    """A method's result: ``x0`` (n, ...) clean samples; ``owner`` (n,) stream of each (its instance)."""

    x0: torch.Tensor
    owner: torch.Tensor
    diagnostics: dict[str, Any] = field(default_factory=dict)


class Method(ABC):
    """Base class: subclasses set the class attributes and implement ``cost``, ``for_budget`` and ``run``."""

    key: ClassVar[str]
    version: ClassVar[str] = "1"
    paper: ClassVar[str] = ""
    supports: ClassVar[frozenset[str]] = frozenset({"continuous", "discrete"})
    needs_grad: ClassVar[bool] = False
    population: ClassVar[bool] = False  # couples the particles of a population
    tunable: ClassVar[dict[str, tuple[float, float, float]]] = {}  # name -> (start, factor, max) for `bench tune`
    Config: ClassVar[type]

    def config(self, **overrides: Any) -> Any:
        """The default config with ``overrides`` (unknown keys raise with the valid names)."""
        names = {f.name for f in dataclasses.fields(self.Config)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise ValueError(f"{self.key}: unknown config key(s) {bad}; valid: {sorted(names)}")
        return self.Config(**overrides)

    def check(self, family_kind: str, has_grad: bool) -> None:
        """Raise Incompatible when this method cannot run on a family / objective."""
        if family_kind not in self.supports:
            raise Incompatible(f"{self.key} supports {sorted(self.supports)}, task is {family_kind}")
        if self.needs_grad and not has_grad:
            raise Incompatible(f"{self.key} needs a differentiable proxy reward; the objective has none")

    @abstractmethod
    def cost(self, cfg: Any, steps: int) -> float:
        """Forward NFE per returned sample."""

    @abstractmethod
    def for_budget(self, cfg: Any, budget: float, steps: int) -> Any:
        """A config whose width knob spends at most ``budget`` × ``steps`` NFE per returned sample."""

    @abstractmethod
    def run(self, ctx: Context, cfg: Any) -> Output:
        """Sample ``ctx.n`` guided clean samples."""


def largest(fits: Callable[[int], bool], start: int = 1, limit: int = 1 << 14) -> int:
    """The largest integer w in [start, limit] with fits(w), fits monotone (doubling, then bisection);
    ``start`` if none fits."""
    lo, hi = start, start
    while hi < limit and fits(hi * 2 if hi else 1):
        lo, hi = hi * 2, hi * 2
    hi = min(limit, hi * 2)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo
