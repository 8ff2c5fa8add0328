"""JASPAR PWM scanning of (N, L) token batches on both strands: log-odds scores, best score, hits above a p-value.

Scoring (all in one place so every caller agrees):
- probabilities p[b, j] = (count[b, j] + PSEUDOCOUNT * 0.25) / (n_j + PSEUDOCOUNT), n_j the column's total count;
- log-odds w[b, j] = log2(p[b, j] / 0.25) against a **uniform background 0.25** (the data's mean GC is 0.472, so the
  uniform background is within 3 points of it), rounded to 1/100 bit ("centibits"); scores are sums of integer
  centibits, so the float32 convolution is exact and the threshold below applies exactly to the computed scores;
- a window's score on the minus strand is the reverse-complement PWM's score of the same window;
- a **hit** is a window whose better strand's score reaches the threshold t, the smallest centibit value with
  P(S >= t) <= P_VALUE (1e-4, FIMO's default) under the i.i.d. uniform background, computed exactly by dynamic
  programming over the rounded PWM's score distribution. A motif too short to reach that p-value (its best score has
  probability > P_VALUE) hits only at its best score.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.weights import checked_path
from tasks.dna.data import DATA_DIR

MOTIF_FILE = "motifs.json"
PSEUDOCOUNT = 0.8
BACKGROUND = 0.25
P_VALUE = 1e-4
SCALE = 100  # centibits per bit
CHUNK_ELEMS = 1 << 24  # score-tensor elements per chunk (64 MB of float32)
FACTORS = {  # JASPAR 2024 CORE ids of the named factors (data.md §4.2; latest versions)
    "HNF4A": "MA0114.5", "HNF1A": "MA0046.3", "FOXA1": "MA0148.5", "FOXA2": "MA0047.4", "CEBPA": "MA0102.5",
    "CEBPB": "MA0466.4", "GATA1": "MA0035.5", "GATA1::TAL1": "MA0140.3", "KLF1": "MA0493.3", "SPI1": "MA0080.7",
    "CTCF": "MA0139.2",
}


@dataclass(frozen=True)
class Motif:
    """One JASPAR matrix: id (``MA0114.5``), TF name and counts (4, width) in ACGT row order."""

    id: str
    name: str
    counts: np.ndarray  # (4, w) float64


@lru_cache(maxsize=2)
def _all_motifs(folder: str) -> tuple[Motif, ...]:
    doc = json.loads(checked_path(Path(folder), MOTIF_FILE).read_text())
    return tuple(Motif(m["id"], m["name"], np.asarray(m["counts"], dtype=np.float64)) for m in doc["motifs"])


def load_motifs(ids: list[str] | None = None, folder: Path = DATA_DIR) -> list[Motif]:
    """The committed motifs (all 879 JASPAR 2024 CORE vertebrate matrices), or those with the given ids in order."""
    every = _all_motifs(str(folder))
    if ids is None:
        return list(every)
    by_id = {m.id: m for m in every}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise KeyError(f"motif ids not in {MOTIF_FILE}: {missing}")
    return [by_id[i] for i in ids]


def factor_motifs(names: list[str]) -> list[Motif]:
    """Motifs of named factors (keys of ``FACTORS``)."""
    return load_motifs([FACTORS[n] for n in names])


def log_odds(counts: np.ndarray) -> np.ndarray:
    """(4, w) counts -> (4, w) integer centibit log-odds against the uniform background (module docstring)."""
    p = (counts + PSEUDOCOUNT * BACKGROUND) / (counts.sum(axis=0, keepdims=True) + PSEUDOCOUNT)  # (4, w)
    return np.round(SCALE * np.log2(p / BACKGROUND))


def reverse_complement(pwm: np.ndarray) -> np.ndarray:
    """PWM of the minus strand: complement (reverse the ACGT rows) and reverse the columns."""
    return pwm[::-1, ::-1].copy()


def tail_threshold(pwm: np.ndarray, p_value: float = P_VALUE) -> int:
    """Smallest integer score t with P(S >= t) <= p_value for S = sum_j pwm[x_j, j], x_j i.i.d. uniform (exact DP).

    Capped at the best score, so a motif too short for ``p_value`` still hits at its consensus.
    """
    w = pwm.astype(np.int64)
    lo = w.min(axis=0)  # (w,)
    dist = np.ones(1)
    for j in range(w.shape[1]):
        span = w[:, j] - lo[j]
        new = np.zeros(len(dist) + int(span.max()))
        for s in span:
            new[s:s + len(dist)] += BACKGROUND * dist
        dist = new
    tail = np.cumsum(dist[::-1])[::-1]  # tail[k] = P(S >= lo.sum() + k)
    ok = np.nonzero(tail <= p_value * (1 + 1e-9))[0]
    k = int(ok[0]) if len(ok) else len(dist) - 1
    return int(lo.sum()) + min(k, len(dist) - 1)


@lru_cache(maxsize=4096)
def _pwm_and_threshold(key: tuple[str, bytes, int], p_value: float) -> tuple[np.ndarray, int]:
    """Cached (PWM, threshold) of a motif keyed by (id, counts bytes, width)."""
    pwm = log_odds(np.frombuffer(key[1], dtype=np.float64).reshape(4, key[2]))
    return pwm, tail_threshold(pwm, p_value)


def pwm_and_threshold(motif: Motif, p_value: float = P_VALUE) -> tuple[np.ndarray, int]:
    """(4, w) centibit PWM and its hit threshold (centibits) at ``p_value``."""
    c = np.ascontiguousarray(motif.counts, dtype=np.float64)
    return _pwm_and_threshold((motif.id, c.tobytes(), c.shape[1]), p_value)


def one_hot(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L) tokens -> (N, 4, L) float one-hot; tokens outside 0..3 (a MASK or PAD id) give a zero column."""
    x = F.one_hot(tokens.long().clamp(0, 4), 5)[..., :4]  # (N, L, 4)
    return x.transpose(1, 2).float()  # (N, 4, L)


def _pad_stack(pwms: list[np.ndarray]) -> torch.Tensor:
    """Plus- then minus-strand PWMs, right-padded with zeros to the longest: (2K, 4, W)."""
    width = max(p.shape[1] for p in pwms)
    weight = torch.zeros(2, len(pwms), 4, width)
    for i, p in enumerate(pwms):
        weight[0, i, :, :p.shape[1]] = torch.from_numpy(p)
        weight[1, i, :, :p.shape[1]] = torch.from_numpy(reverse_complement(p))
    return weight.reshape(-1, 4, width)


@dataclass(frozen=True)
class MotifScanner:
    """Both-strand scanner for a fixed motif list; build with ``MotifScanner.build``.

    Motifs are convolved in width groups (each padded only to its own longest), a 2-3x saving over one padded stack.
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    groups: tuple[torch.Tensor, ...]  # each (2K, 4, W_g) centibits: plus strands then minus strands, zero-padded
    members: tuple[torch.Tensor, ...]  # each (K,) indices into the motif list of that group's rows
    widths: torch.Tensor  # (M,) int64
    thresholds: torch.Tensor  # (M,) float32 centibits

    @classmethod
    def build(cls, motifs: list[Motif], p_value: float = P_VALUE, n_groups: int = 8) -> MotifScanner:
        """Scanner over ``motifs`` with hit thresholds at ``p_value``."""
        pairs = [pwm_and_threshold(m, p_value) for m in motifs]
        widths = torch.tensor([p.shape[1] for p, _ in pairs])
        by_width = torch.argsort(widths, stable=True)
        parts = [g for g in torch.tensor_split(by_width, min(n_groups, len(motifs))) if len(g)]
        groups = tuple(_pad_stack([pairs[i][0] for i in g.tolist()]) for g in parts)
        return cls(tuple(m.id for m in motifs), tuple(m.name for m in motifs), groups, tuple(parts), widths,
                   torch.tensor([t for _, t in pairs]).float())

    def _group_scores(self, x: torch.Tensor):
        """Yield (motif indices, (N, 2, K, L) centibit scores with off-end windows at -inf) per width group."""
        n, _, length = x.shape
        start = torch.arange(length, device=x.device)  # (L,)
        for w, members in zip(self.groups, self.members):
            idx = members.to(x.device)
            s = F.conv1d(F.pad(x, (0, w.shape[-1] - 1)), w.to(x.device)).view(n, 2, len(idx), length)  # (N, 2, K, L)
            valid = start[None, :] <= length - self.widths.to(x.device)[idx][:, None]  # (K, L)
            yield idx, s.masked_fill_(~valid, float("-inf"))

    def _reduce(self, tokens: torch.Tensor, fn) -> torch.Tensor:
        """(N, L) tokens -> (N, M): ``fn(scores (N, 2, K, L), idx (K,)) -> (N, K)`` per group, chunked over N."""
        out = []
        for t in self._chunks(tokens):
            cols = torch.empty(t.shape[0], len(self.ids), device=t.device)
            for idx, s in self._group_scores(one_hot(t)):
                cols[:, idx] = fn(s, idx).float()
            out.append(cols)
        return torch.cat(out)

    def strand_centibits(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) tokens -> (N, 2, M, L) integer-valued scores in centibits, strand 0 = plus; off-end windows -inf."""
        n, length = tokens.shape
        out = torch.empty(n, 2, len(self.ids), length, device=tokens.device)
        for idx, s in self._group_scores(one_hot(tokens)):
            out[:, :, idx] = s
        return out

    def strand_scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) tokens -> (N, 2, M, L) scores in bits (``strand_centibits`` / 100)."""
        return self.strand_centibits(tokens) / SCALE

    def _chunks(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        per_row = 2 * len(self.ids) * tokens.shape[1]
        return list(torch.split(tokens, max(1, CHUNK_ELEMS // per_row)))

    def max_score(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) tokens -> (N, M) best score over windows and strands, in bits."""
        return self._reduce(tokens, lambda s, idx: s.amax(dim=(1, 3))) / SCALE

    def hit_counts(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) tokens -> (N, M) number of windows whose better strand reaches the motif's threshold."""
        thr = self.thresholds.to(tokens.device)
        return self._reduce(tokens, lambda s, idx: (s.amax(dim=1) >= thr[idx][:, None]).sum(dim=-1)).long()
