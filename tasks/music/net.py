"""v-prediction network over the piano roll: a small DiT-style transformer whose tokens are 2-frame patches.

Input x_t (B, C, P, F) = (batch, channels [roll, onset], pitches, frames); step index i (B,) float in [0, 1000).
Each token is one eighth note (``patch`` 16th frames) of every channel and pitch, so the network sees whole
chords per token and attends across time. Time conditioning is adaLN (shift/scale/gate per block).

The transformer predicts v = √ᾱ·ε − √(1−ᾱ)·x0 (the task's family is ``prediction="v"`` and converts it; the
loss is ``gaussian_loss(target="eps", prediction="v")``, an ε-MSE equal to ᾱ·‖v − v̂‖²). The Tweedie
x̂0 = √ᾱ·x_t − √(1−ᾱ)·v̂ stays bounded at ᾱ → 0 (the cosine schedule reaches ᾱ = 2e-9 at i = 999, where an
ε-parameterised x̂0 amplifies ε errors by 1/√ᾱ ≈ 2e4).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.nets import perturbed


@dataclass(frozen=True)
class NetConfig:
    """Shape and width of the network (stored beside the weights)."""

    channels: int = 2
    pitches: int = 48
    frames: int = 64
    patch: int = 2
    dim: int = 160
    depth: int = 6
    heads: int = 5

    def to_dict(self) -> dict[str, int]:
        """JSON-able copy."""
        return asdict(self)


def timestep_embedding(i: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of step indices i (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=i.device, dtype=torch.float32) / half)
    ang = i.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([ang.sin(), ang.cos()], dim=-1)  # (B, dim)


class Block(nn.Module):
    """Pre-LN transformer block with adaLN-zero conditioning. ``perturb`` (PAG): the attention map is the
    identity, so the attention branch returns the values V (every token attends to itself only)."""

    perturb: bool = False

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.ln2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """h (B, N, D), c (B, D) -> (B, N, D)."""
        b, n, d = h.shape
        s1, g1, a1, s2, g2, a2 = self.ada(F.silu(c))[:, None].chunk(6, dim=-1)  # each (B, 1, D)
        y = self.ln1(h) * (1 + g1) + s1
        q, k, v = self.qkv(y).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, N, dh)
        att = v if self.perturb else F.scaled_dot_product_attention(q, k, v)  # (B, H, N, dh)
        att = att.transpose(1, 2).reshape(b, n, d)  # (B, N, D)
        h = h + a1 * self.proj(att)
        y = self.ln2(h) * (1 + g2) + s2
        return h + a2 * self.mlp(y)


class RollDenoiser(nn.Module):
    """v_θ(x_t, i): (B, C, P, F) float and (B,) float -> (B, C, P, F)."""

    def __init__(self, cfg: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        tok_in = cfg.channels * cfg.pitches * cfg.patch
        self.n_tok = cfg.frames // cfg.patch
        self.inp = nn.Linear(tok_in, cfg.dim)
        self.pos = nn.Parameter(torch.randn(1, self.n_tok, cfg.dim) * 0.02)
        self.temb = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads) for _ in range(cfg.depth))
        self.ln_out = nn.LayerNorm(cfg.dim, elementwise_affine=False)
        self.ada_out = nn.Linear(cfg.dim, 2 * cfg.dim)
        self.out = nn.Linear(cfg.dim, tok_in)
        for lin in (self.ada_out, self.out):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.pag_layers: tuple[int, ...] = (cfg.depth // 2,)  # PAG's perturbed blocks (the middle one)

    @contextlib.contextmanager
    def attention_perturbed(self) -> Iterator[None]:
        """Within the block, the ``pag_layers`` use identity self-attention (weights untouched)."""
        with perturbed([self.blocks[i] for i in self.pag_layers]):
            yield

    def forward(self, x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """Predict v for x (B, C, P, F) at step indices i (B,)."""
        cfg = self.cfg
        b = x.shape[0]
        tok = x.reshape(b, cfg.channels * cfg.pitches, self.n_tok, cfg.patch)  # (B, C*P, N, patch)
        tok = tok.permute(0, 2, 1, 3).reshape(b, self.n_tok, -1)  # (B, N, C*P*patch)
        h = self.inp(tok) + self.pos  # (B, N, D)
        c = self.temb(timestep_embedding(i, cfg.dim))  # (B, D)
        for blk in self.blocks:
            h = blk(h, c)
        shift, scale = self.ada_out(F.silu(c))[:, None].chunk(2, dim=-1)  # (B, 1, D)
        out = self.out(self.ln_out(h) * (1 + scale) + shift)  # (B, N, C*P*patch)
        out = out.view(b, self.n_tok, cfg.channels * cfg.pitches, cfg.patch).permute(0, 2, 1, 3)
        return out.reshape(b, cfg.channels, cfg.pitches, cfg.frames)  # (B, C, P, F) v̂


def n_params(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
