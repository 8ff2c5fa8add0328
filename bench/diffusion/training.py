"""Training losses of the model families (Gaussian ε/v/x0, flow velocity, masked MDLM); `bench.train` wraps them."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from bench.diffusion.prediction import PREDICTIONS, convert
from bench.diffusion.schedules import T_TRAIN, mask_prob, mask_prob_rate

EpsNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LogitNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GAUSSIAN_TARGETS = PREDICTIONS


def _call(net, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """``net(x, t)``, or ``net(x, t, cond)`` for a conditional network."""
    return net(x, t) if cond is None else net(x, t, cond)


def gaussian_loss(net: EpsNet, x0: torch.Tensor, alphas_bar: torch.Tensor,
                  gen: torch.Generator | None = None, target: str = "eps",
                  prediction: str | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
    """MSE at a uniform random step i of x_t = √ᾱ x0 + √(1−ᾱ) ε against the network's output.

    ``target``: the space the error is measured in, ``"eps"`` (E‖ε − ε̂‖², the default), ``"v"``
    (v = √ᾱ ε − √(1−ᾱ) x0) or ``"x0"``. ``prediction``: what the network outputs (default: the target); a
    different one is converted into the target's space (float32 ᾱ), e.g. a v-network under an ε loss, whose
    error is ᾱ·‖v − v̂‖². The sampling family must be built with the same ``prediction``. ``cond``: (B,) labels
    passed as the network's third argument.
    """
    prediction = prediction or target
    for name, kind in (("target", target), ("prediction", prediction)):
        if kind not in GAUSSIAN_TARGETS:
            raise ValueError(f"gaussian_loss {name} {kind!r}: expected one of {GAUSSIAN_TARGETS}")
    b = x0.shape[0]
    i = torch.randint(0, T_TRAIN, (b,), generator=gen, device=x0.device)  # (B,)
    abar = alphas_bar.to(x0.device, torch.float32)[i].view(b, *([1] * (x0.dim() - 1)))  # (B, 1, ...)
    eps = torch.randn(x0.shape, generator=gen, device=x0.device)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps  # (B, ...)
    goal = {"eps": eps, "v": abar.sqrt() * eps - (1 - abar).sqrt() * x0, "x0": x0}[target]  # (B, ...)
    out = convert(_call(net, x_t, i.float(), cond), prediction, target, x_t, abar)  # (B, ...) target's space
    return F.mse_loss(out.float(), goal)


def flow_loss(net: EpsNet, x1: torch.Tensor, gen: torch.Generator | None = None,
              cond: torch.Tensor | None = None) -> torch.Tensor:
    """Conditional flow matching on the linear path of ``bench.diffusion.flow`` (τ = 1 noise, τ = 0 data):
    E_τ‖u_θ(x_τ, τ) − (x1 − ε)‖² with x_τ = (1 − τ)·x1 + τ·ε, τ stratified over [0, 1) per batch.
    x1: (B, ...) data; the network takes τ in [0, 1] as a (B,) float."""
    b = x1.shape[0]
    u = torch.rand((), generator=gen, device=x1.device)
    tau = (u + torch.arange(b, device=x1.device) / b) % 1.0  # (B,)
    tb = tau.view(b, *([1] * (x1.dim() - 1)))  # (B, 1, ...)
    eps = torch.randn(x1.shape, generator=gen, device=x1.device)
    x_t = (1 - tb) * x1 + tb * eps  # (B, ...)
    return F.mse_loss(_call(net, x_t, tau, cond).float(), x1 - eps)


def masked_loss(net: LogitNet, x0: torch.Tensor, mask_id: int,
                gen: torch.Generator | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
    """Continuous-time MDLM ELBO per token: E_t[(m'_t/m_t)·Σ_masked −log p_θ(x0ˡ | x_t)] / L.

    x0: (B, L) token ids in [0, mask_id). Uses antithetic (stratified) t for lower variance. ``cond``: (B,) class
    labels passed as the network's third argument (``net(x_t, t, cond)``; a conditional denoiser).
    """
    b, length = x0.shape
    u = torch.rand((), generator=gen, device=x0.device)
    t = ((u + torch.arange(b, device=x0.device) / b) % 1.0).clamp(min=1e-4)  # (B,)
    m = mask_prob(t)  # (B,)
    masked = torch.rand((b, length), generator=gen, device=x0.device) < m[:, None]  # (B, L)
    x_t = torch.where(masked, torch.full_like(x0, mask_id), x0)
    logits = _call(net, x_t, t, cond).float()  # (B, L, V)
    nll = F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")  # (B, L)
    weight = (mask_prob_rate(t) / m)[:, None]  # (B, 1)
    return (weight * nll * masked).sum() / (b * length)


@torch.inference_mode()
def masked_elbo_nll(net: torch.nn.Module, x0: torch.Tensor, mask_id: int, n_t: int = 16, seed: int = 0,
                    batch: int = 1024) -> torch.Tensor:
    """Per-sample NLL bound (nats per sequence), the continuous-time MDLM ELBO with ``n_t`` stratified times.

    -log p(x) <= E_t[(m'_t/m_t) Σ_{masked ℓ} -log p_θ(x0ˡ | x_t)]; a fixed generator makes it deterministic.
    x0: (N, L) long ids in [0, mask_id). Returns (N,) float on CPU.
    """
    gen = torch.Generator().manual_seed(seed)
    n, length = x0.shape
    x0 = x0.clamp(0, mask_id - 1)
    t = ((torch.arange(n_t) + torch.rand(n_t, generator=gen)) / n_t).clamp(min=1e-4)  # (K,)
    xs = x0.repeat_interleave(n_t, 0)  # (N*K, L)
    ts = t.repeat(n).to(x0.device)  # (N*K,)
    masked = (torch.rand(xs.shape, generator=gen) < mask_prob(ts.cpu())[:, None]).to(x0.device)  # (N*K, L)
    x_t = torch.where(masked, torch.full_like(xs, mask_id), xs)
    out = []
    for i in range(0, len(xs), batch):
        logp = net(x_t[i:i + batch], ts[i:i + batch]).log_softmax(-1)  # (b, L, V)
        nll = -logp.gather(-1, xs[i:i + batch, :, None]).squeeze(-1)  # (b, L)
        w = (mask_prob_rate(ts[i:i + batch]) / mask_prob(ts[i:i + batch]))[:, None]  # (b, 1)
        out.append((w * nll * masked[i:i + batch]).sum(-1))  # (b,)
    return torch.cat(out).view(n, n_t).mean(-1).float().cpu()


def masked_loss_free(net: LogitNet, x0: torch.Tensor, mask_id: int, free: torch.Tensor,
                     gen: torch.Generator | None = None) -> torch.Tensor:
    """:func:`masked_loss` for a prompt-conditioned denoiser: only the ``free`` positions are ever masked (a fixed
    prompt, never masked, is the condition), and the ELBO is averaged over the free positions.

    x0: (B, L) token ids in [0, mask_id); free: (L,) bool, True where the sampler fills the sequence.
    """
    b, length = x0.shape
    free = free.to(x0.device).bool()  # (L,)
    u = torch.rand((), generator=gen, device=x0.device)
    t = ((u + torch.arange(b, device=x0.device) / b) % 1.0).clamp(min=1e-4)  # (B,)
    m = mask_prob(t)  # (B,)
    masked = (torch.rand((b, length), generator=gen, device=x0.device) < m[:, None]) & free  # (B, L)
    x_t = torch.where(masked, torch.full_like(x0, mask_id), x0)
    logits = net(x_t, t).float()  # (B, L, V)
    nll = F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")  # (B, L)
    weight = (mask_prob_rate(t) / m)[:, None]  # (B, 1)
    return (weight * nll * masked).sum() / (b * int(free.sum()))
