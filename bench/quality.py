"""Quality guidance from the model itself, written once for every family (``specs/quality-guidance.md``).

One combination rule on the network's output, whatever the family makes of it afterwards:

    out(x_t, t) = weak(x_t, t) + w·(strong(x_t, t) − weak(x_t, t))        w = 1: the strong prediction alone

The weights (1 − w, w) sum to one, so combining raw outputs is the same as combining ε, x0 or v (each is affine in
the others at fixed x_t), and on logits it is p_strong^w · p_weak^(1−w) renormalised (the family's log-softmax
removes the constant). What ``weak`` and ``strong`` are:

    cfg           strong = net(x, t, label=c)   weak = net(x, t, label=∅)      (Ho & Salimans; c from the task)
    pag           strong = net(x, t)            weak = net with identity self-attention in its PAG layers
    autoguidance  strong = net(x, t)            weak = the task's degraded model (smaller / earlier), counted at
                                                its own relative cost (Karras et al. 2024)

Guidance interval (Kynkäänniemi et al. 2024): the weak branch runs only at scheduled steps i (0 = pure noise) with
lo < 1 − i/T ≤ hi, i.e. an interval on the position along the trajectory (1 = noise, 0 = data; the paper's
σ ∈ (σ_lo, σ_hi] maps to such a window for a fixed schedule). Outside it ``out = strong`` and only one forward is
spent. The weak branch is skipped at w = 1 too (no guidance, no cost).

A reward method runs on a quality-guided base unchanged (``--base pag:3``): ``guided_family`` hands it a copy of
the family whose network is the combination; every branch goes through the meter.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from bench.meter import Calibration, Counts
from bench.method import FRACTION, NONNEG, Context, Incompatible, Method, Output, ancestral

KINDS = ("cfg", "pag", "autoguidance")  # the kinds a --base may name
METHOD_ONLY = ("sag",)  # kinds with their own step (methods/sag.py), never a base
Net = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_SPEC = re.compile(r"^(?P<kind>[a-z-]+):(?P<w>[0-9.]+)(@(?P<lo>[0-9.]+)-(?P<hi>[0-9.]+))?$")


@dataclass(frozen=True)
class QualitySpec:
    """A quality-guided prediction: ``kind`` in KINDS, scale ``w`` (1 = off), active interval (lo, hi]."""

    kind: str
    w: float
    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS + METHOD_ONLY:
            raise ValueError(f"quality guidance {self.kind!r}: expected one of {', '.join(KINDS + METHOD_ONLY)}")
        if not (self.w >= 0 and 0 <= self.lo < self.hi <= 1):
            raise ValueError(f"quality guidance {self.label()}: need w >= 0 and 0 <= lo < hi <= 1")

    def label(self) -> str:
        """The spelling ``parse_base`` reads: ``pag:3`` or ``pag:3@0.2-0.8``."""
        core = f"{self.kind}:{self.w:g}"
        return core if (self.lo, self.hi) == (0.0, 1.0) else f"{core}@{self.lo:g}-{self.hi:g}"

    def active_steps(self, steps: int, off_at_one: bool = True) -> list[bool]:
        """Which of the ``steps`` scheduled steps run the weak branch (none at w = 1 unless ``off_at_one`` is
        False: CFG++ still renoises with the weak ε̂ there)."""
        if self.w == 1.0 and off_at_one:
            return [False] * steps
        return [self.lo < 1 - i / steps <= self.hi for i in range(steps)]


def parse_base(text: str) -> QualitySpec:
    """``KIND:W`` or ``KIND:W@LO-HI`` (e.g. ``pag:3``, ``cfg:2@0.2-0.8``) -> QualitySpec; ValueError otherwise."""
    m = _SPEC.match(text.strip())
    if not m or m["kind"] not in KINDS:
        raise ValueError(f"--base {text!r}: expected KIND:W or KIND:W@LO-HI with KIND one of {', '.join(KINDS)} "
                         "(e.g. pag:3, cfg:2@0.2-0.8)")
    lo, hi = (float(m["lo"]), float(m["hi"])) if m["lo"] else (0.0, 1.0)
    return QualitySpec(m["kind"], float(m["w"]), lo, hi)


def _key(t: float | torch.Tensor) -> float:
    """A schedule time as a set key: the family passes t as a float32 or long tensor, the schedule as a float."""
    return round(float(t), 5)


class GuidedNet(nn.Module):
    """``weak + w·(strong − weak)`` at the times in ``active`` (a set of the schedule's t), ``strong`` elsewhere."""

    def __init__(self, strong: Net, weak: Net, w: float, active: set[float]) -> None:
        super().__init__()
        self.strong, self.weak, self.w, self.active = strong, weak, float(w), active

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        s = self.strong(x, t)  # (B, ...)
        if self.w == 1.0 or _key(t.reshape(-1)[0]) not in self.active:
            return s  # no guidance: the strong prediction itself, no weak forward
        weak = self.weak(x, t)  # (B, ...)
        return weak + self.w * (s - weak)


class QualitySource:
    """What quality guidance may use in one run, built by the runner: the counted network ``net`` (the family's),
    the raw network under it (its PAG switch and label input), the objective's condition label (CFG), and the
    task's autoguidance hook (``Task.autoguide``), whose weak model is loaded on first use and metered at its
    relative cost."""

    def __init__(self, net: nn.Module, raw: nn.Module, condition: int | None = None,
                 autoguide: Callable[[], tuple[nn.Module, float] | None] | None = None, meter: Any = None) -> None:
        self.net, self.raw, self.condition = net, raw, condition
        self._autoguide, self._meter, self._weak = autoguide, meter, None

    @property
    def weak(self) -> tuple[nn.Module, float] | None:
        """(counted weak model, relative cost), or None when the task has none."""
        if self._weak is None and self._autoguide is not None:
            got = self._autoguide()
            if got is not None:
                from bench.meter import CountedNet
                net, cost = got
                counted = CountedNet(net, self._meter, weight=cost, autocast=getattr(self.net, "autocast", None))
                self._weak = (counted if self._meter is not None else net, cost)
        return self._weak

    def branches(self, kind: str) -> tuple[Net, Net]:
        """(strong, weak) callables of ``kind``; Incompatible when the task or network cannot provide them."""
        if kind == "cfg":
            null = getattr(self.raw, "null_label", None)
            if self.condition is None or null is None:
                raise Incompatible("cfg needs a conditional objective (label) and a network with a null label")
            return self._labelled(self.condition), self._labelled(null)
        base = self.conditioned()
        if kind == "pag":
            if not hasattr(self.raw, "attention_perturbed") or not getattr(self.raw, "pag_layers", (0,)):
                raise Incompatible("pag needs a network with self-attention and an attention_perturbed() switch "
                                   "(this one has no perturbable layers: pag_layers is empty)")

            def perturbed(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                with self.raw.attention_perturbed():
                    return base(x, t)
            return base, perturbed
        if self.weak is None:
            raise Incompatible("autoguidance needs the task's weak model (Task.autoguide); this task has none")
        return base, self.weak[0]

    def conditioned(self) -> Net:
        """The counted network on the objective's condition label when it has one (the strong branch of PAG,
        SAG and autoguidance), else the network itself."""
        return self._labelled(self.condition) if self.condition is not None else self.net

    def _labelled(self, label: int) -> Net:
        def call(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            lab = torch.full((x.shape[0],), int(label), dtype=torch.long, device=x.device)  # (B,)
            return self.net(x, t, label=lab)
        return call

    def multiplier(self, kind: str) -> float:
        """Forward-equivalents of one guided row at an active step (2, or 1 + the weak model's relative cost)."""
        return 1.0 + (self.weak[1] if kind == "autoguidance" and self.weak is not None else 1.0)

    def with_net(self, family: Any, net: Net) -> Any:
        """A shallow copy of ``family`` calling ``net``."""
        out = copy.copy(family)
        out.net = net
        return out

    def family(self, family: Any, spec: QualitySpec, steps: int) -> Any:
        """A shallow copy of ``family`` whose network is the guided combination (the original is untouched)."""
        strong, weak = self.branches(spec.kind)
        times = [t for t, _ in family.timesteps(steps)]
        active = {_key(t) for t, on in zip(times, spec.active_steps(steps)) if on}
        return self.with_net(family, GuidedNet(strong, weak, spec.w, active))


# -- the quality-guidance methods (methods/cfg.py, pag.py, autoguidance.py) ----------------------------------------
@dataclass(frozen=True)
class QualityConfig:
    """Scale w (1 = the strong prediction alone) and the guidance interval (lo, hi] along the trajectory."""

    w: float = 3.0
    lo: float = 0.0
    hi: float = 1.0


class QualityMethod(Method):
    """Unguided ancestral sampling on the quality-guided prediction of ``kind``: 1 forward per step plus one
    weak-branch forward at each active step (an autoguidance weak model at its relative cost, so its count is a
    bound computed at cost 1). A budget above the method's cost is filled by best-of-k over chains (proxy)."""

    kind: ClassVar[str]
    quality = True
    Config = QualityConfig
    bounds = {"w": NONNEG, "lo": FRACTION, "hi": FRACTION}

    def spec(self, cfg: QualityConfig) -> QualitySpec:
        return QualitySpec(self.kind, cfg.w, cfg.lo, cfg.hi)

    def check_task(self, task: Any, objective: Any) -> None:
        family = task.build_family()
        QualitySource(family.net, family.net, task.condition(objective), task.autoguide).branches(self.kind)

    def counts(self, cfg: QualityConfig, steps: int) -> Counts:
        return Counts(forward=steps + sum(self.spec(cfg).active_steps(steps)))

    def for_budget(self, cfg: QualityConfig, budget: float, steps: int, cal: Calibration) -> QualityConfig:
        return cfg

    def run(self, ctx: Context, cfg: QualityConfig) -> Output:
        owner = ctx.owners()  # (n,)
        return Output(ancestral(ctx, ctx.quality.family(ctx.family, self.spec(cfg), ctx.steps), owner, self.key), owner)
