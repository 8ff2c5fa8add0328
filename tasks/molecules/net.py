"""Networks of the molecules task.

- :class:`SmilesDenoiser`: the masked-diffusion denoiser, a small bidirectional transformer. ``forward(x, t)``
  takes token ids (B, L) in [0, V] (V = [MASK]) or a soft one-hot (B, L, V+1) (the differentiable path; the
  embedding is ``onehot @ embedding.weight``) and returns logits (B, L, V) over the V real tokens. The model is
  time-agnostic (absorbing-state diffusion needs no t input); ``t`` is accepted and ignored.
- :class:`CondSmilesDenoiser`: the same transformer with a ring-count label added to every position's embedding
  (``forward(x, t, label)``; ``label`` None or ``null_label`` = the unconditional model). Its label embedding starts
  at zero, so it starts as exactly the unconditional denoiser whose weights it is fine-tuned from.
- :class:`OneHotPredictor`: a 1-D CNN on (B, L, V) token probabilities regressing several standardised properties;
  the differentiable proxy of every objective.
- :class:`FingerprintMLP`: an MLP on a fixed-length fingerprint vector; the gap proxy and the gap oracle are two
  differently configured instances trained on disjoint halves of QM9 train.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from bench.nets import TokenTransformer


class SmilesDenoiser(TokenTransformer):
    """The shared MDLM transformer (``bench.nets.TokenTransformer``) with the molecules defaults (d = 160)."""

    def __init__(self, vocab: int, length: int, d: int = 160, layers: int = 4, heads: int = 4,
                 ff: int = 4, dropout: float = 0.0) -> None:
        super().__init__(vocab, length, d, layers, heads, ff, dropout)


N_RING_LABELS = 6  # ring-count classes 0, 1, 2, 3, 4 and ">= 5"; label 6 is the null (unconditional) label


def ring_label(rings: int) -> int:
    """The condition class of a ring count: itself up to 4, 5 for five or more rings."""
    return min(int(rings), N_RING_LABELS - 1)


class CondSmilesDenoiser(SmilesDenoiser):
    """SmilesDenoiser plus a ring-count label (B,) embedded and added at every position (D-CFG's conditional
    network; trained with label dropout to ``null_label`` so one network is both models)."""

    null_label = N_RING_LABELS

    def __init__(self, vocab: int, length: int, d: int = 160, layers: int = 4, heads: int = 4,
                 ff: int = 4, dropout: float = 0.0, n_labels: int = N_RING_LABELS) -> None:
        super().__init__(vocab, length, d, layers, heads, ff, dropout)
        self.config["n_labels"] = n_labels
        self.null_label = n_labels
        self.label = nn.Embedding(n_labels + 1, d)
        nn.init.zeros_(self.label.weight)  # starts as the unconditional model it is initialised from

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None,
                label: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L, V); ``label`` (B,) long in [0, n_labels], None = the null label."""
        if label is None:
            label = torch.full((x.shape[0],), self.null_label, dtype=torch.long, device=x.device)  # (B,)
        return self.logits(self.embed_tokens(x) + self.label(label)[:, None, :])  # (B, L, V)


class OneHotPredictor(nn.Module):
    """CNN regressor on token probabilities (B, L, V) -> (B, n_out) standardised property predictions."""

    def __init__(self, vocab: int, length: int, n_out: int, width: int = 128) -> None:
        super().__init__()
        self.config = dict(vocab=vocab, length=length, n_out=n_out, width=width)
        self.conv = nn.Sequential(
            nn.Conv1d(vocab, width, 5, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=2), nn.GELU(),
        )
        self.mlp = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, n_out))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """(B, L, V) probabilities (or one-hot) -> (B, n_out)."""
        h = self.conv(p.transpose(1, 2))  # (B, width, L)
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=-1)  # (B, 2*width)
        return self.mlp(pooled)  # (B, n_out)


class FingerprintMLP(nn.Module):
    """MLP on a fingerprint vector (B, n_in) -> (B,) property in standardised units."""

    def __init__(self, n_in: int, hidden: tuple[int, ...] = (256,), dropout: float = 0.1) -> None:
        super().__init__()
        self.config = dict(n_in=n_in, hidden=list(hidden), dropout=dropout)
        dims, mods = [n_in, *hidden], []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
        self.mlp = nn.Sequential(*mods, nn.Linear(dims[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_in) -> (B,)."""
        return self.mlp(x).squeeze(-1)  # (B,)
