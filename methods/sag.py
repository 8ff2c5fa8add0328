"""`sag` — self-attention guidance (Hong et al., "Improving Sample Quality of Diffusion Models Using Self-Attention
Guidance", ICCV 2023), continuous families on networks with an ``attention_saliency()`` switch (the images UNet).

Update rule, per active step t (1 = the strong prediction alone; the paper's guide scale s is w − 1):
    ε̂, x̂0 = net(x_t, t)                          the strong forward; it records the middle attention map A
    M     = 1[Σ_q A[q, k] > 1]                   positions that receive more than the mean attention (B, h, w),
                                                 upsampled (nearest) to the sample's H × W
    x̃0    = M·blur(x̂0) + (1 − M)·x̂0              Gaussian blur (kernel 9, σ = blur) only where attention is high
    x̃_t   = a_t·x̃0 + b_t·ε̂                       renoised with the strong ε̂ (``family.noised``)
    ε̃     = net(x̃_t, t)                          the weak prediction: the salient detail removed
    ε     = ε̃ + w·(ε̂ − ε̃)                        then the family's ancestral step
With M = 0 the renoised input is x_t itself, so the rule reduces to the strong prediction. The ADM-256 setting of
the paper's code is s = 0.5 (guide_scale 1.5, blur σ 9 at 256 px); the defaults here are w = 1.5 and σ = 1 for
28 px images (diffusers' SAG pipeline also blurs with kernel 9, σ 1). Guidance interval as in ``cfg``.
SAG is a method only, never a ``--base``: its weak input depends on the family's x̂0 at each step.
Cost: T forwards + one per active step; budgets above it are best-of-k.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bench.method import POSITIVE, Context, Incompatible, Output
from bench.quality import QualityConfig, QualityMethod

KERNEL = 9


@dataclass(frozen=True)
class Config(QualityConfig):
    w: float = 1.5
    blur: float = 1.0  # σ of the Gaussian blur, in pixels


def gaussian_blur(x: torch.Tensor, sigma: float, size: int = KERNEL) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) with reflect padding -> same shape."""
    r = torch.arange(size, dtype=x.dtype, device=x.device) - (size - 1) / 2  # (size,)
    k = torch.exp(-0.5 * (r / sigma) ** 2)
    k = k / k.sum()  # (size,)
    c = x.shape[1]
    x = F.pad(x, (size // 2,) * 4, mode="reflect")  # (B, C, H+size-1, W+size-1)
    x = F.conv2d(x, k.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)  # blur along W
    return F.conv2d(x, k.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)  # (B, C, H, W)


def saliency_mask(saliency: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """(B, h, w) attention received per position -> (B, 1, H, W) {0, 1}: above the mean (1), upsampled nearest."""
    m = (saliency > 1.0).to(torch.float32)[:, None]  # (B, 1, h, w)
    return F.interpolate(m, size=tuple(shape[-2:]), mode="nearest")  # (B, 1, H, W)


def _switch(raw: Any) -> Any:
    if not hasattr(raw, "attention_saliency"):
        raise Incompatible("sag needs a network with an attention_saliency() switch (the images UNet with "
                           "self-attention in its middle block)")
    return raw.attention_saliency


class SAG(QualityMethod):
    key = "sag"
    kind = "sag"
    paper = "Hong et al., Improving Sample Quality of Diffusion Models Using Self-Attention Guidance (ICCV 2023)"
    supports = frozenset({"continuous"})
    probe_tasks = {"images": "quality"}  # no exact toy has self-attention
    Config = Config
    bounds = {**QualityMethod.bounds, "blur": POSITIVE}

    def check_task(self, task: Any, objective: Any) -> None:
        _switch(task.build_family().net)

    def run(self, ctx: Context, cfg: Config) -> Output:
        switch = _switch(ctx.quality.raw)
        fam = ctx.quality.with_net(ctx.family, ctx.quality.conditioned())
        on = self.spec(cfg).active_steps(ctx.steps)
        owner = ctx.owners()  # (n,)
        x = fam.prior(ctx.streams, owner)  # (n, *shape)
        for i, (t, s) in enumerate(ctx.progress(fam.timesteps(ctx.steps), self.key)):
            if not on[i]:
                pred = fam.denoise(x, t)
            else:
                with switch() as read:
                    strong = fam.denoise(x, t)
                    mask = saliency_mask(read(), x.shape)  # (n, 1, H, W)
                x0_deg = mask * gaussian_blur(strong.x0, cfg.blur) + (1 - mask) * strong.x0  # (n, *shape)
                weak = fam.denoise(fam.noised(x0_deg, strong.eps, t), t)
                pred = fam.from_eps(x, t, weak.eps + cfg.w * (strong.eps - weak.eps))
            x = fam.proposal(x, t, s, pred).sample(ctx.streams, owner)  # (n, *shape)
        return Output(x, owner)


METHOD = SAG()
