"""`fit`: one training run on Lightning, resumed from its last checkpoint when one exists."""
from __future__ import annotations

import contextlib
import csv
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from bench.train.batches import Batcher
from bench.train.config import TrainConfig
from bench.train.losses import LossFn

log = logging.getLogger("bench.train")
CKPT, LOG = "last.ckpt", "log.csv"


@dataclass
class TrainResult:
    """The trained network (EMA weights when configured; eval mode, on CPU) and where its run log lies."""

    net: torch.nn.Module
    steps: int
    wall_s: float
    final_loss: float
    folder: Path

    def history(self) -> list[dict[str, float]]:
        """Rows of the run's CSV: step, name, value, wall_s."""
        with open(self.folder / LOG, newline="") as f:
            return [{"step": int(r["step"]), "name": r["name"], "value": float(r["value"]),
                     "wall_s": float(r["wall_s"])} for r in csv.DictReader(f)]

    def last(self, name: str) -> float:
        """The last logged value of ``name`` (NaN when never logged)."""
        vals = [r["value"] for r in self.history() if r["name"] == name]
        return vals[-1] if vals else float("nan")


def _cuda_devices(device: str) -> list[int]:
    dev = torch.device(device)
    return [dev.index or 0] if dev.type == "cuda" else []


@contextlib.contextmanager
def seeded(seed: int, device: str = "cpu") -> Iterator[None]:
    """Run the block with the global RNG seeded to ``seed`` and restore the caller's RNG state afterwards.

    For network initialisation and dropout; library code never seeds the global RNG outside this.
    """
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        torch.manual_seed(seed)
        yield


class _Steps(torch.utils.data.IterableDataset):
    """An endless stream of placeholders: the module draws its own batches (so resume needs no loader state)."""

    def __iter__(self) -> Iterator[int]:
        while True:
            yield 0


def _trainer(cfg: TrainConfig, callbacks: list, folder: Path, bar: bool):
    import lightning.pytorch as L

    cuda = torch.device(cfg.device).type == "cuda"
    return L.Trainer(accelerator="gpu" if cuda else "cpu", devices=_cuda_devices(cfg.device) if cuda else 1,
                     precision="bf16-mixed" if cuda else "32-true", max_steps=cfg.steps, max_epochs=-1,
                     logger=False, enable_checkpointing=False, enable_model_summary=False,
                     enable_progress_bar=bar, gradient_clip_val=cfg.clip, callbacks=callbacks,
                     num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=folder)


def fit(name: str, net: torch.nn.Module, loss_fn: LossFn, batcher: Batcher, cfg: TrainConfig, folder: Path,
        probe=None, callbacks: list | None = None) -> TrainResult:
    """Train ``net`` (in place) for ``cfg.steps`` optimiser steps; run files go to ``folder`` (``last.ckpt``,
    ``log.csv``). When ``folder/last.ckpt`` exists the run continues from it and ends with the same weights
    as an uninterrupted run; a finished checkpoint makes this a no-op that returns the saved result.

    ``probe(net, step) -> {name: value}`` is a periodic quality probe on a copy of the (EMA) network. A progress
    bar is shown when stderr is a terminal; otherwise log lines every ``cfg.log_every`` steps. ``callbacks``:
    extra Lightning callbacks (run after the stack's own).
    """
    from bench.train.callbacks import EMA, LastCheckpoint, Monitor, result_net, stderr_bar
    from bench.train.module import LossModule

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / CKPT
    bar = sys.stderr.isatty()
    ema = EMA(cfg) if cfg.ema is not None else None
    monitor = Monitor(folder / LOG, cfg, name, ema, probe, lines=not bar)
    own = [c for c in (ema, monitor, LastCheckpoint(ckpt, cfg.ckpt_every, cfg.steps), stderr_bar() if bar else None)
           if c is not None]
    module = LossModule(net, loss_fn, batcher, cfg)
    loader = torch.utils.data.DataLoader(_Steps(), batch_size=None, generator=torch.Generator())
    if ckpt.exists():
        log.info("%s: resuming from %s", name, ckpt)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # its start-up banners and tips
    with seeded(cfg.seed, cfg.device), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*(does not have many workers|resuming from a checkpoint that ended"
                                "|LeafSpec).*")
        _trainer(cfg, own + list(callbacks or []), folder, bar).fit(
            module, train_dataloaders=loader, ckpt_path=ckpt if ckpt.exists() else None, weights_only=False)
    out = result_net(module, ema).cpu()
    result = TrainResult(out, cfg.steps, monitor.wall(), float("nan"), folder)
    hist = result.history()
    if hist:  # the log's clock: right also when a finished run is "resumed" (no step taken, no timer started)
        result.wall_s = hist[-1]["wall_s"]
    result.final_loss = result.last("loss")
    return result
