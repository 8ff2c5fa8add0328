"""The conditional molecules twin (`molecules_cond`): the molecules task sampled from the ring-count conditional
denoiser, whose label input makes `rings=k` a condition for CFG; its weights live in the molecules folder."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from bench import registry
from bench.runner import Cell, execute
from bench.train import RunDirs
from bench.weights import task_folder, weights_sha256
from tasks.molecules import cond
from tasks.molecules.data import LENGTH, MASK_ID, V
from tasks.molecules.net import N_RING_LABELS, CondSmilesDenoiser, SmilesDenoiser, ring_label

WEIGHTS = Path(__file__).resolve().parents[2] / "tasks" / "molecules" / "weights"
HAS_COND = "cond_denoiser.pt" in json.loads((WEIGHTS / "manifest.json").read_text())


def _tasks():
    return registry.tasks().get("molecules"), registry.tasks().get("molecules_cond")


def _ids(n: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V + 1, (n, LENGTH), generator=g)  # (n, L) with some [MASK]


def test_a_fresh_conditional_denoiser_is_exactly_the_unconditional_one_it_starts_from():
    """The label embedding starts at zero, so with the unconditional weights loaded every label (and none) gives the
    unconditional logits: fine-tuning starts at the model it refines."""
    torch.manual_seed(0)
    base = SmilesDenoiser(V, LENGTH, d=32, layers=1, heads=2, ff=2).eval()
    net = CondSmilesDenoiser(V, LENGTH, d=32, layers=1, heads=2, ff=2).eval()
    missing, unexpected = net.load_state_dict(base.state_dict(), strict=False)
    assert missing == ["label.weight"] and unexpected == []
    x = _ids()
    with torch.inference_mode():
        ref = base(x)
        for k in [None, *range(N_RING_LABELS + 1)]:
            lab = None if k is None else torch.full((3,), k)
            assert torch.equal(net(x, None, lab), ref)


def test_the_null_label_is_the_default_and_labels_change_the_output():
    from tasks.molecules.models import tiny_cond_denoiser

    net, x = tiny_cond_denoiser(), _ids()
    with torch.inference_mode():
        null = net(x, None, torch.full((3,), net.null_label))
        assert torch.equal(net(x), null)
        assert not torch.allclose(net(x, None, torch.full((3,), 3)), null)
        soft = torch.nn.functional.one_hot(x, V + 1).float()  # (3, L, V+1): the differentiable path agrees
        assert torch.allclose(net(soft), null, atol=1e-5)


@pytest.mark.parametrize("rings,label", [(0, 0), (3, 3), (4, 4), (5, 5), (9, 5)])
def test_ring_classes(rings, label):
    assert ring_label(rings) == label


@pytest.mark.parametrize("objective,label", [("rings=0", 0), ("rings=3", 3), ("rings=4", 4), ("rings=5", None),
                                             ("rings=7", None), ("qed", None), ("logp=1.0", None), ("gap=0.25", None),
                                             ("quality", None)])
def test_only_exact_ring_classes_are_conditions(objective, label):
    """rings=k is a condition for k <= 4; five or more rings share one class, so conditioning would not aim at k."""
    _, twin = _tasks()
    task = twin(tiny=True)
    assert task.condition(task.objective(objective)) == label
    assert _tasks()[0](tiny=True).condition(task.objective("rings=3")) is None  # the molecules task has no label


def test_ring_labels_refuse_invalid_smiles():
    assert cond.ring_labels(["C1CC1", "CC"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="do not parse"):
        cond.ring_labels(["C1CC1", "C1CC"])


def test_the_twin_reads_the_molecules_folder_and_changes_only_the_sampled_network(monkeypatch, tmp_path):
    mol, twin = _tasks()
    assert task_folder(twin) == task_folder(mol) == WEIGHTS
    assert twin.objectives() == mol.objectives() and twin.metrics == mol.metrics
    assert (twin.default_steps, twin.default_n, twin.naturalness) == (mol.default_steps, mol.default_n,
                                                                      mol.naturalness)
    t = twin(tiny=True)
    assert isinstance(t.build_family().net, CondSmilesDenoiser) and t.base_net is t.build_family().net
    monkeypatch.setenv("GUIDEBENCH_MOLECULES_WEIGHTS", str(tmp_path))
    assert weights_sha256(twin()) == weights_sha256(mol()) == "missing"


def test_cfg_runs_the_condition_at_two_forwards_per_step(tmp_path):
    """D-CFG on the tiny twin: the strong branch is the label's, the weak the null label's; each step costs two
    forwards and the record says what it cost. The molecules task (no label input) refuses cfg before any work."""
    rec = execute(Cell(task="molecules_cond", method="cfg", objective="rings=3", budget="2x", n=2, steps=4,
                       tiny=True), tmp_path, show_progress=False)
    assert rec["status"] == "ok", rec["error"]
    assert rec["usage"]["nfe"] == 2 * 4 * 2 and rec["usage"]["cost_per_sample"] == 8.0
    bad = execute(Cell(task="molecules", method="cfg", objective="rings=3", budget="2x", n=2, steps=4, tiny=True),
                  tmp_path, show_progress=False)
    assert bad["status"] == "incompatible" and "null label" in bad["error"]


def test_the_fine_tune_refuses_init_weights_of_another_shape(tmp_path):
    other = SmilesDenoiser(V, LENGTH, d=32, layers=1, heads=2, ff=2)
    init = {"config": {**other.config, "d": 16, "heads": 2}, "state": other.state_dict()}
    with pytest.raises(RuntimeError, match="size mismatch"):
        cond.stage_cond(RunDirs(tmp_path), ["C", "CC"], {"train": [0], "val": [1]}, init, 0, True, "cpu")
    extra = {"config": other.config, "state": {**other.state_dict(), "bogus.weight": torch.zeros(1)}}
    with pytest.raises(ValueError, match="do not fit"):
        cond.stage_cond(RunDirs(tmp_path), ["C", "CC"], {"train": [0], "val": [1]}, extra, 0, True, "cpu")


@pytest.mark.skipif(not HAS_COND, reason="cond_denoiser.pt not committed yet")
def test_committed_conditional_denoiser_is_in_the_manifest_and_the_card():
    from tasks.molecules.models import load_cond_denoiser

    net = load_cond_denoiser(WEIGHTS)
    assert net.null_label == N_RING_LABELS and net.label.weight.abs().sum() > 0  # trained, not the zero init
    info = json.loads((WEIGHTS / "pretrain_info.json").read_text())
    assert set(info["cond_quality"]["labels"]) == {str(k) for k in range(N_RING_LABELS)}
    assert cond.CARD_BEGIN in (WEIGHTS / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_extend_adds_only_the_conditional_denoiser(tmp_path):
    """``python3 -m tasks.molecules.cond --init`` (quick): every other committed file is copied unchanged."""
    if importlib.util.find_spec("qm9pack") is None:
        pytest.skip('qm9pack: pip install -e ".[molecules]"')
    out = cond.extend(tmp_path / "run", WEIGHTS, quick=True)
    new, old = (json.loads((f / "manifest.json").read_text()) for f in (out, WEIGHTS))
    assert "cond_denoiser.pt" in new
    made = ("pretrain_info.json", "cond_denoiser.pt", cond.CURVES)  # what the extend stage writes
    assert all(new[k] == v for k, v in old.items() if k not in made)
    assert set(new) == set(old)
    assert cond.CARD_BEGIN in (out / "MODEL_CARD.md").read_text() and (out / cond.CURVES).exists()
    assert MASK_ID == V
