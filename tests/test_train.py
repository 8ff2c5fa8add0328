"""The training stack (bench/train): exact resume after a hard kill, determinism, schedule, EMA, logs."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning", reason="needs lightning (a core dependency): pip install -e .")

from bench.train import Batcher, TrainConfig, fit, lr_multiplier, seeded, supervised  # noqa: E402

STEPS, CKPT_EVERY, KILL_AT = 12, 4, 7  # killed between checkpoints: the resumed run redoes steps 5-7

SCRIPT = """
import os, signal, sys, torch
import lightning.pytorch as L
sys.path.insert(0, {root!r})
from tests.test_train import make_run
from bench.train import fit

class Kill(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == {kill}:
            os.kill(os.getpid(), signal.SIGKILL)

fit(*make_run({folder!r}), callbacks=[Kill()])
"""


def make_run(folder: str):
    """A tiny regressor with dropout (global RNG), epoch batches (batcher state) and EMA (callback state)."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(50, 6, generator=gen)  # (50, 6)
    y = x @ torch.randn(6, 1, generator=gen) + 0.1 * torch.randn(50, 1, generator=gen)  # (50, 1)
    with seeded(0):
        net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                  torch.nn.Linear(16, 1))
    cfg = TrainConfig(steps=STEPS, batch=12, lr=1e-2, warmup=3, lr_floor=0.1, clip=1.0, ema=0.9,
                      ema_warmup=True, seed=3, ckpt_every=CKPT_EVERY, log_every=2, probe_every=4)
    return "toy", net, supervised("mse"), Batcher((x, y), 12, order="epoch"), cfg, Path(folder), _probe(x, y)


def _probe(x, y):
    return lambda net, step: {"val_mse": float(torch.nn.functional.mse_loss(net(x), y))}


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_kill_and_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    """SIGKILL after step 7 (checkpoint at 4), resume: final weights and logged losses equal a straight run."""
    straight = fit(*make_run(str(tmp_path / "a")))
    root = str(Path(__file__).resolve().parents[1])
    code = textwrap.dedent(SCRIPT.format(root=root, kill=KILL_AT, folder=str(tmp_path / "b")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == -9, proc.stderr[-2000:]  # really killed, not finished
    saved = torch.load(tmp_path / "b" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == CKPT_EVERY
    resumed = fit(*make_run(str(tmp_path / "b")))
    a, b = _state(straight.net), _state(resumed.net)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = lambda r: [(h["step"], h["name"], h["value"]) for h in r.history()]  # noqa: E731
    assert rows(straight) == rows(resumed)
    # a different seed gives different weights, so equality above is not vacuous
    other = make_run(str(tmp_path / "c"))
    diff = fit(*other[:4], other[4].with_(seed=4), *other[5:])
    assert not all(torch.equal(a[k], v) for k, v in _state(diff.net).items())


def test_finished_run_is_a_noop_and_log_is_complete(tmp_path: Path) -> None:
    first = fit(*make_run(str(tmp_path)))
    again = fit(*make_run(str(tmp_path)))
    for k, v in _state(first.net).items():
        assert torch.equal(v, again.net.state_dict()[k])
    hist = first.history()
    assert [h["step"] for h in hist if h["name"] == "loss"] == list(range(2, STEPS + 1, 2))
    assert [h["step"] for h in hist if h["name"] == "val_mse"] == [4, 8, 12]
    assert first.final_loss == [h["value"] for h in hist if h["name"] == "loss"][-1]
    assert again.wall_s == first.wall_s == hist[-1]["wall_s"]  # the no-op reports the training's own time


def test_global_rng_untouched_and_ema_differs_from_raw(tmp_path: Path) -> None:
    before = torch.get_rng_state()
    name, net, loss, batcher, cfg, folder, probe = make_run(str(tmp_path / "e"))
    res = fit(name, net, loss, batcher, cfg, folder, probe)
    assert torch.equal(before, torch.get_rng_state())
    raw = net.state_dict()  # fit trains ``net`` in place; the result carries the EMA weights
    assert any(not torch.equal(raw[k], v) for k, v in res.net.state_dict().items())


def test_lr_schedule_warmup_and_cosine_floor() -> None:
    cfg = TrainConfig(steps=100, batch=1, lr=1.0, warmup=10, lr_floor=0.1)
    assert lr_multiplier(0, cfg) == pytest.approx(0.1) and lr_multiplier(9, cfg) == pytest.approx(1.0)
    assert lr_multiplier(10, cfg) == pytest.approx(1.0) and lr_multiplier(100, cfg) == pytest.approx(0.1)
    assert lr_multiplier(55, cfg) == pytest.approx(0.55)


def test_epoch_batcher_covers_every_row_once() -> None:
    b = Batcher((torch.arange(10),), 4, order="epoch")
    gen = torch.Generator().manual_seed(0)
    rows = torch.cat([b.draw(gen)[0] for _ in range(b.steps_per_epoch)])
    assert sorted(rows.tolist()) == list(range(10)) and b.steps_per_epoch == 3


def test_library_code_seeds_the_global_rng_only_inside_fork_rng() -> None:
    """Every ``torch.manual_seed(`` in bench/, tasks/, methods/ sits in a ``fork_rng`` block (at most 2 lines up)."""
    root = Path(__file__).resolve().parents[1]
    bad = []
    for path in [p for d in ("bench", "tasks", "methods") for p in (root / d).rglob("*.py")]:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "torch.manual_seed(" in line and not any("fork_rng" in x for x in lines[max(0, i - 2):i]):
                bad.append(f"{path.relative_to(root)}:{i + 1}")
    assert not bad, bad


@pytest.mark.parametrize("kind", ["masked", "gaussian", "flow"])
def test_conditional_losses_pass_labels_and_drop_them_to_the_null_label(kind: str) -> None:
    """A conditional batch (x, labels): the network gets the labels, each replaced by the null label with the
    dropout probability (a binomial count within 4 sd of its mean over 4000 labels), the same under one seed."""
    from bench.diffusion.schedules import gaussian_alphas_bar
    from bench.train.losses import flow, gaussian, masked

    seen: list[torch.Tensor] = []

    def net(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(y.clone())
        return torch.zeros(*x.shape, 4) if kind == "masked" else torch.zeros_like(x)

    make = {"masked": lambda **kw: masked(4, **kw), "flow": flow,
            "gaussian": lambda **kw: gaussian(gaussian_alphas_bar("cosine"), **kw)}[kind]
    x = torch.randint(0, 4, (4000, 8)) if kind == "masked" else torch.randn(4000, 8)
    labels = torch.randint(0, 4, (4000,))
    loss = make(label_dropout=0.25, null_label=4)
    loss(net, (x, labels), torch.Generator().manual_seed(0))
    loss(net, (x, labels), torch.Generator().manual_seed(0))
    dropped = seen[0] == 4
    assert abs(int(dropped.sum()) - 1000) < 4 * (4000 * 0.25 * 0.75) ** 0.5
    assert torch.equal(seen[0][~dropped], labels[~dropped]) and torch.equal(seen[0], seen[1])
    with pytest.raises(ValueError, match="null_label"):
        make(label_dropout=0.1)


def test_flow_loss_is_minimised_by_the_exact_velocity() -> None:
    """On gmm's mixture the analytic velocity of the linear path (tasks.gmm_flow) is the loss minimiser: a constant
    shift δ raises the per-coordinate mean square by δ² (the cross term 2δ·E[u* − target] vanishes in
    expectation; its Monte Carlo error, with common random numbers, is 2|δ|·0.008 at 40,000 coordinates of
    residual sd 1.6, so 0.07|δ| is over 4 standard errors)."""
    from bench.diffusion.training import flow_loss
    from tasks.gmm.objectives import MEANS, STD, WEIGHTS
    from tasks.gmm_flow.task import AnalyticVelocity

    gen = torch.Generator().manual_seed(0)
    comp = torch.multinomial(WEIGHTS, 20000, replacement=True, generator=gen)  # (N,)
    x1 = MEANS[comp] + STD * torch.randn(20000, 2, generator=gen)  # (N, 2) mixture draws
    exact = AnalyticVelocity()

    def loss(shift: float) -> float:
        return float(flow_loss(lambda x, t: exact(x, t) + shift, x1, torch.Generator().manual_seed(1)))
    base = loss(0.0)
    for shift in (0.1, -0.1, 0.3):
        assert abs(loss(shift) - base - shift ** 2) < 0.07 * abs(shift), shift


def test_probes_run_at_their_own_steps_even_off_the_log_grid(tmp_path: Path) -> None:
    """probe_every = 3 with log_every = 2: the probe runs at 3, 6, 9 and the last step (it once ran only where
    both grids met, so a probe_every of 250 with log_every 100 probed at 500, 1000, ...)."""
    run = make_run(str(tmp_path))
    res = fit(*run[:4], run[4].with_(probe_every=3), *run[5:])
    assert sorted({h["step"] for h in res.history() if h["name"] == "val_mse"}) == [3, 6, 9, 12]
    assert {2, 4, 6, 8, 10, 12} <= {h["step"] for h in res.history() if h["name"] == "loss"}
