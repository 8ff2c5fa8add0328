"""The `dna` task: objective specs, the rewards' arithmetic, invalid samples, the oracle's strand symmetry, the
conditional denoiser, and a tiny end-to-end evaluation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tasks.dna import objectives as obj
from tasks.dna.motifs import Motif, MotifScanner, pwm_and_threshold
from tasks.dna.net import NULL_LABEL, DnaDenoiser, PoolCNN
from tasks.dna.task import METRICS, Dna


@pytest.fixture(scope="module")
def task() -> Dna:
    return Dna(tiny=True)


def test_specs_parse_and_bad_ones_show_the_accepted_forms() -> None:
    assert obj.parse("hepg2").cell == 3 and obj.parse("k562").cell == 2
    assert obj.parse("motif=HNF4A").motif == "MA0114.5"
    assert obj.parse("motif=MA0035.5").motif == "MA0035.5"
    assert obj.parse("mpra").kind == "mpra" and obj.parse("mpra").reference_cell == "HepG2"
    with pytest.raises(ValueError, match="hepg2, k562, motif=<TF>, mpra"):
        obj.parse("liver")
    with pytest.raises(ValueError, match="e.g. motif=HNF4A"):
        obj.parse("motif=NOTAFACTOR")


def test_cell_logodds_by_hand() -> None:
    z = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    expect = 3.0 - math.log(math.exp(0) + math.exp(1) + math.exp(2))
    assert obj.cell_logodds(z, 3).item() == pytest.approx(expect)
    p = torch.softmax(z, -1)[0, 3].item()  # the log-odds of the class against the rest
    assert obj.cell_logodds(z, 3).item() == pytest.approx(math.log(p / (1 - p)))


def test_soft_hits_by_hand() -> None:
    counts = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10], [0, 0, 0]], dtype=float)  # consensus "ACG"
    scanner = MotifScanner.build([Motif("X1", "x", counts)])
    pwm, thr = pwm_and_threshold(scanner_motif := Motif("X1", "x", counts))
    assert scanner_motif.id == "X1"
    tokens = torch.tensor([[0, 1, 2, 3, 3, 0, 1, 2]])  # ACGTTACG: two consensus windows, plus-strand
    plus = [sum(pwm[tokens[0, p + j], j] for j in range(3)) for p in range(6)]
    rc = pwm[::-1, ::-1]
    minus = [sum(rc[tokens[0, p + j], j] for j in range(3)) for p in range(6)]
    best = np.maximum(plus, minus)
    expect = sum(1 / (1 + math.exp(-(b - thr) / 100.0)) for b in best)
    assert obj.soft_hits(scanner, tokens)[0, 0].item() == pytest.approx(expect, rel=1e-9)


def test_invalid_sequences_floor_the_proxy_and_nan_the_oracle(task: Dna) -> None:
    o = task.objective("hepg2")
    x = torch.randint(0, 4, (3, 200), generator=torch.Generator().manual_seed(0))
    x[1, 17] = 4  # a position left masked
    inst = torch.zeros(3, dtype=torch.long)
    proxy, oracle = o.proxy(x, inst), o.oracle(x, inst)
    assert proxy[1].item() == obj.FLOOR and math.isnan(oracle[1].item())
    assert torch.isfinite(proxy[[0, 2]]).all() and torch.isfinite(oracle[[0, 2]]).all()
    metrics, rows = task.evaluate(o, x, inst)
    assert metrics["n_invalid"] == 1.0 and rows[1]["valid"] is False and rows[1]["oracle_mean"] == obj.FLOOR
    assert task.decode(x)[1] is None and len(task.decode(x)[0]) == 200


def test_evaluate_reports_every_declared_metric_and_per_sample_rows(task: Dna) -> None:
    x = torch.randint(0, 4, (6, 200), generator=torch.Generator().manual_seed(1))
    for spec in ("hepg2", "mpra", "motif=GATA1"):
        o = task.objective(spec)
        metrics, rows = task.evaluate(o, x, torch.zeros(6, dtype=torch.long))
        expected = set(METRICS) - ({"proxy_oracle_gap"} if o.exact_proxy else set())
        assert expected <= set(metrics), spec
        for name, meta in METRICS.items():
            if meta.per_sample:
                assert np.mean([r[name] for r in rows]) == pytest.approx(metrics[name]), (spec, name)
        assert metrics["oracle_median"] == pytest.approx(float(np.median([r["oracle_mean"] for r in rows])))


def test_motif_objective_is_exact_and_has_no_gradient_proxy(task: Dna) -> None:
    o = task.objective("motif=HNF4A")
    assert o.exact_proxy and o.grad_proxy is None
    x = torch.randint(0, 4, (4, 200), generator=torch.Generator().manual_seed(2))
    inst = torch.zeros(4, dtype=torch.long)
    assert torch.equal(o.proxy(x, inst), o.oracle(x, inst))


def test_gradient_proxy_reaches_every_position(task: Dna) -> None:
    for spec in ("hepg2", "mpra"):
        g = task.objective(spec).grad_proxy
        p = torch.full((2, 200, 5), 0.2, requires_grad=True)  # soft (N, L, V+1) input
        g(p, torch.zeros(2, dtype=torch.long)).sum().backward()
        assert p.grad[..., :4].abs().sum(-1).gt(0).float().mean() > 0.9, spec


def test_oracle_is_strand_symmetric() -> None:
    torch.manual_seed(0)
    net = PoolCNN(width=16).eval()
    x = F.one_hot(torch.randint(0, 4, (5, 200)), 4).float()
    rc = F.one_hot(3 - x.argmax(-1).flip(1), 4).float()
    assert torch.allclose(net(x), net(rc), atol=1e-5)


def test_denoiser_soft_path_matches_hard_ids_and_label_default_is_null() -> None:
    torch.manual_seed(0)
    net = DnaDenoiser(d=16, dilations=(1, 2)).eval()
    x = torch.randint(0, 5, (3, 200))
    hard = net(x)
    assert torch.allclose(hard, net(F.one_hot(x, 5).float()), atol=1e-5)
    assert torch.allclose(hard, net(x, None, torch.full((3,), NULL_LABEL)), atol=0)
    assert not torch.allclose(hard, net(x, None, torch.zeros(3, dtype=torch.long)))
