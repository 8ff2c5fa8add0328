"""Tests of the images task: rewards and metrics against direct library calls, tiny smoke test, weights."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.train import seeded
from tasks.images import data
from tasks.images.metrics import OracleFeatures, diversity, feature_stats, fid, fid_mean_term, fid_of_features
from tasks.images.objectives import png_bytes, worst_png_bytes

WEIGHTS = Path(__file__).resolve().parents[2] / "tasks" / "images" / "weights"


@pytest.fixture(scope="module")
def tiny():
    from tasks.images.task import ImagesTask

    torch.set_num_threads(1)
    return ImagesTask(tiny=True)


class TwoPixels(torch.nn.Module):
    """Stub oracle whose 'features' are the first two pixels (for hand-computed FID cases)."""

    num_features = 2

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :2]


def _images(points: list[tuple[float, float]]) -> torch.Tensor:
    x = torch.zeros(len(points), 1, 28, 28)
    x.view(len(points), -1)[:, :2] = torch.tensor(points)
    return x


def test_fid_hand_computed():
    """Real: (±1,0),(0,±1) -> mean 0, cov diag(2/3, 2/3); fake: (3±1, 0),(3, ±2) -> mean (3,0), cov diag(2/3, 8/3).
    FID = |Δμ|² + Σ_d (√σ1_d − √σ2_d)² = 9 + (√(8/3) − √(2/3))² = 9 + 2/3."""
    feat = OracleFeatures(TwoPixels())
    real = feature_stats(feat(_images([(1, 0), (-1, 0), (0, 1), (0, -1)])))
    fake = _images([(4, 0), (2, 0), (3, 2), (3, -2)])
    assert fid(feat, real, fake) == pytest.approx(9 + 2 / 3, abs=1e-4)


class RandomProjection(torch.nn.Module):
    """Stub oracle with 8 random linear features (full-rank covariances for the scipy parity case)."""

    num_features = 8

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.randn(784, 8, generator=torch.Generator().manual_seed(3))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w


def test_fid_matches_scipy():
    """FID through torchmetrics with a custom feature module equals the scipy Fréchet distance."""
    linalg = pytest.importorskip("scipy.linalg", reason="scipy comes with the dev extra: pip install -e '.[dev]'")
    g = torch.Generator().manual_seed(0)
    feat = OracleFeatures(RandomProjection())
    real_x = torch.rand(80, 1, 28, 28, generator=g) * 2 - 1
    fake_x = (torch.rand(70, 1, 28, 28, generator=g) * 2 - 1) * 0.5
    fr, ff = feat(real_x).double().numpy(), feat(fake_x).double().numpy()
    mu1, mu2 = ff.mean(0), fr.mean(0)
    s1, s2 = np.cov(ff, rowvar=False), np.cov(fr, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    got = fid(feat, feature_stats(feat(real_x)), fake_x)
    assert got == pytest.approx(expected, rel=1e-3, abs=1e-6)


def test_fid_of_features_and_its_mean_term():
    """fid_of_features on the features gives fid's number on the images, and fid_mean_term the mean term alone:
    the hand case's |Δμ|² = 9 of 9 + 2/3, and the torchmetrics value on random full-rank features."""
    feat = OracleFeatures(TwoPixels())
    real = feature_stats(feat(_images([(1, 0), (-1, 0), (0, 1), (0, -1)])))
    fake = feat(_images([(4, 0), (2, 0), (3, 2), (3, -2)]))
    total, mean_term = fid_of_features(fake, real), fid_mean_term(fake, real)
    assert (total, mean_term) == (pytest.approx(9 + 2 / 3, abs=1e-4), pytest.approx(9.0, abs=1e-9))
    g = torch.Generator().manual_seed(0)
    feat = OracleFeatures(RandomProjection())
    real_x, fake_x = (torch.rand(m, 1, 28, 28, generator=g) * 2 - 1 for m in (80, 70))
    ref = feature_stats(feat(real_x))
    assert fid_of_features(feat(fake_x * 0.5), ref) == fid(feat, ref, fake_x * 0.5)


def test_diversity_hand_computed():
    feats = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])  # pairwise distances 5, 4, 3
    assert diversity(feats) == pytest.approx(4.0)
    assert math.isnan(diversity(feats[:1]))


def test_png_bytes_matches_pil():
    from PIL import Image  # pillow: a hard dependency
    img = (np.arange(784, dtype=np.int64).reshape(28, 28) * 7 % 256).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG", compress_level=9)
    blank = np.zeros((28, 28), np.uint8)
    sizes = png_bytes(np.stack([img, blank]))
    assert sizes[0] == len(buf.getvalue())
    assert sizes[1] < sizes[0]


def test_label_rewards_metadata_and_parity(tiny):
    ob = tiny.objective("label=4")
    assert (ob.proxy.role, ob.proxy.on, ob.proxy.differentiable) == ("proxy", "x0", True)
    assert ob.oracle.role == "oracle" and not ob.oracle.differentiable and ob.main_metric == "oracle_acc"
    assert ob.grad_proxy is ob.proxy and not ob.exact_proxy
    x = torch.randn(5, 1, 28, 28).clamp(-1, 1)
    inst = torch.zeros(5, dtype=torch.long)
    direct = torch.log_softmax(tiny.guide(x), 1)[:, 4]
    assert torch.allclose(ob.proxy(x, inst), direct, atol=1e-6)
    xg = x.clone().requires_grad_(True)
    ob.proxy(xg, inst).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    hits = (tiny.oracle(x).argmax(1) == 4).float()
    assert torch.equal(ob.oracle(x, inst), hits)
    x[2] = float("nan")
    assert ob.proxy(x, inst)[2] == ob.proxy.floor and torch.isnan(ob.oracle(x, inst)[2])


def test_label_all_ties_targets_to_instances(tiny):
    ob = tiny.objective("label=all")
    assert ob.n_instances == 10
    x = torch.zeros(3, 1, 28, 28)
    logp = torch.log_softmax(tiny.guide(x), 1)
    got = ob.proxy(x, torch.tensor([0, 7, 13]))
    assert torch.allclose(got, logp[[0, 1, 2], [0, 7, 3]], atol=1e-6)


def test_compress_reward(tiny):
    ob = tiny.objective("compress")
    assert not ob.proxy.differentiable and ob.main_metric == "png_bytes" and ob.grad_proxy is None and ob.exact_proxy
    x = torch.stack([torch.full((1, 28, 28), -1.0), torch.rand(1, 28, 28) * 2 - 1])
    r = ob.proxy(x, torch.zeros(2, dtype=torch.long))
    assert torch.equal(r, -torch.from_numpy(png_bytes(data.to_uint8(x))).float())
    assert r[0] > r[1]


def test_unknown_objective(tiny):
    for bad in ("label=10", "label=x", "aesthetic"):
        with pytest.raises(ValueError):
            tiny.objective(bad)


def test_tiny_smoke(tiny):
    fam = tiny.build_family()
    x_t = torch.randn(4, *data.SHAPE)
    pred = fam.denoise(x_t, 500)
    assert pred.x0.shape == x_t.shape and pred.x0.abs().max() <= 1.0
    x0 = torch.randn(6, *data.SHAPE)
    x0[1] = float("nan")
    inst = torch.arange(6)
    for spec in ("label=3", "label=all", "compress", "quality"):
        metrics, rows = tiny.evaluate(tiny.objective(spec), x0, inst)
        assert set(metrics) <= set(tiny.metrics) and len(rows) == 6
        assert all(k in metrics for k in ("precision", "recall", "density", "coverage")), spec
        assert metrics["invalid_frac"] == pytest.approx(1 / 6)
        assert rows[1]["png_b64"] is None and rows[0]["png_b64"]
        assert rows[1]["png_bytes"] == worst_png_bytes()  # an invalid sample counts as incompressible
        assert metrics["png_bytes"] == pytest.approx(np.mean([r["png_bytes"] for r in rows]))
        if spec not in ("compress", "quality"):  # an invalid sample is a miss; accuracy is the mean over all rows
            assert rows[1]["oracle_acc"] == 0.0
            assert metrics["oracle_acc"] == pytest.approx(np.mean([r["oracle_acc"] for r in rows]))
        json.dumps(rows)
    objs = tiny.decode(x0)
    assert objs[1] is None and objs[0].shape == (28, 28) and objs[0].dtype == np.uint8


def test_sample_figure_skips_invalid_rows(tiny, tmp_path):
    x0 = torch.randn(5, *data.SHAPE)
    x0[2] = float("nan")
    _, rows = tiny.evaluate(tiny.objective("label=3"), x0, torch.arange(5))
    path = type(tiny).sample_figure(rows, tmp_path / "grid.png", "t")
    assert path.stat().st_size > 1000
    assert type(tiny).sample_figure([], tmp_path / "none.png", "t") is None


def test_weights_manifest_and_card():
    from bench.weights import checked_path

    man = json.loads((WEIGHTS / "manifest.json").read_text())
    for name in ("unet.pt", "guide.pt", "oracle.pt", "ref_stats.npz"):
        assert name in man
        checked_path(WEIGHTS, name)
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    assert "oracle" in card and "seed" in card


def test_classifier_declared_metadata():
    """Declared accuracies in the training log; the oracle reaches >= 90% test accuracy (issue requirement)."""
    logs = json.loads((WEIGHTS / "train_log.json").read_text())
    assert logs["oracle"]["test_acc"] >= 0.90
    assert logs["guide"]["params"] != logs["oracle"]["params"]  # differently built
    for k in ("unet", "guide", "oracle"):
        assert 1e5 < logs[k]["params"] < 3e6


def test_real_oracle_accuracy_on_test_subset():
    """Load the committed oracle through the task and check its accuracy on 1,000 test images."""
    try:
        xte, yte = data.load_split("test")
    except FileNotFoundError:
        pytest.skip("dataset-fashion-mnist not installed")
    from tasks.images.task import ImagesTask

    task = ImagesTask()
    x, y = data.to_model(xte[:1000]), torch.from_numpy(yte[:1000])
    with torch.no_grad():
        acc = (task.oracle(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.88


def test_committed_unet_is_the_recipe_with_attention_labels_and_a_weak_snapshot():
    """The committed UNet and its autoguidance snapshot have the recipe's architecture (attention at 14x14 and 7x7,
    10 classes + the null label), so every quality-guidance method runs on the real task."""
    from tasks.images.models import load_net
    from tasks.images.pretrain import UNET
    assert "weak.pt" in json.loads((WEIGHTS / "manifest.json").read_text())
    for name in ("unet", "weak"):
        net = load_net(WEIGHTS, name)
        assert net.config["attn"] == list(UNET["attn"]) and net.config["n_classes"] == UNET["n_classes"]
        assert net.pag_layers == ("down2", "mid") and net.null_label == 10 and "mid" in net.attn


def test_unet_defaults_are_the_attention_free_unconditional_network():
    """UNet() without options keeps the v1 architecture's config and state-dict keys (old weights still load)."""
    from tasks.images.net import UNet
    net = UNet(32, (1, 2, 2), 128)
    assert net.config == {"ch": 32, "mult": [1, 2, 2], "emb": 128} and not net.attn and net.label is None
    assert not any(k.startswith(("attn.", "label.")) for k in net.state_dict())


def test_unet_attention_labels_and_pag_switch():
    """attn=(14, 7): attention blocks at 14x14 and 7x7 on the way down and up and in the middle; PAG perturbs the
    lowest-resolution ones (down and middle). A perturbed block adds out_proj(V(norm x)) exactly; the null label
    is the label-free call; every switch restores the network."""
    from bench.nets import SelfAttention2d
    from tasks.images.net import UNet
    with seeded(0):
        net = UNet(8, (1, 2, 2), 32, attn=(14, 7), n_classes=10).eval()
    assert set(net.attn) == {"down1", "down2", "mid", "up0", "up1"} and net.pag_layers == ("down2", "mid")
    x, i = torch.randn(3, 1, 28, 28), torch.tensor([10.0, 500.0, 990.0])
    base = net(x, i)
    assert torch.equal(base, net(x, i, torch.full((3,), net.null_label)))
    assert not torch.allclose(base, net(x, i, torch.tensor([0, 1, 2])))
    with net.attention_perturbed():
        pert = net(x, i)
    assert not torch.allclose(base, pert) and torch.equal(base, net(x, i))
    block = SelfAttention2d(16).eval()
    h = torch.randn(2, 16, 7, 7)
    block.perturb = True
    flat = block.norm(h).flatten(2).transpose(1, 2)  # (2, 49, 16)
    d = block.attn.embed_dim
    v = flat @ block.attn.in_proj_weight[2 * d:].T + block.attn.in_proj_bias[2 * d:]
    want = h + block.attn.out_proj(v).transpose(1, 2).reshape(2, 16, 7, 7)
    assert torch.allclose(block(h), want, atol=1e-6)
    with pytest.raises(ValueError, match="no self-attention"):
        with UNet(8, (1, 2), 32).attention_perturbed():
            pass


def test_quality_objective_condition_and_weak_model(tiny):
    """quality: proxy = log max_y p_guide(y | x0) (floor when invalid), main metric FID, a quality objective;
    label=k conditions a class-conditional UNet on k; the tiny variant ships a weak model for autoguidance."""
    from tasks.images.objectives import FLOOR
    obj = tiny.objective("quality")
    assert obj.main_metric == "fid" and obj.quality and obj.grad_proxy is obj.proxy
    x0 = torch.randn(3, *data.SHAPE)
    x0[2] = float("nan")
    got = obj.proxy(x0, torch.zeros(3, dtype=torch.long))
    want = torch.log_softmax(tiny.guide(x0[:2]), 1).max(1).values
    assert torch.allclose(got[:2], want) and got[2] == FLOOR
    assert tiny.condition(tiny.objective("label=3")) == 3 and tiny.condition(obj) is None
    assert tiny.condition(tiny.objective("label=all")) is None  # one label per run only
    weak, cost = tiny.autoguide()
    assert cost == 1.0 and weak(x0[:2], torch.tensor([5.0, 5.0])).shape == (2, *data.SHAPE)


def test_quality_methods_are_incompatible_with_an_unconditional_attention_free_unet(tmp_path):
    """The committed v2-era check: on a UNet without attention, labels or a weak model, pag / cfg / autoguidance
    cells are recorded incompatible, never errors."""
    from bench.runner import Cell, execute
    from tasks.images.net import UNet
    from tasks.images.task import ImagesTask
    task = ImagesTask(tiny=True)
    task.__dict__["nets"] = (UNet(8, (1, 2), 32).eval(), *task.nets[1:])  # an old-style network
    task.autoguide = lambda: None
    cache = {("images", True, "cpu"): task}
    for method in ("pag", "cfg", "autoguidance"):
        rec = execute(Cell(task="images", method=method, objective="label=3", tiny=True, n=2, steps=2), tmp_path,
                      show_progress=False, cache=cache)
        assert rec["status"] == "incompatible", (method, rec["error"])


@pytest.mark.slow
def test_init_continues_the_unet_and_keeps_every_other_file(tmp_path):
    """``python -m tasks.images.pretrain --part unet,card --init WEIGHTS`` (quick): the unet starts from the
    committed one (provenance in train_log), every other committed file is copied unchanged (the weak model
    too: it stays the first run's), the committed folder is not touched, and the card says the unet continued."""
    from bench.weights import sha256
    from tasks.images import pretrain

    before = json.loads((WEIGHTS / "manifest.json").read_text())
    out = pretrain.pretrain(tmp_path / "run", quick=True, parts=("unet", "card"), init=WEIGHTS)
    new = json.loads((out / "manifest.json").read_text())
    made = {"unet.pt", "train_log.json", "quality.json", "training_curves_finetune.png"}  # what the run writes
    assert set(new) == set(before) | {"training_curves_finetune.png"}
    assert all(new[k] == v for k, v in before.items() if k not in made)
    assert new["unet.pt"] != before["unet.pt"]
    u = json.loads((out / "train_log.json").read_text())["unet"]
    assert u["init_sha256"] == sha256(WEIGHTS / "unet.pt") and u["weak_step"] == pretrain.WEAK_STEP
    start = json.loads((WEIGHTS / "train_log.json").read_text())["unet"]
    assert u["init_steps"] == start.get("init_steps", 0) + start["steps"]  # a continued model's total
    assert u["recipe"]["lr"] == pretrain.FINETUNE.lr
    assert f"{u['init_steps']}+{u['steps']}" in (out / "MODEL_CARD.md").read_text()
    assert json.loads((WEIGHTS / "manifest.json").read_text()) == before
    _check_pick(tmp_path / "run")


def _check_pick(run):
    """``pick`` on a quick run with a second snapshot (the committed unet as step 0): every snapshot is scored once
    (a second pick reuses the scores), the lowest is installed byte for byte, the choice is in train_log and the
    card, and the manifest matches the folder again."""
    import torch

    from bench.train.recipes import RunDirs
    from bench.weights import checked_path, sha256
    from tasks.images import pick

    runs = RunDirs(run)
    torch.save(torch.load(WEIGHTS / "unet.pt", weights_only=True), runs.train("unet") / "snapshots" / "step0.pt")
    snaps = pick.snapshots(runs)
    assert len(snaps) >= 2 and list(snaps) == sorted(snaps)
    best = pick.pick(run, n=16, steps=5, quick=True)
    rows = [json.loads(r) for r in (runs.train("unet") / "pick_scores.jsonl").read_text().splitlines()]
    assert sorted(r["step"] for r in rows) == list(snaps)
    assert best == min(rows, key=lambda r: (r["fid_train"], r["step"]))["step"]
    shipped, chosen = (torch.load(p, weights_only=True)["state"] for p in (runs.weights / "unet.pt", snaps[best]))
    assert shipped.keys() == chosen.keys() and all(torch.equal(shipped[k], chosen[k]) for k in shipped)
    u = json.loads((runs.weights / "train_log.json").read_text())["unet"]
    assert u["picked"]["step"] == best and u["picked"]["seed"] == pick.PICK_SEED
    card = (runs.weights / "MODEL_CARD.md").read_text()
    assert f"EMA snapshot at step {best} of the run" in card and "QUICK SMOKE RUN" in card
    for name in json.loads((runs.weights / "manifest.json").read_text()):
        checked_path(runs.weights, name)
    quality = (runs.weights / "quality.json").read_bytes()
    assert json.loads(quality)["unet"]["weights_sha256"] == sha256(runs.weights / "unet.pt")
    assert pick.pick(run, n=16, steps=5, quick=True) == best  # resumed: nothing rescored or re-measured
    assert (runs.weights / "quality.json").read_bytes() == quality
    assert u["picked"]["val_loss"] is None or u["picked"]["val_loss"] > 0
    assert len((runs.train("unet") / "pick_scores.jsonl").read_text().splitlines()) == len(rows)


def test_pick_refuses_a_run_without_snapshots_or_without_a_card(tmp_path):
    """``pick`` names what is missing before any sampling: the snapshots folder, then the card's files; and cached
    scores of other settings (n, steps) are not reused."""
    from bench.train.recipes import RunDirs
    from tasks.images import pick

    with pytest.raises(FileNotFoundError, match="no step<k>.pt snapshots"):
        pick.pick(tmp_path)
    snaps = RunDirs(tmp_path).train("unet") / "snapshots"
    snaps.mkdir(parents=True)
    (snaps / "step5.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="quality.json, train_log.json; pick follows the card"):
        pick.pick(tmp_path)
    cache = tmp_path / "scores.jsonl"
    row = {"step": 5, "seed": pick.PICK_SEED, "n": 16, "steps": 5, "fid_train": 1.0, "fid_test": 3.0}
    cache.write_text(json.dumps(row) + "\n" + json.dumps({**row, "seed": 0, "n": 1000, "steps": 50}) + "\n")
    assert pick._scores(cache, 16, 5) == {5: {"fid_train": 1.0, "fid_test": 3.0}}
    assert pick._scores(cache, 1000, 50) == {}


def test_init_is_refused_for_other_parts_and_for_a_folder_without_a_manifest(tmp_path, capsys):
    from tasks.images import pretrain

    for argv, msg in ((["--part", "guide,unet"], "--init continues the unet only"), ([], "continues the unet only"),
                      (["--part", "unet"], None)):
        init = WEIGHTS if msg else tmp_path  # the last: an empty folder
        with pytest.raises(SystemExit):
            pretrain.main(["--out", str(tmp_path / "run"), "--init", str(init), *argv])
        assert (msg or "is not a weights folder") in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
