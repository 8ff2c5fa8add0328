"""Callbacks of the training stack: EMA of the weights, the run log (CSV, log lines, probes), atomic checkpoints."""
from __future__ import annotations

import copy
import csv
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import lightning.pytorch as L
import torch

from bench.train.config import TrainConfig, ema_decay

log = logging.getLogger("bench.train")

Probe = Callable[[torch.nn.Module, int], dict[str, float]]
CSV_FIELDS = ("step", "name", "value", "wall_s")


class EMA(L.Callback):
    """Exponential moving average of the network's state dict (float entries averaged, the rest copied)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.shadow: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.shadow is None:
            self.shadow = {k: v.detach().clone() for k, v in module.net.state_dict().items()}
        self.shadow = {k: v.to(module.device) for k, v in self.shadow.items()}

    @torch.no_grad()
    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        d = ema_decay(trainer.global_step - 1, self.cfg)
        for k, v in module.net.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].lerp_(v.detach(), 1 - d)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict[str, Any]:
        return {"shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow = state["shadow"]


def result_net(module: L.LightningModule, ema: EMA | None) -> torch.nn.Module:
    """A copy of the trained network carrying the EMA weights (or the raw ones without EMA), in eval mode."""
    net = copy.deepcopy(module.net)
    if ema is not None and ema.shadow is not None:
        net.load_state_dict(ema.shadow)
    return net.eval()


class Monitor(L.Callback):
    """Mean training loss and learning rate every ``log_every`` steps, probes every ``probe_every`` steps (and
    after the last step): rows ``step,name,value,wall_s`` in a CSV, and log lines on stderr when no progress bar
    is shown. A resumed run drops the rows written after its checkpoint, so the CSV matches an uninterrupted run."""

    def __init__(self, path: Path, cfg: TrainConfig, name: str, ema: EMA | None, probe: Probe | None,
                 lines: bool) -> None:
        self.path, self.cfg, self.name, self.ema, self.probe, self.lines = Path(path), cfg, name, ema, probe, lines
        self.wall_before, self.t0, self.loss_sum, self.count = 0.0, 0.0, 0.0, 0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.t0 = time.time()
        kept = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["step"]) <= trainer.global_step]
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, CSV_FIELDS)
            w.writeheader()
            w.writerows(kept)

    def wall(self) -> float:
        """Training seconds so far, including earlier (interrupted) runs."""
        return self.wall_before + (time.time() - self.t0 if self.t0 else 0.0)  # t0 = 0: a finished run resumed

    def _write(self, step: int, values: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            for k, v in values.items():
                w.writerow([step, k, f"{float(v):.6g}", f"{self.wall():.1f}"])

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, *args: Any) -> None:
        self.loss_sum += float(outputs["loss"].detach())
        self.count += 1
        step, last = trainer.global_step, trainer.global_step >= self.cfg.steps
        probe = self.probe is not None and (last or bool(self.cfg.probe_every and step % self.cfg.probe_every == 0))
        if step % self.cfg.log_every == 0 or last or probe:  # a probe step need not be a log step
            values = {"loss": self.loss_sum / self.count, "lr": trainer.optimizers[0].param_groups[0]["lr"]}
            self.loss_sum, self.count = 0.0, 0
            if probe:
                values.update(self.run_probe(module, step))
            self._write(step, values)
            if self.lines or last:
                shown = " ".join(f"{k} {v:.4g}" for k, v in values.items())
                log.info("%s step %d/%d %s (%.0fs)", self.name, step, self.cfg.steps, shown, self.wall())

    def run_probe(self, module: L.LightningModule, step: int) -> dict[str, float]:
        """The probe on a copy of the (EMA) network, under forked RNG and no_grad (training is not disturbed)."""
        devices = [module.device.index or 0] if module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            return self.probe(result_net(module, self.ema), step)

    def state_dict(self) -> dict[str, Any]:
        return {"wall": self.wall(), "loss_sum": self.loss_sum, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wall_before, self.loss_sum, self.count = state["wall"], state["loss_sum"], state["count"]


class LastCheckpoint(L.Callback):
    """Writes ``path`` every ``every`` steps and after the last step, atomically (a kill never leaves half a file)."""

    def __init__(self, path: Path, every: int, total: int) -> None:
        self.path, self.every, self.total = Path(path), every, total

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        step = trainer.global_step
        if step % self.every == 0 or step >= self.total:
            tmp = self.path.with_name(self.path.name + ".tmp")
            trainer.save_checkpoint(tmp)
            os.replace(tmp, self.path)


def stderr_bar() -> L.Callback:
    """Lightning's training progress bar on stderr (its default is stdout, which carries results here)."""
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

    class StderrBar(TQDMProgressBar):
        def init_train_tqdm(self) -> Tqdm:
            return Tqdm(desc=self.train_description, position=2 * self.process_position, disable=self.is_disabled,
                        leave=True, dynamic_ncols=True, file=sys.stderr, smoothing=0, bar_format=self.BAR_FORMAT)

    return StderrBar()
