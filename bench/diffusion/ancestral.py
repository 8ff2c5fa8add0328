"""Unguided ancestral sampling through any family's primitives (model cards and quality checks).

The same loop as the `none` method, without the meter: x_T ~ prior, then x_s ~ p_θ(x_s | x_t) down to the data.
Sample i always uses stream i of ``seed``, so the result does not depend on ``batch``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench.rng import Streams


@torch.no_grad()
def sample_unguided(family, n: int, steps: int, seed: int = 0, batch: int | None = None,
                    trace: Callable[[int, Any], None] | None = None) -> torch.Tensor:
    """n unguided samples (n, *shape) in chunks of ``batch`` (default: all at once); ``trace(t, pred)`` sees the
    family's prediction at every step of every chunk (a diagnostic; it must not change its arguments)."""
    param = next(iter(family.net.parameters()), None) if isinstance(family.net, torch.nn.Module) else None
    device = param.device if param is not None else torch.device("cpu")  # analytic toy nets have no weights
    batch, out = batch or n, []
    for lo in range(0, n, batch):
        owner = torch.arange(min(batch, n - lo))  # (B,) rows of this chunk
        rng = Streams(seed, range(lo, lo + len(owner)), device=device)
        x = family.prior(rng, owner)  # (B, *shape)
        for t, s in family.timesteps(steps):
            pred = family.denoise(x, t)
            if trace is not None:
                trace(t, pred)
            x = family.proposal(x, t, s, pred).sample(rng, owner)  # (B, *shape)
        out.append(x)
    return torch.cat(out)
