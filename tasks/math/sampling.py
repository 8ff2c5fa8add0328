"""Unguided sampling of given prompts (cards, probes) and the conditional ELBO naturalness of finished rows."""
from __future__ import annotations

import torch

from bench.diffusion.masked import MaskedFamily
from bench.diffusion.schedules import mask_prob, mask_prob_rate
from bench.rng import Streams
from tasks.math import tokens


@torch.no_grad()
def sample_prompts(net: torch.nn.Module, prompts: torch.Tensor, steps: int, seed: int = 0,
                   batch: int = 512) -> torch.Tensor:
    """One unguided ancestral sample per prompt row: prompts (N, L) long (−1 free) -> (N, L) long.

    The loop of ``bench.diffusion.ancestral.sample_unguided``; row i draws from stream i of ``seed`` whatever
    ``batch`` is. Each chunk's family has exactly the chunk's rows as its prompt table (owner b -> row b).
    """
    dev = next(net.parameters()).device
    out = []
    for lo in range(0, len(prompts), batch):
        chunk = prompts[lo:lo + batch].to(dev)  # (B, L)
        fam = MaskedFamily(net, tokens.L, tokens.V, prompt=chunk)
        owner = torch.arange(len(chunk), device=dev)  # (B,)
        rng = Streams(seed, range(lo, lo + len(chunk)), device=dev)
        x = fam.prior(rng, owner)  # (B, L)
        for t, s in fam.timesteps(steps):
            x = fam.proposal(x, t, s, fam.denoise(x, t)).sample(rng, owner)  # (B, L)
        out.append(x.cpu())
    return torch.cat(out) if out else prompts.clone()


@torch.inference_mode()
def elbo_nll(net: torch.nn.Module, x0: torch.Tensor, n_t: int = 8, seed: int = 0, batch: int = 1024) -> torch.Tensor:
    """Per-row conditional MDLM ELBO NLL (nats) of the answer region given the row's own prompt: (N,) on CPU.

    −log p(answer | prompt) <= E_t[(m'_t/m_t) Σ_{masked free ℓ} −log p_θ(x0ˡ | x_t)], ``n_t`` stratified times and
    a fixed generator (deterministic). [MASK] or out-of-range ids are clamped into the vocabulary first, so a
    malformed row gets a finite (high) value, never an error.
    """
    gen = torch.Generator().manual_seed(seed)
    dev = next(net.parameters()).device
    n = x0.shape[0]
    x0 = x0.long().clamp(0, tokens.V - 1).cpu()
    free = ~tokens.prompt_mask()  # (L,)
    t = ((torch.arange(n_t) + torch.rand(n_t, generator=gen)) / n_t).clamp(min=1e-4)  # (K,)
    xs = x0.repeat_interleave(n_t, 0)  # (N·K, L)
    ts = t.repeat(n)  # (N·K,)
    masked = (torch.rand(xs.shape, generator=gen) < mask_prob(ts)[:, None]) & free  # (N·K, L)
    x_t = torch.where(masked, torch.full_like(xs, tokens.MASK_ID), xs)
    out = []
    for i in range(0, len(xs), batch):
        sl = slice(i, i + batch)
        logp = net(x_t[sl].to(dev), ts[sl].to(dev)).float().log_softmax(-1).cpu()  # (b, L, V)
        nll = -logp.gather(-1, xs[sl, :, None]).squeeze(-1)  # (b, L)
        w = (mask_prob_rate(ts[sl]) / mask_prob(ts[sl]))[:, None]  # (b, 1)
        out.append((w * nll * masked[sl]).sum(-1))  # (b,)
    return torch.cat(out).view(n, n_t).mean(-1).float() if out else torch.zeros(0)
