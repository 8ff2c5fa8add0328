"""music task: parity of the SCG rules, decoding and OA against direct pretty_midi / music21 / scipy calls."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi  # a hard dependency (pyproject): a broken install fails loudly here
import pytest
import torch

from tasks.music import rules as R  # noqa: E402
from tasks.music.data import N_FRAMES  # noqa: E402
from tasks.music.midi import binarize, notes_to_pm, pm_to_x0, roll_to_notes  # noqa: E402

FS = 8  # frames per second of our grid (16th notes at 120 bpm)
WEIGHTS = Path(__file__).resolve().parents[2] / "tasks" / "music" / "weights"


def _pm(notes: list[tuple[int, float, float]], velocity: int = 100):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=velocity, pitch=p, start=s, end=e) for p, s, e in notes]
    pm.instruments.append(inst)
    return pm


def _cadence():
    """I - IV - V - I in C major, whole-bar chords (2 s each), with a repeated soprano note in bar 1."""
    chords = [(48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (48, 64, 67, 72)]
    notes = []
    for k, ch in enumerate(chords):
        for p in ch:
            if k == 0 and p == 72:
                notes += [(72, 0.0, 1.0), (72, 1.0, 2.0)]
            else:
                notes.append((p, 2.0 * k, 2.0 * k + 2.0))
    notes.append((74, 6.5, 7.0))  # a passing tone
    return _pm(notes)


def _scg_reference(pm) -> tuple[np.ndarray, np.ndarray]:
    """SCG's pitch histogram and note density computed literally on pretty_midi's piano roll (velocity / 127)."""
    r = pm.get_piano_roll(fs=FS)[:, :N_FRAMES] / 127.0  # (128, T)
    r = np.pad(r, ((0, 0), (0, N_FRAMES - r.shape[1])))
    h = np.array([r[[p for p in range(21, 109) if p % 12 == c]].sum() for c in range(12)])
    h = h / (h.sum() + 1e-12)
    act = r >= 0.01
    on = act & ~np.concatenate([np.zeros((128, 1), bool), act[:, :-1]], axis=1)
    vert = [act[:, w * 8:(w + 1) * 8].sum(0).mean() for w in range(8)]
    horiz = [on[:, w * 8:(w + 1) * 8].any(0).sum() / R.H_SCALE for w in range(8)]
    return h, np.array(vert + horiz)


@pytest.mark.parametrize("velocity", [100, 64])
def test_pitch_histogram_and_density_match_pretty_midi(velocity):
    pm = _cadence()
    for n in pm.instruments[0].notes:
        n.velocity = velocity
    x0 = pm_to_x0(pm)[None]  # (1, 2, 48, 64)
    h_ref, nd_ref = _scg_reference(pm)
    np.testing.assert_allclose(R.rule_values(x0, "pitch_histogram")[0], h_ref, atol=1e-12)
    np.testing.assert_allclose(R.rule_values(x0, "note_density")[0], nd_ref, atol=1e-12)


def test_decode_round_trip_keeps_repeated_notes():
    pm = _cadence()
    x0 = pm_to_x0(pm)[None]
    roll, onset = binarize(x0)
    notes = roll_to_notes(roll[0], onset[0])
    ref = sorted((n.pitch, round(n.start * FS), round(n.end * FS)) for n in pm.instruments[0].notes)
    assert sorted(map(tuple, notes.tolist())) == ref
    assert torch.equal(pm_to_x0(notes_to_pm(notes))[None], x0)


def test_write_midi_files(tmp_path):
    from tasks.music.midi import decode, write_midi
    x0 = torch.cat([pm_to_x0(_cadence())[None], -torch.ones(1, 2, 48, 64)])
    paths = write_midi(decode(x0), tmp_path)
    notes = pretty_midi.PrettyMIDI(str(paths[0])).instruments[0].notes
    assert len(paths) == 1 and len(notes) == len(_cadence().instruments[0].notes)


def test_chord_progression_of_a_cadence():
    notes = roll_to_notes(*(a[0] for a in binarize(pm_to_x0(_cadence())[None])))
    assert R.chords_from_notes(notes).tolist() == [1, 1, 4, 4, 5, 5, 1, 1]


def test_fast_chords_match_music21_pipeline():
    """numpy key finding + chord segmentation equals music21 analyze('key') + chordify + romanNumeralFromChord."""
    from tasks.music.objectives import Targets
    x = Targets().x0()[:2]
    roll, onset = binarize(x)
    rng = np.random.default_rng(0)
    noisy = roll ^ (rng.random(roll.shape) < 0.005)
    for r, o in [*zip(roll, onset), *zip(noisy[:1], onset[:1])]:
        notes = roll_to_notes(r, o)
        assert R.chords_fast(notes).tolist() == R.chords_from_notes(notes).tolist()


def test_canonical_chord_keeps_degree():
    rng = np.random.default_rng(3)
    for _ in range(12):
        ps = sorted(rng.choice(np.arange(36, 84), int(rng.integers(2, 6)), replace=False).tolist())
        pc, mode = int(rng.integers(0, 12)), ("major", "minor")[int(rng.integers(0, 2))]
        assert R._degree(tuple(ps), pc, mode) == R._degree(R.canonical_chord(ps), pc, mode)


def test_chord_tag_order():
    assert [R.chord_tag_num(f) for f in ["viio7", "VI", "iv6", "V7", "III+", "ii65", "I64", "Ger65"]] == \
        [7, 6, 4, 5, 3, 2, 1, 0]


def test_overlap_area_matches_scipy():
    from scipy.stats import gaussian_kde

    from tasks.music.metrics import overlap_area
    rng = np.random.default_rng(0)
    a, b = rng.exponential(1.0, 40), rng.exponential(2.0, 30)
    u = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 100_001)  # mgeval integrates over [min, max]
    ref = np.trapezoid(np.minimum(gaussian_kde(a)(u), gaussian_kde(b)(u)), u)
    assert abs(overlap_area(a, b) - ref) < 1e-4


def test_surrogates_close_to_exact_on_binary_rolls():
    from tasks.music.objectives import Targets
    x = Targets().x0()[:8]
    roll, _ = binarize(x)
    np.testing.assert_allclose(R.soft_pitch_histogram(x).numpy(), R.pitch_histogram(roll), atol=1e-3)
    np.testing.assert_allclose(R.soft_note_density(x).numpy(), R.note_density(roll), atol=0.05)


def test_targets_cover_enough_excerpts():
    from tasks.music.objectives import Targets
    t = Targets()
    assert t.n >= 100
    assert all(t.values[r].shape[0] == t.n for r in R.RULES)
    assert (t.x0()[:, 0] > 0).flatten(1).any(1).all()


def test_tiny_task_rewards_and_evaluate():
    from tasks.music.task import MusicTask
    task = MusicTask(tiny=True)
    fam = task.build_family()
    noise = 0.3 * torch.randn(4, 2, 48, 64, generator=torch.Generator().manual_seed(0))
    x = (task.targets.x0()[:4] + noise).clamp(-1, 1)  # real excerpts with a few flipped cells
    assert fam.denoise(x, 500).x0.shape == x.shape
    inst = torch.arange(4)
    for spec in task.objectives():
        obj = task.objective(spec)
        assert obj.proxy(x, inst).shape == (4,)
        assert torch.isfinite(obj.oracle(x, inst)).all()
        if obj.grad_proxy is not None:
            xg = x.clone().requires_grad_(True)
            obj.grad_proxy(xg, inst).sum().backward()
            assert xg.grad is not None and xg.grad.abs().sum() > 0
    empty = -torch.ones(2, 2, 48, 64)
    obj = task.objective("chord_progression")
    assert obj.proxy(empty, inst[:2]).tolist() == [obj.proxy.floor] * 2
    assert torch.isnan(obj.oracle(empty, inst[:2])).all()
    metrics, rows = task.evaluate(task.objective("note_density"), torch.cat([x, empty]), torch.arange(6))
    assert set(metrics) >= set(task.metrics) - set() and metrics["invalid_rate"] == pytest.approx(2 / 6)
    assert len(rows) == 6 and json.dumps(rows)
    assert task.decode(empty)[0] is None and task.decode(x)[0] is not None


def test_weights_manifest_and_card():
    from bench.weights import checked_path
    assert checked_path(WEIGHTS, "denoiser.pt").exists()
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    assert "parameters" in card and "OA" in card


@pytest.mark.slow
def test_real_model_loads_and_denoises():
    from tasks.music.task import MusicTask
    fam = MusicTask().build_family()
    x = torch.randn(2, 2, 48, 64)
    assert torch.isfinite(fam.denoise(x, 999).x0).all()


def test_report_shows_piano_rolls(tmp_path: Path) -> None:
    """`bench report` draws the stored samples of each method through MusicTask.sample_figure."""
    from bench.cli import main
    from bench.report import write_report

    out = tmp_path / "res"
    for method in ("none", "best-of-n"):
        assert main(["run", "--task", "music", "--tiny", "--objective", "note_density", "--method", method,
                     "--budget", "2x", "--n", "3", "--steps", "4", "--out", str(out), "--no-progress"]) == 0
    moved = tmp_path / "moved"
    out.rename(moved)  # the stored samples_path no longer exists: the gallery looks under moved/samples/
    written = write_report(moved / "records", tmp_path / "report", allow_dirty=True)
    shots = sorted(p.name for p in written if p.parent.name == "samples")
    assert shots == ["music_note_density_best-of-n_2x_s0.png", "music_note_density_none_2x_s0.png"]
    assert all((tmp_path / "report" / "figures" / "samples" / s).stat().st_size > 1000 for s in shots)
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "![none 2x](figures/samples/music_note_density_none_2x_s0.png)" in md


def test_pag_switch_makes_the_attention_branch_return_the_values_exactly():
    """Identity attention == SDPA with every off-diagonal logit at −inf; the switch is scoped to pag_layers."""
    from tasks.music.net import Block, NetConfig, RollDenoiser
    torch.manual_seed(0)
    blk = Block(32, 4)
    torch.nn.init.normal_(blk.ada.weight, std=0.1)  # non-zero gates so the attention branch matters
    h, c = torch.randn(2, 8, 32), torch.randn(2, 32)
    eye = torch.full((8, 8), float("-inf")).fill_diagonal_(0.0)  # (N, N) identity attention as a mask
    import torch.nn.functional as F
    sdpa = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = lambda q, k, v: sdpa(q, k, v, attn_mask=eye)
    try:
        ref = blk(h, c)
    finally:
        F.scaled_dot_product_attention = sdpa
    blk.perturb = True
    assert torch.allclose(blk(h, c), ref, atol=1e-6)
    net = RollDenoiser(NetConfig(dim=32, depth=3, heads=4)).eval()
    with net.attention_perturbed():
        assert [b.perturb for b in net.blocks] == [False, True, False]
    assert not any(b.perturb for b in net.blocks)


def test_quality_objective_scores_oa_and_pag_runs_on_the_tiny_task(tmp_path):
    from bench.runner import Cell, execute
    rec = execute(Cell(task="music", method="pag", objective="quality", budget="2x", n=4, steps=4, tiny=True),
                  tmp_path, show_progress=False)
    assert rec["status"] == "ok", rec["error"]
    assert rec["main_metric"] == "oa" and 0 <= rec["metrics"]["oa"] <= 1
    assert rec["usage"]["nfe"] == 4 * 8  # T + one perturbed forward per step


def test_the_validation_probe_sees_rolls_on_the_training_scale():
    """The pretraining probe's validation rolls are ±1 like the training rows (they were once rescaled twice, to
    {-3, 1}, which made the val-loss curve meaningless)."""
    from tasks.music import data as D
    from tasks.music.pretrain import validation_rolls

    if not D.NOTES_FILE.exists():
        pytest.skip("tasks/music/data/chorales_notes.npz not built")
    val = validation_rolls()
    assert set(torch.unique(val).tolist()) == {-1.0, 1.0} and val.dtype == torch.float32


def test_card_bars_and_the_quality_curve_from_a_run_log(tmp_path):
    """The card's bar verdicts follow the issue's rule (OA >= 0.60, note density <= 2x real) and its curve table
    keeps only steps with a quality probe, in step order."""
    from tasks.music.card import _bars, curve_rows

    real = {"oa": 0.9, "loss_note_density": 1.7}
    assert _bars({"oa": 0.61, "loss_note_density": 3.3}, real).count("-> met") == 2
    text = _bars({"oa": 0.59, "loss_note_density": 3.5}, real)
    assert text.count("**NOT met**") == 2 and "(3.40)" in text
    log = tmp_path / "log.csv"
    log.write_text("step,name,value,wall_s\n500,val_loss,0.3,1\n2000,loss,0.2,2\n2000,val_loss,0.25,2\n"
                   "2000,q_oa,0.3,2\n2000,q_nd_loss,9.5,2\n1000,val_loss,0.28,3\n1000,q_oa,0.2,3\n1000,q_nd_loss,12,3\n")
    assert curve_rows(log) == [{"step": 1000, "val_loss": 0.28, "q_oa": 0.2, "q_nd_loss": 12.0},
                               {"step": 2000, "val_loss": 0.25, "q_oa": 0.3, "q_nd_loss": 9.5}]
