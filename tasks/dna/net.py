"""Networks of the DNA task (modules only: no loading, no training, no global RNG).

- :class:`DnaDenoiser`: the MDLM denoiser, a residual dilated 1-D CNN over 200 positions. ``forward(x, t, label)``
  takes token ids (B, L) in [0, 4] (4 = [MASK]) or a soft one-hot (B, L, 5) (the differentiable path; the
  embedding is ``onehot @ embedding.weight``) and returns logits (B, L, 4) over A, C, G, T. ``label`` (B,) is a
  cell type 0..3 or ``NULL_LABEL`` = 4 (unconditional; the default, what the benchmark's base samples from).
  Absorbing-state diffusion needs no time input; ``t`` is accepted and ignored.
- :class:`CellCNN`: the guidance proxy, a dilated CNN on (B, L, 4) base probabilities -> (B, n_out); a 4-way
  cell-type classifier (logits) or a 1-output regressor (the ``mpra`` proxy).
- :class:`PoolCNN`: the held-out oracle, built differently: wide first filter, max-pool towers, and the average of
  the forward and reverse-complement strands' logits (strand-symmetric by construction).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

N_CELL = 4
NULL_LABEL = N_CELL


class _Residual(nn.Module):
    """x + W2·gelu(W1 * norm(x) + label bias): one dilated conv block of the denoiser."""

    def __init__(self, d: int, kernel: int, dilation: int, n_labels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, d)
        self.conv = nn.Conv1d(d, d, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.label = nn.Embedding(n_labels, d)
        self.out = nn.Conv1d(d, d, 1)

    def forward(self, h: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        z = self.conv(self.norm(h)) + self.label(label)[:, :, None]  # (B, d, L)
        return h + self.out(F.gelu(z))  # (B, d, L)


class DnaDenoiser(nn.Module):
    """Residual dilated CNN over (B, L) ids or (B, L, V+1) soft one-hot, conditioned on a cell-type label."""

    null_label = NULL_LABEL  # the unconditional label (CFG's weak branch)

    def __init__(self, vocab: int = 4, length: int = 200, d: int = 80, kernel: int = 9,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4)) -> None:
        super().__init__()
        self.vocab, self.length = vocab, length
        self.config = dict(vocab=vocab, length=length, d=d, kernel=kernel, dilations=list(dilations))
        self.embed = nn.Embedding(vocab + 1, d)
        self.label = nn.Embedding(N_CELL + 1, d)
        self.blocks = nn.ModuleList(_Residual(d, kernel, k, N_CELL + 1) for k in dilations)
        self.norm = nn.GroupNorm(1, d)
        self.head = nn.Conv1d(d, vocab, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None,
                label: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L, V). ``x``: (B, L) long ids or (B, L, V+1) float probabilities; ``t`` unused."""
        if x.dtype == torch.long:
            h = self.embed(x)  # (B, L, d)
        else:
            h = x.to(self.embed.weight.dtype) @ self.embed.weight  # (B, L, V+1) @ (V+1, d) -> (B, L, d)
        if label is None:
            label = torch.full((h.shape[0],), NULL_LABEL, dtype=torch.long, device=h.device)
        h = (h + self.label(label)[:, None, :]).transpose(1, 2)  # (B, d, L)
        for block in self.blocks:
            h = block(h, label)  # (B, d, L)
        return self.head(F.gelu(self.norm(h))).transpose(1, 2)  # (B, L, V)


class CellCNN(nn.Module):
    """Dilated CNN on (B, L, 4) probabilities -> (B, n_out): mean + max pooling, then an MLP."""

    def __init__(self, n_out: int = N_CELL, width: int = 64, kernel: int = 9,
                 dilations: tuple[int, ...] = (1, 2, 4, 8)) -> None:
        super().__init__()
        self.config = dict(n_out=n_out, width=width, kernel=kernel, dilations=list(dilations))
        self.stem = nn.Conv1d(4, width, kernel, padding=kernel // 2)
        self.convs = nn.ModuleList(nn.Conv1d(width, width, kernel, padding=k * (kernel // 2), dilation=k)
                                   for k in dilations)
        self.mlp = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, n_out))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """(B, L, 4) probabilities (or one-hot) -> (B, n_out)."""
        h = F.gelu(self.stem(p.transpose(1, 2)))  # (B, w, L)
        for conv in self.convs:
            h = h + F.gelu(conv(h))  # (B, w, L)
        return self.mlp(torch.cat([h.mean(-1), h.amax(-1)], dim=-1))  # (B, n_out)


class PoolCNN(nn.Module):
    """Oracle: conv(k=15) -> pool 4 -> conv(k=7) -> pool 4 -> conv(k=5) -> global mean, both strands averaged."""

    def __init__(self, n_out: int = N_CELL, width: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        self.config = dict(n_out=n_out, width=width, dropout=dropout)
        self.net = nn.Sequential(
            nn.Conv1d(4, width, 15, padding=7), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(width, width, 7, padding=3), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(width, width, 5, padding=2), nn.ReLU(), nn.Dropout(dropout),
        )
        self.head = nn.Linear(width, n_out)

    def _strand(self, p: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(p.transpose(1, 2)).mean(-1))  # (B, n_out)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """(B, L, 4) probabilities -> (B, n_out), the mean over the sequence and its reverse complement."""
        rc = p.flip(1).flip(2)  # (B, L, 4): reversed positions, A<->T and C<->G (tokens 0..3 -> 3..0)
        return 0.5 * (self._strand(p) + self._strand(rc))  # (B, n_out)
