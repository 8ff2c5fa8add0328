"""`bench pretrain`: new run folder by default, `--install` explicit and refused for `--quick`, committed weights
untouched, records keyed by the weights' sha256; the slow suite runs every real task's `--quick` path."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from bench import registry
from bench.cli import main
from bench.weights import write_manifest

REAL = ("molecules", "music", "images", "dna")
ROOT = Path(__file__).resolve().parents[1]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _committed() -> dict[str, dict[str, str]]:
    """Digests of every committed weight file (the package folders, whatever GUIDEBENCH_*_WEIGHTS says)."""
    return {t: _digest(ROOT / "tasks" / t / "weights") for t in REAL}


def fake_pretrain(out: Path, seed: int = 0, quick: bool = False, device: str = "cpu") -> Path:
    """Stands in for a task's recipe: one weight file and a manifest in ``out/weights``."""
    weights = out / "weights"
    weights.mkdir(parents=True)
    (weights / "denoiser.pt").write_bytes(f"seed {seed} quick {quick}".encode())
    write_manifest(weights)
    return weights


@pytest.fixture()
def fake_music(monkeypatch, tmp_path):
    cls = registry.tasks().get("music")
    monkeypatch.setattr(cls, "pretrain_entry", "tests.test_train_tasks:fake_pretrain")
    monkeypatch.chdir(tmp_path)
    return cls


def test_default_run_folder_is_new_and_committed_weights_untouched(fake_music, tmp_path, capsys) -> None:
    before = _committed()
    assert main(["pretrain", "--task", "music", "--quick"]) == 0
    runs = list((tmp_path / "runs" / "pretrain").iterdir())
    assert len(runs) == 1 and re.fullmatch(r"music-\d{8}T\d{6}Z", runs[0].name)
    assert f"weights: {Path('runs/pretrain') / runs[0].name / 'weights'}" in capsys.readouterr().out
    assert _committed() == before


def test_install_refused_for_quick(fake_music, tmp_path, capsys) -> None:
    before = _committed()
    assert main(["pretrain", "--task", "music", "--quick", "--install", "--out", str(tmp_path / "r")]) == 2
    assert "refused" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and _committed() == before


def test_install_copies_a_full_run_over_the_task_folder(fake_music, tmp_path, monkeypatch) -> None:
    dst = tmp_path / "committed"
    dst.mkdir()
    (dst / "old.pt").write_text("old")
    monkeypatch.setenv("GUIDEBENCH_MUSIC_WEIGHTS", str(dst))
    assert main(["pretrain", "--task", "music", "--install", "--seed", "3", "--out", str(tmp_path / "r")]) == 0
    assert sorted(p.name for p in dst.iterdir()) == ["denoiser.pt", "manifest.json"]
    assert (dst / "denoiser.pt").read_text() == "seed 3 quick False"


def test_resume_picks_the_newest_run(fake_music, tmp_path) -> None:
    from bench.commands import latest_pretrain_folder

    for stamp in ("20260101T000000Z", "20260301T000000Z"):
        (tmp_path / "runs" / "pretrain" / f"music-{stamp}").mkdir(parents=True)
    assert latest_pretrain_folder("music").name == "music-20260301T000000Z"
    with pytest.raises(FileNotFoundError, match="images"):
        latest_pretrain_folder("images")


def test_record_config_hash_includes_weights_sha256(tmp_path, monkeypatch) -> None:
    import bench.runner as R

    cell = R.Cell(task="gmm", method="none", n=4, steps=4)
    first = R.execute(cell, tmp_path / "a", show_progress=False)
    assert first["weights_sha256"] == ""
    monkeypatch.setattr(R, "weights_sha256", lambda task: "f" * 64)
    second = R.execute(cell, tmp_path / "b", show_progress=False)
    assert second["weights_sha256"] == "f" * 64 and second["config_hash"] != first["config_hash"]


def test_tiny_molecules_models_leave_global_rng_alone() -> None:
    from tasks.molecules.models import tiny_models

    state = torch.get_rng_state()
    a, b = tiny_models(0), tiny_models(0)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(x, y) for x, y in zip(a.denoiser.state_dict().values(), b.denoiser.state_dict().values()))
    c = tiny_models(1)
    assert not torch.equal(next(iter(a.denoiser.parameters())), next(iter(c.denoiser.parameters())))


NEEDS = {"molecules": 'qm9pack: pip install -e ".[molecules]"',
         "images": "the Fashion-MNIST idx files in tasks/images/data",
         "music": "music21 (a core dependency) or tasks/music/data/chorales_notes.npz",
         "dna": "tasks/dna/data/sequences.npz (committed)"}


def _available(task: str) -> bool:
    if task == "molecules":
        return importlib.util.find_spec("qm9pack") is not None and importlib.util.find_spec("rdkit") is not None
    if task == "images":
        from tasks.images import data
        return (data.data_dir() / "train-images-idx3-ubyte.gz").exists()
    if task == "dna":
        return (ROOT / "tasks/dna/data/sequences.npz").exists()
    return importlib.util.find_spec("music21") is not None or (ROOT / "tasks/music/data/chorales_notes.npz").exists()


EXPECTED = {"molecules": {"denoiser.pt", "cond_denoiser.pt", "gap_proxy.pt", "gap_oracle.pt", "diff_predictor.pt",
                          "train_smiles.txt.gz",
                          "test_smiles.txt.gz", "pretrain_info.json"},
            "music": {"denoiser.pt", "train_stats.json"},
            "images": {"unet.pt", "weak.pt", "flow.pt", "flow_weak.pt", "guide.pt", "oracle.pt", "ref_stats.npz",
                       "train_log.json", "quality.json", "training_curves_flow.png"},
            "dna": {"denoiser.pt", "cell_proxy.pt", "cell_oracle.pt", "mpra_proxy.pt", "pretrain_info.json"}}


def _loads(task: str, weights: Path, monkeypatch) -> None:
    """The new weights load through the task's own loader."""
    if task == "molecules":
        from tasks.molecules.models import load_cond_denoiser, load_models
        assert load_models(weights).denoiser is not None and load_cond_denoiser(weights).null_label > 0
    elif task == "dna":
        from tasks.dna.models import load_models
        assert load_models(weights).denoiser is not None
    elif task == "music":
        from tasks.music.models import load_denoiser
        assert load_denoiser(weights).cfg.dim > 0
    else:
        monkeypatch.setenv("GUIDEBENCH_IMAGES_WEIGHTS", str(weights))
        from tasks.images.task import ImagesTask
        from tasks.images_flow.task import ImagesFlowTask
        assert ImagesTask().unet is not None and ImagesFlowTask().unet.time_scale == 1000.0


@pytest.mark.slow
@pytest.mark.parametrize("task", REAL)
def test_quick_pretrain_end_to_end(task: str, tmp_path: Path, monkeypatch, capsys) -> None:
    """`bench pretrain --task T --quick --out DIR`: every model on the shared stack, a manifest, a card marked
    QUICK that describes the new weights, run logs; every committed weight file byte-identical afterwards."""
    if not _available(task):
        pytest.skip(f"data of {task} not installed ({NEEDS[task]})")
    before = _committed()
    assert main(["pretrain", "--task", task, "--quick", "--out", str(tmp_path / "run")]) == 0
    weights = tmp_path / "run" / "weights"
    manifest = json.loads((weights / "manifest.json").read_text())
    assert EXPECTED[task] <= set(manifest)
    card = (weights / "MODEL_CARD.md").read_text()
    assert "QUICK" in card and (weights / "training_curves.png").stat().st_size > 1000
    logs = sorted((tmp_path / "run" / "train").glob("*/log.csv"))
    assert logs and all((p.parent / "last.ckpt").exists() for p in logs)
    _loads(task, weights, monkeypatch)
    if task == "music":  # the card describes the new model, not the committed one
        stats = json.loads((weights / "train_stats.json").read_text())
        assert f"{stats['val_loss_ema']:.4f}" in card and stats["steps"] == 5
        first = torch.load(weights / "denoiser.pt", weights_only=True)["state"]
        assert main(["pretrain", "--task", task, "--quick", "--out", str(tmp_path / "run")]) == 0  # resumes
        again = torch.load(weights / "denoiser.pt", weights_only=True)["state"]
        assert all(torch.equal(first[k], again[k]) for k in first)
    assert _committed() == before


def _gpu_script():
    spec = importlib.util.spec_from_file_location("train_all_gpu", ROOT / "scripts" / "train_all_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_script_refuses_quick_install_and_missing_cuda(tmp_path) -> None:
    script = _gpu_script()
    assert script.main(["--quick", "--install", "--device", "cpu", "--out", str(tmp_path / "a")]) == 2
    if not torch.cuda.is_available():
        assert script.main(["--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_gpu_script_quick_on_cpu_trains_every_task(tmp_path: Path) -> None:
    """The one-call script for a GPU session, tested on CPU with --quick: every task's weights in one folder."""
    missing = [t for t in REAL if not _available(t)]
    if missing:
        pytest.skip("data not installed: " + "; ".join(f"{t} ({NEEDS[t]})" for t in missing))
    before = _committed()
    assert _gpu_script().main(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sorted(summary["tasks"]) == sorted(REAL)
    for task in REAL:
        assert EXPECTED[task] <= set(json.loads((tmp_path / task / "weights" / "manifest.json").read_text()))
    assert _committed() == before
