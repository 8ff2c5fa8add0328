"""Networks of the math task (modules only: no loading, no training, no global RNG).

:class:`MathDenoiser`: the MDLM solver, a bidirectional pre-LN transformer over the PerturbArith layout
(``tokens.L`` = 64 positions, ``tokens.V`` real tokens + [MASK]). ``forward(x, t)`` takes token ids (B, L) in
[0, V] (V = [MASK]) or a soft one-hot (B, L, V+1) (the differentiable path; the embedding is
``onehot @ embedding.weight``) and returns logits (B, L, V) over the real tokens. Absorbing-state diffusion needs
no time input; ``t`` is accepted and ignored. The prompt is an ordinary part of the input: it is never masked
(not in training, see ``bench.train.losses.masked_prompt``, and not by the sampler, see
``bench.diffusion.masked.MaskedFamily``), so the network reads it as the condition.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class MathDenoiser(nn.Module):
    """Bidirectional transformer: (B, L) ids or (B, L, V+1) soft one-hot -> logits (B, L, V)."""

    def __init__(self, vocab: int, length: int, d: int = 128, layers: int = 4, heads: int = 4,
                 ff: int = 4) -> None:
        super().__init__()
        self.vocab, self.length = vocab, length
        self.config = dict(vocab=vocab, length=length, d=d, layers=layers, heads=heads, ff=ff)
        self.embed = nn.Embedding(vocab + 1, d)
        self.pos = nn.Parameter(torch.randn(length, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff * d, 0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
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
