"""k-NN manifold metrics of a sample set against real data, in a feature space the task chooses.

Precision and recall (Kynkäänniemi et al., NeurIPS 2019) and density and coverage (Naeem et al., ICML 2020), with
the definitions of the reference implementation (clovaai/generative-evaluation-prdc, parity-tested when installed):
each real feature r_i gets the radius ρ_i = distance to its k-th nearest other real feature, each fake f_j the
radius to its k-th nearest other fake.
    precision = mean_j 1[∃i: ‖f_j − r_i‖ < ρ_i]          fakes inside the real manifold (fidelity)
    recall    = mean_i 1[∃j: ‖r_i − f_j‖ < ρ'_j]         reals inside the fake manifold (diversity)
    density   = (1/k) mean_j Σ_i 1[‖f_j − r_i‖ < ρ_i]    like precision, robust to real outliers (1 = real-like)
    coverage  = mean_i 1[min_j ‖r_i − f_j‖ < ρ_i]        reals with a fake within their radius
Recall and coverage grow with the number of fakes: compare them only between runs with the same sample count
(and the same real set). The reference implementation is not a dependency: it prints to stdout, which carries
results here, and pulls scikit-learn for one pairwise-distance call.
"""
from __future__ import annotations

import math

import torch

PRDC_KEYS = ("precision", "recall", "density", "coverage")


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, D) -> (N,) distance of each row to its k-th nearest other row (the row itself is the 0-th)."""
    d = torch.cdist(x, x)  # (N, N)
    return d.kthvalue(k + 1, dim=1).values  # (N,)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` (M, D) against ``real`` (N, D); NaN when either set
    has at most ``k`` rows (no k-th neighbour)."""
    if len(real) <= k or len(fake) <= k:
        return {key: math.nan for key in PRDC_KEYS}
    real, fake = real.double(), fake.double()
    rho_r, rho_f = _kth_radius(real, k), _kth_radius(fake, k)  # (N,), (M,)
    d = torch.cdist(real, fake)  # (N, M)
    inside = d < rho_r[:, None]  # (N, M) fake j inside real i's ball
    return {"precision": float(inside.any(0).double().mean()),
            "recall": float((d < rho_f[None, :]).any(1).double().mean()),
            "density": float(inside.double().sum(0).mean() / k),
            "coverage": float((d.min(1).values < rho_r).double().mean())}
