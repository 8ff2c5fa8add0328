"""The MDLM ELBO NLL of samples under the base model (metrics and the model card)."""
from __future__ import annotations

import torch
import torch.nn as nn

from bench.diffusion.schedules import mask_prob, mask_prob_rate


@torch.inference_mode()
def elbo_nll(net: nn.Module, x0: torch.Tensor, mask_id: int, n_t: int = 16, seed: int = 0,
             batch: int = 1024) -> torch.Tensor:
    """Per-sample NLL bound (nats per molecule), the continuous-time MDLM ELBO with ``n_t`` stratified times.

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
