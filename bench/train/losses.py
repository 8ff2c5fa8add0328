"""Training losses as ``(net, batch, gen) -> scalar`` callables: the diffusion families and supervised heads."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from bench.diffusion.training import flow_loss, gaussian_loss, masked_loss, masked_loss_free

LossFn = Callable[[torch.nn.Module, tuple[torch.Tensor, ...], torch.Generator], torch.Tensor]


def _labels(batch: tuple[torch.Tensor, ...], gen: torch.Generator, dropout: float,
            null_label: int | None) -> torch.Tensor | None:
    """The batch's labels (its second tensor; None for ``(x,)`` batches), each replaced by ``null_label`` with
    probability ``dropout``: one network learns the conditional and the unconditional model (classifier-free
    guidance's training)."""
    if len(batch) == 1:
        return None
    labels = batch[1]
    if dropout:
        drop = torch.rand(labels.shape, generator=gen, device=labels.device) < dropout  # (B,)
        labels = torch.where(drop, torch.full_like(labels, null_label), labels)
    return labels


def _check_dropout(label_dropout: float, null_label: int | None) -> None:
    if label_dropout and null_label is None:
        raise ValueError("label_dropout needs a null_label")


def gaussian(alphas_bar: torch.Tensor, target: str = "eps", prediction: str | None = None,
             label_dropout: float = 0.0, null_label: int | None = None) -> LossFn:
    """Gaussian diffusion loss (ε, v or x0 target; the network outputs ``prediction``, default the target) on
    batches ``(x0,)``, or ``(x0, labels)`` for a conditional network ``net(x, t, labels)`` (label dropout as in
    ``masked``)."""
    _check_dropout(label_dropout, null_label)
    return lambda net, batch, gen: gaussian_loss(net, batch[0], alphas_bar, gen, target, prediction,
                                                 _labels(batch, gen, label_dropout, null_label))


def flow(label_dropout: float = 0.0, null_label: int | None = None) -> LossFn:
    """Flow-matching loss on the linear path (``bench.diffusion.training.flow_loss``) on batches ``(x1,)`` or
    ``(x1, labels)``."""
    _check_dropout(label_dropout, null_label)
    return lambda net, batch, gen: flow_loss(net, batch[0], gen, _labels(batch, gen, label_dropout, null_label))


def masked(mask_id: int, label_dropout: float = 0.0, null_label: int | None = None) -> LossFn:
    """Masked-diffusion (MDLM) ELBO on batches ``(ids,)``, or ``(ids, labels)`` for a conditional denoiser
    ``net(x, t, labels)``: each label is replaced by ``null_label`` with probability ``label_dropout`` (so one
    network learns the conditional and the unconditional model, classifier-free guidance's training)."""
    _check_dropout(label_dropout, null_label)

    def loss(net: torch.nn.Module, batch: tuple[torch.Tensor, ...], gen: torch.Generator) -> torch.Tensor:
        labels = _labels(batch, gen, label_dropout, null_label)
        if labels is None:
            return masked_loss(net, batch[0], mask_id, gen)
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
