"""Sequence-set metrics of the DNA task (DRAKES analogues), batched over (N, L) token tensors (A, C, G, T = 0..3).

- 3-mer spectrum: counts of the 64 overlapping 3-mers, index 16·x_i + 4·x_{i+1} + x_{i+2}, pooled over a set
  and normalised to frequencies; its Pearson correlation to a reference set's (DRAKES "3-mer Corr" pools counts too);
- GC content per sequence and the 1-Wasserstein distance between two sets' GC distributions;
- diversity: mean pairwise Hamming distance over distinct pairs, as a fraction of the length;
- motif-count correlation: Pearson correlation, across motifs, of two sets' pooled JASPAR hit counts
  (``MotifScanner.hit_counts``; DRAKES "JASPAR Corr").
Tokens outside 0..3 (MASK / PAD) are skipped in k-mer counts and GC and count as mismatches in Hamming.
"""
from __future__ import annotations

import torch

from tasks.dna.motifs import MotifScanner


def kmer_counts(tokens: torch.Tensor, k: int = 3) -> torch.Tensor:
    """(N, L) tokens -> (N, 4**k) counts of overlapping k-mers that hold only A/C/G/T."""
    t = tokens.long()
    windows = t.unfold(1, k, 1)  # (N, L-k+1, k)
    ok = ((windows >= 0) & (windows < 4)).all(dim=-1)  # (N, L-k+1)
    powers = 4 ** torch.arange(k - 1, -1, -1, device=t.device)  # (k,)
    idx = (windows.clamp(0, 3) * powers).sum(dim=-1)  # (N, L-k+1)
    out = torch.zeros(t.shape[0], 4 ** k, device=t.device)
    return out.scatter_add_(1, idx, ok.float())


def kmer_spectrum(tokens: torch.Tensor, k: int = 3) -> torch.Tensor:
    """(N, L) -> (4**k,) pooled k-mer frequencies of the set (sums to 1)."""
    c = kmer_counts(tokens, k).sum(dim=0)  # (4**k,)
    return c / c.sum().clamp_min(1.0)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two 1-D vectors (nan if either is constant)."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = (a.norm() * b.norm()).item()
    return float((a @ b).item() / den) if den > 0 else float("nan")


def kmer_correlation(samples: torch.Tensor, reference: torch.Tensor, k: int = 3) -> float:
    """Pearson correlation of the pooled k-mer spectra of two sets."""
    return pearson(kmer_spectrum(samples, k), kmer_spectrum(reference, k))


def gc_content(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L) -> (N,) fraction of C/G among the A/C/G/T positions."""
    acgt = ((tokens >= 0) & (tokens < 4)).sum(dim=1).clamp_min(1)  # (N,)
    return ((tokens == 1) | (tokens == 2)).sum(dim=1).double() / acgt


def wasserstein1(a: torch.Tensor, b: torch.Tensor, n_quantiles: int = 1000) -> float:
    """1-Wasserstein distance between two 1-D empirical distributions (mean gap of matched quantiles)."""
    q = (torch.arange(n_quantiles, dtype=torch.float64) + 0.5) / n_quantiles  # (Q,)
    return float((torch.quantile(a.double(), q) - torch.quantile(b.double(), q)).abs().mean())


def mean_hamming(tokens: torch.Tensor, chunk: int = 512) -> float:
    """Mean Hamming distance over the N(N-1)/2 distinct pairs, as a fraction of L (N >= 2)."""
    n, length = tokens.shape
    if n < 2:
        raise ValueError("diversity needs at least two sequences")
    x = torch.nn.functional.one_hot(tokens.long().clamp(0, 4), 5)[..., :4].reshape(n, -1).float()  # (N, 4L)
    same = sum(float((x[i:i + chunk] @ x.T).sum()) for i in range(0, n, chunk))  # all ordered pairs, incl. i = j
    self_same = float(x.sum())  # each sequence matches itself at its A/C/G/T positions
    return 1.0 - (same - self_same) / (n * (n - 1) * length)


def motif_count_correlation(samples: torch.Tensor, reference: torch.Tensor, scanner: MotifScanner) -> float:
    """Pearson correlation, across the scanner's motifs, of the two sets' pooled hit counts."""
    return pearson(scanner.hit_counts(samples).sum(dim=0), scanner.hit_counts(reference).sum(dim=0))
