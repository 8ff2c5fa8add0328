"""DNA motif scanning: hand-computed log-odds and both-strand scores, the exact p-value threshold, planted motifs."""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from tasks.dna import motifs as M
from tasks.dna.data import encode

COMP = str.maketrans("ACGT", "TGCA")


def _toy(counts, mid="T1") -> M.Motif:
    return M.Motif(mid, mid, np.asarray(counts, dtype=np.float64))


def test_log_odds_by_hand():
    pwm = M.log_odds(np.array([[3.0, 0.0], [1.0, 0.0], [0.0, 4.0], [0.0, 0.0]]))
    # p = (c + 0.8 * 0.25) / (4 + 0.8); log2(p / 0.25) in centibits
    assert pwm[0, 0] == round(100 * math.log2((3.2 / 4.8) / 0.25)) == 142
    assert pwm[1, 0] == round(100 * math.log2((1.2 / 4.8) / 0.25)) == 0
    assert pwm[2, 1] == round(100 * math.log2((4.2 / 4.8) / 0.25)) == 181
    assert pwm[3, 1] == round(100 * math.log2((0.2 / 4.8) / 0.25)) == -258


def _score(pwm: np.ndarray, window: str) -> float:
    return sum(pwm["ACGT".index(b), j] for j, b in enumerate(window)) / 100


def test_both_strand_scores_match_hand_computation():
    counts = [[5, 0, 1], [0, 4, 1], [1, 0, 2], [0, 2, 2]]
    motif = _toy(counts)
    pwm = M.log_odds(np.asarray(counts, dtype=np.float64))
    seq = "ACGTTGCA"
    s = M.MotifScanner.build([motif]).strand_scores(torch.from_numpy(encode([seq])))  # (1, 2, 1, 8)
    for p in range(len(seq) - 2):
        win = seq[p:p + 3]
        assert math.isclose(s[0, 0, 0, p].item(), _score(pwm, win), abs_tol=1e-6)
        assert math.isclose(s[0, 1, 0, p].item(), _score(pwm, win.translate(COMP)[::-1]), abs_tol=1e-6)
    assert torch.isinf(s[0, :, 0, 6:]).all()  # windows running off the end
    # by hand: A, C, G in columns 0, 1, 2 with p = (c + 0.2) / 6.8 -> log2(p / 0.25) = 1.613, 1.305, 0.372 bits
    assert math.isclose(s[0, 0, 0, 0].item(), (161 + 130 + 37) / 100, abs_tol=1e-6)


def test_threshold_is_exact_against_enumeration():
    rng = np.random.default_rng(1)
    pwm = M.log_odds(rng.integers(0, 20, size=(4, 5)).astype(np.float64))
    scores = np.array([sum(pwm[b, j] for j, b in enumerate(w)) for w in itertools.product(range(4), repeat=5)])
    for p in (0.01, 0.003):
        t = M.tail_threshold(pwm, p)
        assert (scores >= t).mean() <= p < (scores >= t - 1).mean()


def test_short_motif_hits_only_at_its_consensus():
    pwm = M.log_odds(np.array([[9.0, 0.0], [0.0, 9.0], [0.0, 0.0], [0.0, 0.0]]))
    assert M.tail_threshold(pwm, 1e-4) == pwm.max(axis=0).sum()  # best score has probability 1/16 > 1e-4


def test_planted_factor_detected_on_each_strand():
    hnf4a = M.factor_motifs(["HNF4A"])[0]
    consensus = "".join("ACGT"[i] for i in hnf4a.counts.argmax(axis=0))
    rng = np.random.default_rng(0)
    bg = "".join(rng.choice(list("ACGT"), 200))
    plus = bg[:50] + consensus + bg[50 + len(consensus):]
    minus = bg[:120] + consensus.translate(COMP)[::-1] + bg[120 + len(consensus):]
    sc = M.MotifScanner.build([hnf4a])
    s = sc.strand_scores(torch.from_numpy(encode([bg, plus, minus])))  # (3, 2, 1, 200)
    best = M.log_odds(hnf4a.counts).max(axis=0).sum() / 100
    assert math.isclose(s[1, 0, 0, 50].item(), best, abs_tol=1e-6)
    assert math.isclose(s[2, 1, 0, 120].item(), best, abs_tol=1e-6)
    hits = sc.hit_counts(torch.from_numpy(encode([bg, plus, minus])))[:, 0]
    assert hits[1] == hits[0] + 1 and hits[2] == hits[0] + 1 and hits[0] == 0
    assert torch.allclose(sc.max_score(torch.from_numpy(encode([plus])))[0, 0], torch.tensor(best, dtype=torch.float32))


def test_width_groups_do_not_change_results_and_mask_counts_nothing():
    motifs = M.load_motifs()[:60]
    x = torch.randint(0, 4, (6, 200), generator=torch.Generator().manual_seed(0))
    one, eight = M.MotifScanner.build(motifs, n_groups=1), M.MotifScanner.build(motifs, n_groups=8)
    assert torch.equal(one.max_score(x), eight.max_score(x)) and torch.equal(one.hit_counts(x), eight.hit_counts(x))
    assert torch.equal(one.strand_scores(x), eight.strand_scores(x))
    masked = x.clone()
    masked[:, 100:] = 4  # a MASK id contributes zero to every window
    s = one.strand_scores(masked)[:, :, :, 100:]
    assert (s[torch.isfinite(s)] == 0).all()


def test_committed_motif_set():
    every = M.load_motifs()
    assert len(every) == 879 and len({m.id for m in every}) == 879  # JASPAR 2024 CORE vertebrates, latest versions
    named = M.factor_motifs(list(M.FACTORS))
    assert [m.name.upper() for m in named] == list(M.FACTORS)
    assert all(m.counts.shape[0] == 4 and (m.counts >= 0).all() for m in every)


def test_random_windows_hit_at_most_at_the_p_value():
    # Under the uniform background each strand's window exceeds t with probability <= 1e-4, so a window (better of two
    # strands) hits with probability <= 2e-4; over W windows the count is ~Poisson, bounded by mean + 4 sd.
    x = torch.randint(0, 4, (4000, 200), generator=torch.Generator().manual_seed(0))
    sc = M.MotifScanner.build(M.factor_motifs(["HNF4A", "FOXA2", "CTCF"]))
    hits = sc.hit_counts(x).sum(dim=0).double()  # (3,)
    windows = 4000 * (200 - sc.widths.double() + 1)  # (3,)
    bound = 2 * M.P_VALUE * windows
    assert (hits <= bound + 4 * bound.sqrt()).all() and (hits > 0).all()
