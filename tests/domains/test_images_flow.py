"""The images flow twin (`images_flow`): the images task's data, objectives and metrics over the flow family and the
velocity UNet; its weights live in the images folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench import registry
from bench.diffusion.flow import FlowFamily
from bench.diffusion.gaussian import GaussianFamily
from bench.runner import Cell, execute
from bench.weights import task_folder, weights_sha256

WEIGHTS = Path(__file__).resolve().parents[2] / "tasks" / "images" / "weights"
CONTINUOUS = [m for m in registry.methods().names() if "continuous" in registry.methods().get(m).supports
              and not registry.methods().get(m).needs_answer]  # images has no answer key (majority votes on one)


def _tasks():
    return registry.tasks().get("images"), registry.tasks().get("images_flow")


def test_the_twin_differs_from_images_only_in_the_sampled_network():
    images, flow = _tasks()
    assert flow.objectives() == images.objectives() and flow.metrics == images.metrics
    assert (flow.default_steps, flow.default_n, flow.naturalness) == (images.default_steps, images.default_n,
                                                                       images.naturalness)
    fam, ddpm = flow(tiny=True).build_family(), images(tiny=True).build_family()
    assert type(fam) is FlowFamily and fam.eta == 1.0 and fam.clip == 1.0
    assert type(ddpm) is GaussianFamily
    assert flow(tiny=True).unet.time_scale == 1000.0 and images(tiny=True).unet.time_scale == 1.0


def test_the_twin_reads_the_images_weights_folder(monkeypatch, tmp_path):
    images, flow = _tasks()
    assert task_folder(flow) == task_folder(images) == WEIGHTS
    monkeypatch.setenv("GUIDEBENCH_IMAGES_WEIGHTS", str(tmp_path))
    assert task_folder(flow) == tmp_path
    assert weights_sha256(flow()) == weights_sha256(images()) == "missing"  # no manifest in tmp_path
    assert weights_sha256(flow(tiny=True)) == ""


@pytest.mark.parametrize("method", CONTINUOUS)
def test_every_continuous_method_completes_on_the_tiny_flow_twin_at_4x(method, tmp_path):
    """The method catalogue runs unchanged on the flow family over a UNet (attention and class input included, so
    CFG, PAG, SAG and autoguidance run too); a method that cannot afford 4x says so in its record."""
    rec = execute(Cell(task="images_flow", method=method, objective="label=3", budget="4x", n=2, steps=4,
                       tiny=True), tmp_path, show_progress=False)
    assert rec["status"] in ("ok", "over_budget_min"), rec["error"]
    if rec["status"] == "ok":
        assert 0.0 <= rec["metrics"]["oracle_acc"] <= 1.0


def test_committed_flow_twin_and_its_weak_snapshot_are_the_recipe():
    """``flow.pt`` and ``flow_weak.pt`` ship in the images manifest with the UNet recipe and the velocity time
    scale; the card reports the flow model's FID beside the DDPM's."""
    from tasks.images.models import FLOW_TIME_SCALE, load_net
    from tasks.images.pretrain import UNET
    man = json.loads((WEIGHTS / "manifest.json").read_text())
    assert {"flow.pt", "flow_weak.pt", "training_curves_flow.png"} <= set(man)
    for name in ("flow", "flow_weak"):
        net = load_net(WEIGHTS, name)
        assert net.time_scale == FLOW_TIME_SCALE and net.config["attn"] == list(UNET["attn"])
        assert net.null_label == 10
    flow, unet = (load_net(WEIGHTS, k) for k in ("flow", "unet"))
    assert not torch.equal(next(iter(flow.parameters())), next(iter(unet.parameters())))
    quality = json.loads((WEIGHTS / "quality.json").read_text())
    assert quality["flow"]["n_samples"] >= 1000 and quality["flow"]["fid_all"] > 0
    assert "flow_weak.pt" in (WEIGHTS / "MODEL_CARD.md").read_text()


def test_eta_selects_the_ode_and_is_recorded_and_hashed(tmp_path):
    """``--eta 0`` samples the flow twin with the deterministic Euler ODE: the record carries it and its config
    hash differs from the default SDE cell's; the family copy shares the network (the ODE's and SDE's marginals are
    tested on the analytic twin in tests/test_flow.py)."""
    from bench.runner import header
    sde = header(Cell(task="images_flow", method="none", n=2, steps=4, tiny=True))
    ode = header(Cell(task="images_flow", method="none", n=2, steps=4, tiny=True, eta=0.0))
    same = header(Cell(task="images_flow", method="none", n=2, steps=4, tiny=True, eta=1.0))  # the task's own η
    assert "eta" not in sde and ode["eta"] == 0.0 and ode["config_hash"] != sde["config_hash"]
    assert "eta" not in same and same["config_hash"] == sde["config_hash"]
    runs = [execute(Cell(task="images_flow", method="none", n=2, steps=4, tiny=True, eta=eta), tmp_path / str(eta),
                    show_progress=False) for eta in (0.0, 1.0)]
    assert runs[0]["eta"] == 0.0 and "eta" not in runs[1] and runs[0]["metrics"]["proxy"] != runs[1]["metrics"]["proxy"]
    fam = registry.tasks().get("images_flow")(tiny=True).build_family()
    assert fam.with_eta(0.0).eta == 0.0 and fam.eta == 1.0 and fam.with_eta(0.0).net is fam.net


@pytest.mark.parametrize("task,eta,match", [("molecules", 0.0, "continuous"), ("images_flow", 1.5, r"\[0, 1\]")])
def test_eta_is_refused_before_any_work(task, eta, match, tmp_path):
    from bench.validate import InputError
    with pytest.raises(InputError, match=match):
        execute(Cell(task=task, method="none", n=2, steps=4, tiny=True, eta=eta), tmp_path, show_progress=False)
    assert not (tmp_path / "records").exists()
