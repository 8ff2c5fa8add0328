"""``mpra``: a synthetic, exactly known "HepG2 enhancer activity" of a sequence (the ground truth of one objective).

For sequence x (tokens, length L) and factor f with JASPAR PWM scores s⁺_f(p), s⁻_f(p) (bits, window start p, see
``tasks.dna.motifs``) and hit threshold t_f (p = 1e-4):

    o^±_f(p) = σ((s^±_f(p) − t_f) / τ)                      soft occupancy of a window on each strand
    o_f(p)   = max(o⁺_f(p), o⁻_f(p))                         (= σ of the better strand's score)
    A_f      = Σ_p o_f(p)                                    soft hit count
    y(x) = Σ_f w_f · c · tanh(A_f / c)                       additive, saturating at c hits per factor
         + w_pair · tanh(Σ_{σ,σ'∈±} h(σ,σ') Σ_{i,j} o^σ_a(i) o^σ'_b(j) D(i,j))   cooperativity of a pair (a, b)
         − w_gc · (relu(g_lo − g) + relu(g − g_hi))          GC-content penalty, g = fraction of C/G

with D(i, j) = 1 if d_min ≤ |centre_a(i) − centre_b(j)| ≤ d_max (centre = p + (w − 1)/2) else 0, and h = 1 for
the same orientation, h_opp for opposite ones. Defaults (``DEFAULT_SPEC``): liver factors HNF4A 1.0, HNF1A 1.0,
CEBPA 0.7, CEBPB 0.7, FOXA1 0.5, FOXA2 0.5 and erythroid GATA1 −1.0 (off-target); τ = 1 bit, c = 3; pair HNF1A +
FOXA2, w_pair = 1.5, 10–50 bp apart, h_opp = 0.5; GC band 0.35–0.60 with w_gc = 10 (one unit per 10 points outside).
Deterministic and batched; computed in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from tasks.dna.motifs import FACTORS, SCALE, Motif, MotifScanner, load_motifs


@dataclass(frozen=True)
class MpraSpec:
    """Parameters of the synthetic activity (module docstring); ``factors`` are JASPAR ids, ``pair`` indexes them."""

    factors: tuple[str, ...]
    weights: tuple[float, ...]
    tau: float = 1.0
    cap: float = 3.0
    pair: tuple[int, int] = (1, 5)
    pair_weight: float = 1.5
    pair_span: tuple[float, float] = (10.0, 50.0)
    opposite: float = 0.5
    gc_band: tuple[float, float] = (0.35, 0.60)
    gc_weight: float = 10.0


_DEFAULT = (("HNF4A", 1.0), ("HNF1A", 1.0), ("CEBPA", 0.7), ("CEBPB", 0.7), ("FOXA1", 0.5), ("FOXA2", 0.5),
            ("GATA1", -1.0))
DEFAULT_SPEC = MpraSpec(tuple(FACTORS[n] for n, _ in _DEFAULT), tuple(w for _, w in _DEFAULT))


@dataclass(frozen=True)
class MpraTerms:
    """The parts of y(x), each (N,): per-factor terms (N, F), pair term, GC penalty (already signed) and the total."""

    factor: torch.Tensor  # (N, F)
    pair: torch.Tensor  # (N,)
    gc: torch.Tensor  # (N,)
    total: torch.Tensor  # (N,)


class MpraFunction:
    """y(x) of a spec; ``motifs`` overrides the JASPAR lookup (tests use hand-made matrices)."""

    def __init__(self, spec: MpraSpec = DEFAULT_SPEC, motifs: list[Motif] | None = None):
        self.spec = spec
        self.scanner = MotifScanner.build(motifs if motifs is not None else load_motifs(list(spec.factors)))
        if len(self.scanner.ids) != len(spec.weights):
            raise ValueError("one weight per factor")

    def occupancy(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) tokens -> (N, 2, F, L) strand occupancies σ((s − t)/τ); off-end windows are 0."""
        s = self.scanner.strand_centibits(tokens).double()  # (N, 2, F, L), exact integers
        t = self.scanner.thresholds.double()[None, None, :, None]  # (1, 1, F, 1) centibits
        return torch.sigmoid((s - t) / (SCALE * self.spec.tau))

    def _pair(self, occ: torch.Tensor) -> torch.Tensor:
        """(N, 2, F, L) occupancies -> (N,) cooperativity term."""
        a, b = self.spec.pair
        w = self.scanner.widths.double()
        pos = torch.arange(occ.shape[-1], dtype=torch.float64)  # (L,)
        dist = ((pos[:, None] + (w[a] - 1) / 2) - (pos[None, :] + (w[b] - 1) / 2)).abs()  # (L, L)
        lo, hi = self.spec.pair_span
        near = ((dist >= lo) & (dist <= hi)).double()  # (L, L)
        inner = torch.einsum("nsi,ij,ntj->nst", occ[:, :, a], near, occ[:, :, b])  # (N, 2, 2)
        h = torch.tensor([[1.0, self.spec.opposite], [self.spec.opposite, 1.0]], dtype=torch.float64)
        return self.spec.pair_weight * torch.tanh((inner * h).sum(dim=(1, 2)))

    def _gc(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N, L) -> (N,) signed GC penalty."""
        g = ((tokens == 1) | (tokens == 2)).double().mean(dim=1)  # (N,)
        lo, hi = self.spec.gc_band
        return -self.spec.gc_weight * (torch.relu(lo - g) + torch.relu(g - hi))

    def terms(self, tokens: torch.Tensor) -> MpraTerms:
        """All parts of y for a (N, L) batch."""
        occ = self.occupancy(tokens)  # (N, 2, F, L)
        counts = occ.amax(dim=1).sum(dim=-1)  # (N, F) soft hit counts A_f
        c = self.spec.cap
        factor = torch.tensor(self.spec.weights, dtype=torch.float64) * c * torch.tanh(counts / c)  # (N, F)
        pair, gc = self._pair(occ), self._gc(tokens)
        return MpraTerms(factor, pair, gc, factor.sum(dim=1) + pair + gc)

    def __call__(self, tokens: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        """(N, L) tokens -> (N,) float64 activity y(x)."""
        return torch.cat([self.terms(t).total for t in torch.split(tokens, chunk)])
