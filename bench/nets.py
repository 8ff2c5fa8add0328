"""Network backbones shared by task packages (a task's ``net.py`` names and configures one for its data)."""
from __future__ import annotations

import torch
import torch.nn as nn


class TokenTransformer(nn.Module):
    """Bidirectional pre-LN transformer MDLM denoiser: (B, L) ids in [0, V] (V = [MASK]) or a (B, L, V+1) soft
    one-hot (the differentiable path; the embedding is ``onehot @ embedding.weight``) -> logits (B, L, V).
    Time-agnostic (absorbing-state diffusion needs no t input); ``t`` is accepted and ignored."""

    def __init__(self, vocab: int, length: int, d: int = 128, layers: int = 4, heads: int = 4,
                 ff: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab, self.length = vocab, length
        self.config = dict(vocab=vocab, length=length, d=d, layers=layers, heads=heads, ff=ff)
        self.embed = nn.Embedding(vocab + 1, d)
        self.pos = nn.Parameter(torch.randn(length, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff * d, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L, V). ``x``: (B, L) long ids or (B, L, V+1) float probabilities; ``t`` unused."""
        if x.dtype == torch.long:
            h = self.embed(x)  # (B, L, d)
        else:
            h = x.to(self.embed.weight.dtype) @ self.embed.weight  # (B, L, V+1) @ (V+1, d) -> (B, L, d)
        h = self.encoder(h + self.pos[: h.shape[1]])  # (B, L, d)
        return self.head(self.norm(h))  # (B, L, V)
