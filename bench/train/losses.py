"""Training losses as ``(net, batch, gen) -> scalar`` callables: the diffusion families and supervised heads."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from bench.diffusion.training import gaussian_loss, masked_loss

LossFn = Callable[[torch.nn.Module, tuple[torch.Tensor, ...], torch.Generator], torch.Tensor]


def gaussian(alphas_bar: torch.Tensor, target: str = "eps", prediction: str | None = None) -> LossFn:
    """Gaussian diffusion loss (ε, v or x0 target; the network outputs ``prediction``, default the target) on
    batches ``(x0,)``."""
    return lambda net, batch, gen: gaussian_loss(net, batch[0], alphas_bar, gen, target, prediction)


def masked(mask_id: int) -> LossFn:
    """Masked-diffusion (MDLM) ELBO on batches ``(ids,)``."""
    return lambda net, batch, gen: masked_loss(net, batch[0], mask_id, gen)


def supervised(kind: str) -> LossFn:
    """Supervised loss on batches ``(x, y)``: ``"mse"`` (regressors) or ``"ce"`` (classifiers, y class ids)."""
    fns = {"mse": F.mse_loss, "ce": F.cross_entropy}
    if kind not in fns:
        raise ValueError(f"supervised loss {kind!r}: expected one of {sorted(fns)}")
    fn = fns[kind]
    return lambda net, batch, gen: fn(net(batch[0]).float(), batch[1])
