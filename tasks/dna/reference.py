"""Reference numbers of the real data for the data card: ``python -m tasks.dna.reference > out.json``.

Real-vs-real values of every metric (the ceiling a generator is compared against), named-factor hit rates per cell
type, and the ``mpra`` distribution per cell type. Subsamples are seeded; sizes are the arguments' defaults.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

import torch

from tasks.dna.data import CELL_TYPES, load_labelled, load_split
from tasks.dna.metrics import gc_content, kmer_correlation, mean_hamming, motif_count_correlation
from tasks.dna.motifs import FACTORS, MotifScanner, factor_motifs, load_motifs
from tasks.dna.mpra import MpraFunction

log = logging.getLogger(__name__)


def subsample(x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """At most ``n`` rows of ``x``, a seeded random subset."""
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(len(x), generator=g)[:n]] if len(x) > n else x


def set_metrics(test_hepg2: torch.Tensor, n_motif: int) -> dict:
    """3-mer and motif-count correlations of held-out HepG2 to each cell type's training set."""
    scanner = MotifScanner.build(load_motifs())
    out = {}
    for c in CELL_TYPES:
        train = load_split("train", c)
        out[c] = {"kmer3_corr": kmer_correlation(test_hepg2, train),
                  "motif_corr": motif_count_correlation(subsample(test_hepg2, n_motif),
                                                        subsample(train, n_motif), scanner)}
        log.info("vs train %s: %s", c, out[c])
    return out


def per_cell(n_div: int) -> dict:
    """GC, diversity, factor hit rates and mpra summaries per cell type (all splits pooled for mpra)."""
    scanner = MotifScanner.build(factor_motifs(list(FACTORS)))
    mpra = MpraFunction()
    out = {}
    for c in CELL_TYPES:
        x = torch.cat([load_split(s, c) for s in ("train", "validation", "test")])
        y = mpra(x)
        gc = gc_content(x)
        hits = scanner.hit_counts(x)  # (N, F)
        q = torch.quantile(y, torch.tensor([0.1, 0.5, 0.9, 0.99], dtype=torch.float64)).tolist()
        out[c] = {"n": len(x), "gc_mean": float(gc.mean()), "gc_sd": float(gc.std()),
                  "diversity_test": mean_hamming(subsample(load_split("test", c), n_div)),
                  "frac_with_hit": dict(zip(scanner.names, (hits > 0).float().mean(0).tolist())),
                  "mpra": {"mean": float(y.mean()), "sd": float(y.std()), "q10": q[0], "median": q[1],
                           "q90": q[2], "q99": q[3]}}
        log.info("%s: %s", c, out[c])
    return out


def uniform_baseline(test_hepg2: torch.Tensor, n: int = 5000) -> dict:
    """mpra, diversity and the set correlations of i.i.d. uniform random sequences (seeded): the floor."""
    x = torch.randint(0, 4, (n, 200), generator=torch.Generator().manual_seed(0))
    y = MpraFunction()(x)
    train = load_split("train", "HepG2")
    return {"n": n, "mpra_mean": float(y.mean()), "mpra_median": float(y.median()),
            "diversity": mean_hamming(x[:1000]), "kmer3_corr_vs_train_hepg2": kmer_correlation(x, train),
            "kmer3_corr_vs_test_hepg2": kmer_correlation(x, test_hepg2),
            "motif_corr_vs_train_hepg2": motif_count_correlation(x[:3000], subsample(train, 3000),
                                                                 MotifScanner.build(load_motifs()))}


def top_mpra(test_hepg2: torch.Tensor) -> dict:
    """The DRAKES-style high-activity reference: train HepG2 sequences above the 99th / 99.9th mpra percentile."""
    train = load_split("train", "HepG2")
    y = MpraFunction()(train)
    out = {}
    for name, q in (("top1pct", 0.99), ("top0.1pct", 0.999)):
        thr = float(torch.quantile(y, q))
        top = train[y >= thr]
        out[name] = {"mpra_threshold": thr, "n": len(top),
                     "kmer3_corr_heldout_hepg2": kmer_correlation(test_hepg2, top),
                     "frac_heldout_hepg2_above": float((MpraFunction()(test_hepg2) >= thr).double().mean())}
    return out


def main() -> None:
    """Print the reference numbers as JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n-motif", type=int, default=3000, help="sequences per set for the motif-count correlation")
    p.add_argument("--n-div", type=int, default=1000, help="sequences for the Hamming diversity")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    torch.set_num_threads(1)
    test_hepg2 = load_split("test", "HepG2")
    ref = {"heldout_hepg2_vs_train": set_metrics(test_hepg2, args.n_motif),
           "heldout_hepg2_vs_validation_hepg2_kmer3": kmer_correlation(test_hepg2, load_split("validation", "HepG2")),
           "per_cell_type": per_cell(args.n_div), "uniform_random": uniform_baseline(test_hepg2),
           "top_mpra_train_hepg2": top_mpra(test_hepg2),
           "splits": {s: len(load_labelled(s).cell) for s in ("train", "validation", "test")}}
    print(json.dumps(ref, indent=2))


if __name__ == "__main__":
    main()
