"""A finished batch of DNA samples -> the DRAKES-style metrics and one row per sample, against real-data references.

References (``Reference``, built once per process): the held-out real sequences (validation + test, chromosomes
1 and 2, never seen by any model's training), all real sequences (for the top 0.1% by each objective's oracle), the
879-motif scanner, and the exact ``mpra`` function. Per objective (cached): the oracle's 99th percentile over
held-out real sequences of the reference cell type (the "top 1%" threshold) and the top-0.1% set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bench.diffusion.training import masked_elbo_nll
from bench.diskcache import cached
from bench.task import Objective
from bench.weights import weights_sha256
from tasks.dna import objectives as obj
from tasks.dna.data import CELL_TYPES, SEQ_LEN, load_labelled
from tasks.dna.metrics import gc_content, kmer_correlation, kmer_spectrum, mean_hamming, pearson, wasserstein1
from tasks.dna.motifs import MotifScanner, load_motifs
from tasks.dna.mpra import MpraFunction


def _subsample(x: torch.Tensor, cell: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random order of the rows (so any prefix is a random subset), cut to ``n``."""
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]
    return x[idx], (cell[idx] if len(cell) else cell)


@dataclass
class Reference:
    """Real-data references (module docstring); ``subsample`` caps every set (the tiny variant's speed)."""

    heldout: torch.Tensor  # (H, L) validation + test tokens
    heldout_cell: torch.Tensor  # (H,)
    every: torch.Tensor  # (A, L) all real tokens
    scanner: MotifScanner
    mpra: MpraFunction
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def build(cls, subsample: int | None = None) -> "Reference":
        val, test = load_labelled("validation"), load_labelled("test")
        tr = load_labelled("train")
        held, held_cell = _subsample(torch.cat([val.tokens, test.tokens]), torch.cat([val.cell, test.cell]),
                                     subsample)
        every, _ = _subsample(torch.cat([tr.tokens, val.tokens, test.tokens]), torch.zeros(0), subsample)
        return cls(held, held_cell, every, MotifScanner.build(load_motifs()), MpraFunction())

    def scanner_for(self, motif_id: str) -> MotifScanner:
        """A one-motif scanner (cached)."""
        key = ("scanner", motif_id)
        if key not in self._cache:
            self._cache[key] = MotifScanner.build(load_motifs([motif_id]))
        return self._cache[key]

    def cell_set(self, cell: str) -> torch.Tensor:
        """Held-out real sequences of one cell type."""
        return self.heldout[self.heldout_cell == CELL_TYPES.index(cell)]

    def cached(self, name: str, key: str, build) -> Any:
        """``build()`` once per (name, key)."""
        if (name, key) not in self._cache:
            self._cache[(name, key)] = build()
        return self._cache[(name, key)]


def oracle_scores(objective: Objective, tokens: torch.Tensor, device: torch.device, chunk: int = 2048) -> torch.Tensor:
    """(N, L) real tokens -> (N,) float64 oracle scores on CPU."""
    inst = torch.zeros(chunk, dtype=torch.long, device=device)
    with torch.inference_mode():
        return torch.cat([objective.oracle(t.to(device), inst[: len(t)]).double().cpu()
                          for t in torch.split(tokens, chunk)])


def objective_reference(task: Any, objective: Objective) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(top-1% threshold, top-0.1% real sequences' 3-mer spectrum, held-out reference-cell tokens), cached."""
    ref, spec = task.reference, obj.parse(objective.name)

    def scores() -> tuple[float, torch.Tensor]:
        thr = float(torch.quantile(oracle_scores(objective, ref.cell_set(spec.reference_cell), task.device), 0.99))
        every = oracle_scores(objective, ref.every, task.device)
        return thr, kmer_spectrum(ref.every[every >= torch.quantile(every, 0.999)])

    def build() -> tuple[float, torch.Tensor, torch.Tensor]:
        key = {"task": "dna", "version": task.version, "weights": weights_sha256(task), "tiny": task.tiny,
               "objective": objective.name, "heldout": len(ref.heldout), "every": len(ref.every)}
        thr, spectrum = cached("dna-objective-reference", key, scores)  # across processes (bench.diskcache)
        return thr, spectrum, ref.cell_set(spec.reference_cell)
    return ref.cached("objective", objective.name, build)


def _num(v: float) -> float | None:
    return None if math.isnan(v) else v


def set_metrics(task: Any, objective: Objective, tokens: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """The naturalness metrics of the valid samples against held-out real data."""
    ref = task.reference
    _, top_spec, cell_set = objective_reference(task, objective)
    good = tokens[valid]
    if len(good) == 0:
        return {k: math.nan for k in ("kmer3_top", "kmer3_corr", "motif_corr", "gc_w1", "diversity")}
    ref_counts = ref.cached("motif_counts", obj.parse(objective.name).reference_cell,
                            lambda: ref.scanner.hit_counts(cell_set).sum(0))
    return {"kmer3_top": pearson(kmer_spectrum(good), top_spec),
            "kmer3_corr": kmer_correlation(good, ref.heldout),
            "motif_corr": pearson(ref.scanner.hit_counts(good).sum(0), ref_counts),
            "gc_w1": wasserstein1(gc_content(good), gc_content(ref.heldout)),
            "diversity": mean_hamming(good) if len(good) >= 2 else math.nan}


def evaluate_batch(task: Any, objective: Objective, x0: torch.Tensor,
                   instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Metrics dict and per-sample rows of a finished batch x0 (N, L) of tokens."""
    x0 = x0.to(task.device).long()
    _, valid = obj.probabilities(x0)
    with torch.inference_mode():
        proxy = objective.proxy(x0, instance).double().cpu()  # (N,) floor where invalid
        oracle = objective.oracle(x0, instance).double().cpu()  # (N,) NaN where invalid
    thr, _, _ = objective_reference(task, objective)
    scored = torch.nan_to_num(oracle, nan=obj.FLOOR)  # (N,) an invalid sample at the floor
    above = (scored >= thr).double()  # (N,)
    mpra = task.reference.mpra(x0.clamp(0, 3).cpu())  # (N,) ground truth (invalid positions read as A)
    mpra = torch.where(valid.cpu(), mpra, torch.full_like(mpra, math.nan))
    nll = masked_elbo_nll(task.models.denoiser, x0.clamp(0, 3), 4) / SEQ_LEN  # (N,) nats per base
    v = valid.cpu()
    metrics = {"oracle_median": float(torch.quantile(scored, 0.5)), "oracle_mean": float(scored.mean()),
               "oracle_q90": float(torch.quantile(scored, 0.9)), "frac_above": float(above.mean()),
               "nll": float(nll.mean()), "mpra_true": float(torch.nan_to_num(mpra, nan=obj.FLOOR).mean()),
               "n_invalid": float((~v).sum())}
    metrics.update(set_metrics(task, objective, x0.cpu(), v))
    if not objective.exact_proxy:
        metrics["proxy_oracle_gap"] = float((proxy - oracle)[v].mean()) if v.any() else math.nan
    seqs = task.decode(x0.cpu())
    rows = [{"seq": s, "valid": bool(v[i]), "proxy": _num(float(proxy[i])), "oracle": _num(float(oracle[i])),
             "oracle_mean": float(scored[i]), "frac_above": float(above[i]), "nll": float(nll[i]),
             "mpra_true": float(np.nan_to_num(float(mpra[i]), nan=obj.FLOOR))} for i, s in enumerate(seqs)]
    return metrics, rows
