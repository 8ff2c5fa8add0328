"""Training losses as ``(net, batch, gen) -> scalar`` callables: the diffusion families and supervised heads."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from bench.diffusion.training import gaussian_loss, masked_loss, masked_loss_free

LossFn = Callable[[torch.nn.Module, tuple[torch.Tensor, ...], torch.Generator], torch.Tensor]


def gaussian(alphas_bar: torch.Tensor, target: str = "eps", prediction: str | None = None) -> LossFn:
    """Gaussian diffusion loss (ε, v or x0 target; the network outputs ``prediction``, default the target) on
    batches ``(x0,)``."""
    return lambda net, batch, gen: gaussian_loss(net, batch[0], alphas_bar, gen, target, prediction)


def masked(mask_id: int, label_dropout: float = 0.0, null_label: int | None = None) -> LossFn:
    """Masked-diffusion (MDLM) ELBO on batches ``(ids,)``, or ``(ids, labels)`` for a conditional denoiser
    ``net(x, t, labels)``: each label is replaced by ``null_label`` with probability ``label_dropout`` (so one
    network learns the conditional and the unconditional model, classifier-free guidance's training)."""
    if label_dropout and null_label is None:
        raise ValueError("label_dropout needs a null_label")

    def loss(net: torch.nn.Module, batch: tuple[torch.Tensor, ...], gen: torch.Generator) -> torch.Tensor:
        if len(batch) == 1:
            return masked_loss(net, batch[0], mask_id, gen)
        labels = batch[1]
        if label_dropout:
            drop = torch.rand(labels.shape, generator=gen, device=labels.device) < label_dropout  # (B,)
            labels = torch.where(drop, torch.full_like(labels, null_label), labels)
        return masked_loss(net, batch[0], mask_id, gen, cond=labels)
    return loss


def masked_prompt(mask_id: int, free: torch.Tensor) -> LossFn:
    """Masked-diffusion (MDLM) ELBO on batches ``(ids,)`` that never masks a prompt position: only the (L,) bool
    ``free`` positions are noised and scored (a prompt-conditioned denoiser, e.g. the math task's solver)."""
    return lambda net, batch, gen: masked_loss_free(net, batch[0], mask_id, free, gen)


def supervised(kind: str) -> LossFn:
    """Supervised loss on batches ``(x, y)``: ``"mse"`` (regressors) or ``"ce"`` (classifiers, y class ids)."""
    fns = {"mse": F.mse_loss, "ce": F.cross_entropy}
    if kind not in fns:
        raise ValueError(f"supervised loss {kind!r}: expected one of {sorted(fns)}")
    fn = fns[kind]
    return lambda net, batch, gen: fn(net(batch[0]).float(), batch[1])
