"""Objective specs of the DNA task and their reward functions (every reward "higher is better").

Specs:
- ``hepg2`` (default), ``k562``: cell-type specificity, the classifier's log-odds of the cell type against the other
  three, s(x) = z_c − log Σ_{c'≠c} exp z_{c'} (z the 4 logits). Proxy and gradient proxy: the CellCNN trained on
  half A of train; oracle: the PoolCNN trained on half B (other architecture, other seed), used only for scoring.
- ``motif=<TF>`` (a name of ``motifs.FACTORS``, e.g. HNF4A or GATA1, or any JASPAR id of the committed file): the
  soft JASPAR hit count Σ_p σ((s_p − t)/τ) (best strand's log-odds s_p of window p, hit threshold t at p = 1e-4,
  τ = 1 bit); exact, so proxy = oracle; not differentiable (no gradient proxy).
- ``mpra``: the synthetic activity y(x) of ``tasks.dna.mpra`` (exactly known: the oracle); its proxy and gradient
  proxy is a CellCNN regressor trained on noisy labels of y over train.

Inputs are (N, L) tokens (A, C, G, T = 0..3; any other id is an invalid, unfinished position) or, for gradient
proxies, (N, L, V[+1]) probabilities whose first 4 columns are the bases. Proxies give an invalid sample
``FLOOR``; oracles give NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tasks.dna.data import CELL_TYPES
from tasks.dna.motifs import FACTORS, SCALE, MotifScanner, load_motifs

PATTERNS = ["hepg2", "k562", "motif=<TF>", "mpra"]
CELL_SPECS = {"hepg2": "HepG2", "k562": "K562"}
FLOOR = -20.0
MOTIF_TAU = 1.0  # bits


@dataclass(frozen=True)
class Spec:
    """A parsed objective: ``kind`` in cell / motif / mpra; ``cell`` the target cell type's index (cell kind),
    ``motif`` the JASPAR id (motif kind)."""

    name: str
    kind: str
    cell: int | None = None
    motif: str | None = None

    @property
    def reference_cell(self) -> str:
        """Cell type whose real sequences set the "top 1%" threshold (HepG2 unless the objective is K562's)."""
        return CELL_TYPES[self.cell] if self.cell is not None else "HepG2"


def _motif_id(tf: str) -> str:
    if tf in FACTORS:
        return FACTORS[tf]
    known = {m.id: m.id for m in load_motifs()} | {m.name: m.id for m in load_motifs()}
    if tf not in known:
        raise ValueError(f"motif={tf!r}: not a JASPAR name or id of the committed motifs; named factors: "
                         f"{', '.join(sorted(FACTORS))} (e.g. motif=HNF4A)")
    return known[tf]


def parse(spec: str) -> Spec:
    """``hepg2`` / ``k562`` / ``motif=<TF>`` / ``mpra`` -> Spec; anything else is rejected with the accepted forms."""
    s = spec.strip()
    if s in CELL_SPECS:
        return Spec(s, "cell", cell=CELL_TYPES.index(CELL_SPECS[s]))
    if s == "mpra":
        return Spec(s, "mpra")
    if s.startswith("motif="):
        tf = s.split("=", 1)[1]
        return Spec(s, "motif", motif=_motif_id(tf))
    raise ValueError(f"unknown dna objective {spec!r}; expected one of {', '.join(PATTERNS)}")


def probabilities(x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (N, L) or probabilities (N, L, V[+1]) -> ((N, L, 4) base probabilities, (N,) bool valid)."""
    if x0.dim() == 2:
        valid = ((x0 >= 0) & (x0 < 4)).all(dim=1)  # (N,)
        return F.one_hot(x0.clamp(0, 3), 4).float(), valid
    return x0[..., :4], torch.ones(x0.shape[0], dtype=torch.bool, device=x0.device)


def cell_logodds(logits: torch.Tensor, cell: int) -> torch.Tensor:
    """(N, 4) logits -> (N,) z_c − logsumexp of the other three."""
    others = torch.cat([logits[:, :cell], logits[:, cell + 1:]], dim=1)  # (N, 3)
    return logits[:, cell] - others.logsumexp(dim=1)


def soft_hits(scanner: MotifScanner, tokens: torch.Tensor, tau: float = MOTIF_TAU) -> torch.Tensor:
    """(N, L) tokens -> (N, M) soft hit counts Σ_p σ((max-strand score − t)/τ) (off-end windows count 0)."""
    s = scanner.strand_centibits(tokens).amax(dim=1).double()  # (N, M, L)
    t = scanner.thresholds.double().to(tokens.device)[None, :, None]  # (1, M, 1)
    return torch.sigmoid((s - t) / (SCALE * tau)).sum(dim=-1)  # (N, M)


def masked_invalid(score: torch.Tensor, valid: torch.Tensor, role: str) -> torch.Tensor:
    """Invalid rows -> FLOOR (proxy) or NaN (oracle)."""
    fill = FLOOR if role == "proxy" else float("nan")
    return torch.where(valid, score, torch.full_like(score, fill))
