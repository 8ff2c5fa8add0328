"""Tests of the molecules task: RDKit parity, tokenisation, objectives, tiny smoke, committed weights and card."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rdkit  # noqa: F401 - a hard dependency (pyproject): a broken install fails loudly here
import torch

from tasks.molecules import chem, data
from tasks.molecules import objectives as obj
from tasks.molecules.task import METRICS, Molecules  # noqa: E402

SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccccc1", "C1CC", "xyz", "", None, "OC1CC2CC12", "N#CC1=CNC=N1",
          "[NH3+]CC([O-])=O", "C(", "c1cccc1"]
WEIGHTS = data.WEIGHTS_DIR


def rdkit_direct(smiles: str | None, kind: str) -> float:
    """Reference values straight from RDKit (NaN for an unparsable or missing SMILES)."""
    import os
    import sys

    from rdkit import Chem, RDLogger
    from rdkit.Chem import QED, Crippen, RDConfig, rdMolDescriptors

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return math.nan
    if kind == "rings":
        return float(rdMolDescriptors.CalcNumRings(mol))
    if kind == "logp":
        return Crippen.MolLogP(mol)
    if kind == "qed":
        return QED.qed(mol)
    sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
    import sascorer

    return sascorer.calculateScore(mol)


@pytest.mark.parametrize("kind", chem.PROPS)
def test_property_parity_with_rdkit(kind: str) -> None:
    got = chem.properties(SMILES, kind)
    want = np.array([rdkit_direct(s, kind) for s in SMILES])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, equal_nan=True)
    assert np.isnan(got[[3, 4, 5, 9, 10]]).all()


def test_known_values() -> None:
    aspirin = ["CC(=O)Oc1ccccc1C(=O)O"]
    assert chem.properties(aspirin, "rings")[0] == 1
    assert chem.properties(aspirin, "logp")[0] == pytest.approx(1.31, abs=0.01)
    assert chem.properties(aspirin, "qed")[0] == pytest.approx(0.55, abs=0.01)
    assert chem.properties(aspirin, "sa")[0] == pytest.approx(1.58, abs=0.01)


def test_set_metrics_and_fingerprints_parity() -> None:
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    smiles = ["CCO", "OCC", "c1ccccc1", "C1CC", None, "CCN"]
    m = chem.set_metrics(smiles, train={"CCO"})
    assert m["validity"] == pytest.approx(4 / 6)
    assert m["uniqueness"] == pytest.approx(3 / 4)  # CCO == OCC canonically
    assert m["novelty"] == pytest.approx(2 / 3)
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "OCC", "c1ccccc1", "CCN")]
    fps = [gen.GetFingerprint(x) for x in mols]
    sims = [DataStructs.TanimotoSimilarity(fps[i], fps[j]) for i in range(4) for j in range(i + 1, 4)]
    assert chem.internal_diversity(smiles) == pytest.approx(1 - np.mean(sims))
    bits = chem.morgan_bits(["CCO", None])
    assert bits[0].sum() == len(list(fps[0].GetOnBits())) and bits[1].sum() == 0
    assert math.isnan(chem.internal_diversity(["CCO", None, "C1CC"]))
    assert chem.canonical_or_none(["OCC", "C1CC", ""]) == ["CCO", None, None]


def test_tokenisation_roundtrip_and_pad_rule() -> None:
    smiles = ["CC(=O)O", "c1ccoc1", "[NH3+]CC([O-])=O", "C#N"]
    x = data.encode(smiles)
    assert x.shape == (4, data.LENGTH) and data.V == len(data.VOCAB) and data.MASK_ID == data.V
    assert data.decode_tokens(x) == smiles
    bad = x.clone()
    bad[0, 2] = data.PAD_ID  # PAD in the middle -> invalid
    bad[1] = data.PAD_ID  # empty -> invalid
    bad[2, 5] = data.MASK_ID  # [MASK] left in -> invalid
    assert data.decode_tokens(bad) == [None, None, None, "C#N"]
    with pytest.raises(ValueError):
        data.encode(["C" * (data.LENGTH + 1)])


def test_objective_parsing() -> None:
    assert obj.parse("rings=3") == obj.Spec("rings", 3.0) and obj.parse("rings=3").name == "rings=3"
    assert obj.parse("logp=2.0").target == 2.0 and obj.parse("qed").target is None
    assert obj.parse("gap=0.25").name == "gap=0.25"
    for bad in ("rings", "rings=1.5", "foo=2", "logp=x", "qed=1"):
        with pytest.raises(ValueError):
            obj.parse(bad)
    prop = np.array([3.0, 2.0, np.nan])
    spec = obj.parse("rings=3")
    np.testing.assert_array_equal(obj.hits(spec, prop), [True, False, False])
    m = obj.objective_metrics(spec, prop)
    assert m["success"] == pytest.approx(1 / 3) and m["mae_valid"] == pytest.approx(0.5)
    assert m["mae"] == pytest.approx((0 + 1 + obj.WORST_ERR["rings"]) / 3)  # the invalid one at the worst error
    q = obj.objective_metrics(obj.parse("qed"), np.array([0.7, 0.5, np.nan]))
    assert q["success"] == pytest.approx(1 / 3) and q["qed"] == pytest.approx((0.7 + 0.5 + 0.0) / 3)
    assert q["prop_mean"] == pytest.approx(0.6)


@pytest.fixture(scope="module")
def tiny() -> Molecules:
    return Molecules(tiny=True)


def test_tiny_smoke(tiny: Molecules) -> None:
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, data.V, (8, data.LENGTH), generator=gen)  # (8, L) mostly invalid
    x0[0] = data.encode(["c1ccccc1"])[0]
    x0[1] = data.encode(["CCO"])[0]
    inst = torch.zeros(8, dtype=torch.long)
    assert tiny.decode(x0)[:2] == ["c1ccccc1", "CCO"]
    family = tiny.build_family()
    assert family.vocab == data.V and family.length == data.LENGTH
    for spec in ("rings=3", "logp=2.0", "gap=0.25", "qed", "sa"):
        o = tiny.objective(spec)
        proxy, oracle = o.proxy(x0, inst), o.oracle(x0, inst)
        assert proxy.shape == (8,) and oracle.shape == (8,)
        assert torch.isfinite(proxy).all() and (proxy[2:] == o.proxy.floor).all() == (tiny.decode(x0)[2:] == [None] * 6)
        assert torch.isnan(oracle[[i for i, s in enumerate(tiny.decode(x0)) if s is None]]).all()
        metrics, rows = tiny.evaluate(o, x0, inst)
        assert set(metrics) <= set(METRICS) and o.main_metric in metrics and len(rows) == 8
        assert metrics["validity"] == pytest.approx(sum(s is not None for s in tiny.decode(x0)) / 8)
        diff = o.grad_proxy
        assert diff.differentiable and diff.role == "proxy"
        soft = torch.softmax(torch.randn(8, data.LENGTH, data.V), -1).requires_grad_(True)
        diff(soft, inst).sum().backward()
        assert soft.grad is not None and soft.grad.abs().sum() > 0
        assert diff(x0, inst).shape == (8,)
    o = tiny.objective("rings=3")
    assert o.proxy(x0[:1], inst[:1]).item() == -2.0  # benzene has one ring
    with pytest.raises(ValueError):
        tiny.objective("nonsense")


def test_tiny_network_accepts_both_input_forms(tiny: Molecules) -> None:
    net = tiny.models.denoiser
    x = torch.randint(0, data.V + 1, (3, data.LENGTH))
    hot = torch.nn.functional.one_hot(x, data.V + 1).float()
    t = torch.full((3,), 0.5)
    torch.testing.assert_close(net(x, t), net(hot, t), rtol=1e-4, atol=1e-5)
    assert net(x, t).shape == (3, data.LENGTH, data.V)


def test_registration() -> None:
    import tasks.molecules as pkg

    assert pkg.TASK == "tasks.molecules.task:Molecules"
    assert "rings=3" in Molecules.objectives() and Molecules.default_objective == "rings=3"


needs_weights = pytest.mark.skipif(not (WEIGHTS / "manifest.json").exists(), reason="weights not built")


@needs_weights
def test_weights_manifest() -> None:
    from bench.weights import checked_path

    manifest = json.loads((WEIGHTS / "manifest.json").read_text())
    for name in ("denoiser.pt", "diff_predictor.pt", "gap_proxy.pt", "gap_oracle.pt", "train_smiles.txt.gz",
                 "test_smiles.txt.gz"):
        assert name in manifest
    for name in manifest:
        checked_path(WEIGHTS, name)
    total = sum(e["bytes"] for e in manifest.values())
    assert total < 20e6


@needs_weights
def test_model_card() -> None:
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    for word in ("validity", "uniqueness", "novelty", "parameters", "wall", "seed", "bench pretrain", "Split"):
        assert word in card


@needs_weights
def test_real_task_rewards() -> None:
    task = Molecules()
    assert sum(p.numel() for p in task.models.denoiser.parameters()) <= 3_000_000
    x0 = data.encode(["c1ccccc1", "CCO", "OC1CC2CC12"])
    inst = torch.zeros(3, dtype=torch.long)
    torch.testing.assert_close(task.objective("rings=3").proxy(x0, inst), torch.tensor([-2.0, -3.0, -1.0]))
    gap = task.objective("gap=0.25").oracle(x0, inst)
    assert torch.isfinite(gap).all() and (gap <= 0).all()
    assert len(task.models.train_smiles) > 50_000


@pytest.mark.slow
@needs_weights
def test_fcd_on_real_samples() -> None:
    task = Molecules()
    value = task.models.fcd(["CCO", "c1ccccc1", "CC(=O)O", "CCN", "OC1CC1"])
    assert math.isfinite(value)


def test_sample_figure(tmp_path: Path) -> None:
    rows = [{"smiles": "CCO", "property": 0.0}, {"smiles": None, "property": None},
            {"smiles": "c1ccccc1", "property": 1.0}]
    path = Molecules.sample_figure(rows, tmp_path / "f" / "mols.png", "t")
    assert path is not None and path.stat().st_size > 1000
    assert Molecules.sample_figure([{"smiles": None}], tmp_path / "g.png", "t") is None


def test_quality_objective_is_validity_with_invalid_counted_as_failure():
    import numpy as np

    from tasks.molecules import objectives as O
    spec = O.parse("quality")
    prop = np.array([1.0, np.nan, 1.0, np.nan])  # valid, invalid, valid, invalid
    assert O.per_sample(spec, prop)["success"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert set(O.per_sample(spec, prop)) == {"success"}
    assert np.nan_to_num(O.score(spec, prop), nan=spec.floor).tolist() == [1.0, 0.0, 1.0, 0.0]


def test_quality_objective_proxy_counts_valid_smiles_and_main_metric_is_validity():
    import torch

    from bench import registry
    from tasks.molecules import data
    task = registry.tasks().get("molecules")(tiny=True)
    o = task.objective("quality")
    assert o.quality and o.main_metric == "validity" and o.grad_proxy is None
    x0 = data.encode(["CCO", "C1CC"])  # a valid molecule, an unclosed ring
    assert o.proxy(x0, torch.zeros(2, dtype=torch.long)).tolist() == [1.0, 0.0]
