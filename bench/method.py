"""The Method contract.

A method is registered under its key (its file name), has a version, declares the families it supports and
whether it needs reward gradients, has one frozen config dataclass with documented defaults, a cost model
(``counts``: forwards, backwards, reward and gradient-reward rows per returned sample as a function of its config
and the step count; ``cost`` prices them in forward-equivalents with the task's ``Calibration``) and the inverse
that sets its width knob for a budget. ``run(ctx, cfg)`` returns the clean samples and the owner of each.

A method whose width cannot absorb the budget (no knob: dps, lgd, mpgd, tag; or a knob that leaves room for a
second chain) is run best-of-k by the runner: k independent chains per returned sample, the best by the proxy
(``chains_for`` and ``best_of_chains`` below, written once for every method).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable

import torch

from bench.meter import DEFAULT_CALIBRATION, Calibration, CountedReward, Counts
from bench.rng import Streams

CHAIN_STRIDE = 1 << 32  # chain c of returned sample j draws from stream j + c·CHAIN_STRIDE (chain 0 = stream j)


@dataclass(frozen=True)
class Bound:
    """The accepted range of one config field (``--set`` is checked against it before any work starts):
    numbers in [lo, hi] (``lo_open``: lo excluded), strings one of ``choices``."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """The accepted form in words, e.g. ``>= 1`` or ``in [0, 1]`` or ``one of diff|max``."""
        if self.choices:
            return "one of " + "|".join(self.choices)
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {self.lo:g}"
        hi = "" if self.hi is None else f"<= {self.hi:g}"
        return " and ".join(x for x in (lo, hi) if x) or "any finite value"

    def admits(self, value: Any) -> bool:
        """Whether ``value`` (already of the field's type) is in range."""
        if self.choices:
            return value in self.choices
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return self.hi is None or value <= self.hi


POSITIVE_INT = Bound(lo=1)  # the default of int fields: widths, counts and intervals
FRACTION = Bound(lo=0.0, hi=1.0)  # window starts: a fraction of the trajectory
NONNEG = Bound(lo=0.0)  # step sizes, scales
POSITIVE = Bound(lo=0.0, lo_open=True)


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
    calibration: Calibration = DEFAULT_CALIBRATION  # prices of backward / reward rows in forward-equivalents
    budget: float | None = None  # forward-equivalents per returned sample (None = uncapped)
    progress: Callable[[Iterable, str], Iterable] = lambda it, desc="": it
    diagnostics: dict[str, Any] = field(default_factory=dict)
    answer: Callable[[torch.Tensor, torch.Tensor], list] | None = None  # (x0, owner) -> answer key per row, uncounted
    quality: Any = None  # bench.quality.QualitySource: the model's own guidance branches (cfg, pag, autoguidance)

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
    needs_answer: ClassVar[bool] = False  # reads the objective's answer key (self-consistency)
    toy_objectives: ClassVar[dict[str, str]] = {}  # exact toy -> objective the contract checks it on (default TOYS)
    probe_tasks: ClassVar[dict[str, str]] = {}  # tiny task -> objective, checked only when no exact toy can serve
    quality: ClassVar[bool] = False  # is itself quality guidance (bench.quality): never run on a --base
    reward_free: ClassVar[bool] = False  # never calls the proxy at any budget (it cannot be expected to raise it)
    population: ClassVar[bool] = False  # couples the particles of a population
    anytime: ClassVar[bool] = False  # spends its budget step by step: counts() is a bound, not an exact prediction
    tunable: ClassVar[dict[str, tuple[float, float, float]]] = {}  # name -> (start, factor, max) for `bench tune`
    bounds: ClassVar[dict[str, Bound]] = {}  # accepted ranges of config fields (int fields default to >= 1)
    Config: ClassVar[type]

    def config(self, **overrides: Any) -> Any:
        """The default config with ``overrides`` (unknown keys raise with the valid names)."""
        names = {f.name for f in dataclasses.fields(self.Config)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise ValueError(f"{self.key}: unknown config key(s) {bad}; valid: {sorted(names)}")
        return self.Config(**overrides)

    def check(self, family_kind: str, has_grad: bool, has_answer: bool = False) -> None:
        """Raise Incompatible when this method cannot run on a family / objective."""
        if family_kind not in self.supports:
            raise Incompatible(f"{self.key} supports {sorted(self.supports)}, task is {family_kind}")
        if self.needs_grad and not has_grad:
            raise Incompatible(f"{self.key} needs a differentiable proxy reward; the objective has none")
        if self.needs_answer and not has_answer:
            raise Incompatible(f"{self.key} needs the objective's answer key (a task with final answers); "
                               "this objective has none")

    def check_task(self, task: Any, objective: Any) -> None:
        """Raise Incompatible when ``task`` / ``objective`` lacks a capability the method needs beyond the family
        kind and gradients (e.g. a condition label for cfg); the default needs nothing."""
        return None

    @abstractmethod
    def counts(self, cfg: Any, steps: int) -> Counts:
        """Counted rows (forward, backward, reward, gradient reward) per returned sample."""

    def cost(self, cfg: Any, steps: int, cal: Calibration) -> float:
        """Forward-equivalents per returned sample: ``cal.price(counts)``."""
        return cal.price(self.counts(cfg, steps))

    @abstractmethod
    def for_budget(self, cfg: Any, budget: float, steps: int, cal: Calibration) -> Any:
        """A config whose width knob spends at most ``budget`` × ``steps`` forward-equivalents per returned sample
        (the smallest width when even that does not fit)."""

    def reduces_to(self, cfg: Any, steps: int, chains: int = 1) -> str | None:
        """The key of the method this (sized) config runs as, when that is not this method (a tree search that
        never branches, or SMC with one particle, is `none`, or `best-of-n` over independent chains); None when it
        is itself. The report marks such cells, so a row is never read as a result of an algorithm that did not
        run."""
        return None

    def min_cost(self, cfg: Any, steps: int, cal: Calibration, n: int) -> float:
        """Forward-equivalents per returned sample of the cheapest run of ``cfg`` for ``n`` samples (one chain)."""
        return self.cost(cfg, steps, cal)

    def sized_at_run(self, cfg: Any) -> bool:
        """True when ``run`` sizes itself from ``ctx.budget`` (particle ``return_all`` modes): no best-of-k."""
        return False

    @abstractmethod
    def run(self, ctx: Context, cfg: Any) -> Output:
        """Sample ``ctx.n`` guided clean samples."""


def ancestral(ctx: Context, family: Any, owner: torch.Tensor, desc: str, proposal: str = "proposal") -> torch.Tensor:
    """The unguided chain of ``family`` for the rows ``owner``: x_T ~ prior, then at every scheduled step one
    forward and a draw from the family's ``proposal`` (or another transition primitive with its signature, e.g.
    ``margin_proposal``): (len(owner), ...). The loop shared by the methods that change only the prediction
    (quality guidance), the transition (top-margin) or the selection afterwards (majority)."""
    step = getattr(family, proposal)
    x = family.prior(ctx.streams, owner)  # (R, ...)
    for t, s in ctx.progress(family.timesteps(ctx.steps), desc):
        x = step(x, t, s, family.denoise(x, t)).sample(ctx.streams, owner)  # (R, ...)
    return x


def largest(fits: Callable[[int], bool], start: int = 1, limit: int = 1 << 14) -> int:
    """The largest integer w in [start, limit] with fits(w), fits monotone (doubling, then bisection);
    ``start`` if none fits."""
    lo, hi = start, start
    while hi < limit and fits(hi * 2 if hi else 1):
        lo = hi = hi * 2 if hi else 1
    hi = min(limit, hi * 2)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def fit_width(cost: Callable[[int], float], cap: float, start: int = 1) -> int:
    """The largest width w with cost(w) <= cap (cost increasing in w); ``start`` when none fits."""
    return largest(lambda w: cost(w) <= cap + 1e-9, start)


def chains_for(one_chain: float, per_sample: float | None, cal: Calibration) -> int:
    """Best-of-k: k independent chains fit when k·(one_chain + c_r) <= per_sample (each chain's output is scored
    once by the proxy for the final selection); 1 when fewer than two fit or the run is uncapped."""
    if per_sample is None:
        return 1
    k = int((per_sample + 1e-9) // (one_chain + cal.c_r))
    return k if k >= 2 else 1


def chain_streams(seed: int, n: int, k: int, device) -> Streams:
    """Streams of k chains per returned sample, chain-major: row c·n + j is chain c of sample j."""
    return Streams(seed, [j + c * CHAIN_STRIDE for c in range(k) for j in range(n)], device)


def best_of_chains(ctx: Context, out: Output, n: int) -> Output:
    """Per returned sample j (chains' owners o with o % n == j), the chain output with the highest proxy reward
    (one proxy call per chain output, counted); ties and NaN go to the first chain."""
    score = torch.nan_to_num(ctx.reward(out.x0, out.owner), nan=-torch.inf).double()  # (n·k,)
    sample = (out.owner % n).to(score.device)  # (n·k,)
    rows = torch.arange(score.numel(), device=score.device)  # (n·k,)
    best = torch.full((n,), -torch.inf, dtype=score.dtype, device=score.device).scatter_reduce(
        0, sample, score, "amax")  # (n,)
    hit = score >= best[sample]  # rows that reach their sample's max (every row of an all-NaN sample)
    first = torch.full((n,), score.numel(), device=score.device).scatter_reduce(
        0, sample[hit], rows[hit], "amin")  # (n,) first such row per sample
    return Output(out.x0[first], sample[first], out.diagnostics)
