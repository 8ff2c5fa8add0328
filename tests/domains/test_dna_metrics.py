"""DNA set metrics on tiny hand-made inputs."""
from __future__ import annotations

import math

import numpy as np
import torch

from tasks.dna import metrics as X
from tasks.dna.data import encode
from tasks.dna.motifs import Motif, MotifScanner


def _t(*seqs: str) -> torch.Tensor:
    return torch.from_numpy(encode(list(seqs))).long()


def test_kmer_counts_by_hand_and_mask_skipped():
    c = X.kmer_counts(_t("ACGTA"))[0]
    assert {i: int(v) for i, v in enumerate(c) if v} == {6: 1, 27: 1, 44: 1}  # ACG, CGT, GTA
    masked = _t("ACGTA")
    masked[0, 2] = 4
    assert X.kmer_counts(masked).sum() == 0
    spec = X.kmer_spectrum(_t("AAAA", "AAAC"))
    assert spec[0] == 3 / 4 and spec[1] == 1 / 4


def test_kmer_correlation_matches_numpy():
    a, b = _t("ACGTACGTAA", "GGGCCCAATT"), _t("AAAACCCCGG", "TTTTGGGACA")
    ref = np.corrcoef(X.kmer_spectrum(a).numpy(), X.kmer_spectrum(b).numpy())[0, 1]
    assert math.isclose(X.kmer_correlation(a, b), ref, abs_tol=1e-12)
    assert math.isclose(X.kmer_correlation(a, a), 1.0, abs_tol=1e-12)


def test_gc_and_wasserstein():
    assert X.gc_content(_t("ACGT", "GGGC", "AATT")).tolist() == [0.5, 1.0, 0.0]
    a = torch.linspace(0, 1, 101, dtype=torch.float64)
    assert math.isclose(X.wasserstein1(a + 0.1, a), 0.1, abs_tol=1e-9)


def test_mean_hamming_by_hand():
    x = _t("AAAA", "AAAT", "TTTT")  # pair distances 1, 4, 3 out of 4
    assert math.isclose(X.mean_hamming(x), (1 + 4 + 3) / 3 / 4, abs_tol=1e-12)
    assert math.isclose(X.mean_hamming(x, chunk=1), X.mean_hamming(x), abs_tol=1e-12)


def test_motif_count_correlation_by_hand():
    ac = Motif("AC", "AC", np.array([[9.0, 0.0], [0.0, 9.0], [0.0, 0.0], [0.0, 0.0]]))
    tt = Motif("TT", "TT", np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [9.0, 9.0]]))
    cc = Motif("CC", "CC", np.array([[0.0, 0.0], [9.0, 9.0], [0.0, 0.0], [0.0, 0.0]]))
    sc = MotifScanner.build([ac, tt, cc])
    # hits count a window once if either strand matches: AC/GT, TT/AA, CC/GG
    samples = _t("ACGGGACG", "GGGGGGGT")  # AC: 2 + 1 (GT), TT: 0, CC (as GG): 2 + 6
    reference = _t("AAGCGCGC")  # AC: 0, TT (as AA): 1, CC: 0
    assert sc.hit_counts(samples).sum(0).tolist() == [3, 0, 8]
    assert sc.hit_counts(reference).sum(0).tolist() == [0, 1, 0]
    want = np.corrcoef([3, 0, 8], [0, 1, 0])[0, 1]
    assert math.isclose(X.motif_count_correlation(samples, reference, sc), want, abs_tol=1e-12)
