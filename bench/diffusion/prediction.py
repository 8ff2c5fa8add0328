"""What every family's prediction object provides, and the VP-Gaussian parameterisations (ε, x0, v).

A prediction is a dataclass whose tensor fields share a leading row dimension (one row per state) and whose
other fields (the step ``t``) are shared by all rows. ``Rows`` gives it row indexing, concatenation and
detaching, so search engines and trees never look inside one.

VP parameterisations at signal level ᾱ (x_t = √ᾱ·x0 + √(1−ᾱ)·ε, v = √ᾱ·ε − √(1−ᾱ)·x0):
    x0(ε) = (x_t − √(1−ᾱ)·ε)/√ᾱ      ε(x0) = (x_t − √ᾱ·x0)/√(1−ᾱ)      ε(v) = √ᾱ·v + √(1−ᾱ)·x_t
``a`` is a Python float or a tensor broadcastable to x_t (training draws one ᾱ per row).
"""
from __future__ import annotations

import dataclasses
import math

import torch

PREDICTIONS = ("eps", "x0", "v")


class Rows:
    """Row operations of a prediction dataclass (mixin)."""

    def take(self, idx: torch.Tensor):
        """The rows ``idx`` (R',) of every tensor field; other fields are kept."""
        return type(self)(**{k: (v[idx] if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()})

    def concat(self, *others):
        """This prediction's rows followed by those of ``others`` (same type, same step)."""
        preds = (self, *others)
        return type(self)(**{k: (torch.cat([getattr(p, k) for p in preds]) if isinstance(v, torch.Tensor) else v)
                             for k, v in vars(self).items()})

    def detach(self, x_t: torch.Tensor | None = None):
        """Every tensor field detached; ``x_t`` (when given, detached) replaces the stored input state."""
        fields = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()}
        if x_t is not None:
            fields["x_t"] = x_t.detach()
        return dataclasses.replace(self, **fields)


def check_prediction(kind: str) -> str:
    """``kind`` if it is one of PREDICTIONS, else ValueError."""
    if kind not in PREDICTIONS:
        raise ValueError(f"prediction {kind!r}: expected one of {PREDICTIONS}")
    return kind


def _sqrt(a):
    return math.sqrt(a) if isinstance(a, float) else a.sqrt()


def x0_from_eps(x_t: torch.Tensor, a, eps: torch.Tensor) -> torch.Tensor:
    """x̂0 = (x_t − √(1−ᾱ)·ε)/√ᾱ."""
    return (x_t - _sqrt(1 - a) * eps) / _sqrt(a)


def eps_from_x0(x_t: torch.Tensor, a, x0: torch.Tensor) -> torch.Tensor:
    """ε̂ = (x_t − √ᾱ·x0)/√(1−ᾱ)."""
    return (x_t - _sqrt(a) * x0) / _sqrt(1 - a)


def eps_from_v(x_t: torch.Tensor, a, v: torch.Tensor) -> torch.Tensor:
    """ε̂ = √ᾱ·v + √(1−ᾱ)·x_t."""
    return _sqrt(a) * v + _sqrt(1 - a) * x_t


def v_from(x0: torch.Tensor, a, eps: torch.Tensor) -> torch.Tensor:
    """v = √ᾱ·ε − √(1−ᾱ)·x0."""
    return _sqrt(a) * eps - _sqrt(1 - a) * x0


def to_eps(kind: str, out: torch.Tensor, x_t: torch.Tensor, a) -> torch.Tensor:
    """ε̂ from a network output of type ``kind`` at x_t."""
    if kind == "eps":
        return out
    return eps_from_v(x_t, a, out) if kind == "v" else eps_from_x0(x_t, a, out)


def convert(out: torch.Tensor, kind: str, target: str, x_t: torch.Tensor, a) -> torch.Tensor:
    """A network output of type ``kind`` expressed as ``target`` (eps, x0 or v) at x_t; identity when equal."""
    if kind == target:
        return out
    eps = to_eps(kind, out, x_t, a)
    if target == "eps":
        return eps
    x0 = out if kind == "x0" else x0_from_eps(x_t, a, eps)
    return x0 if target == "x0" else v_from(x0, a, eps)
