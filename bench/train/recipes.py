"""Pieces every task's pretraining shares: the run folder layout, a validation-loss probe, supervised runs on
in-memory tensors, the summary a model card prints, and the training-curve figure."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from bench.train.batches import Batcher, Transform
from bench.train.config import TrainConfig
from bench.train.fit import TrainResult, fit
from bench.train.losses import LossFn, supervised


@dataclass(frozen=True)
class RunDirs:
    """A pretraining run folder: ``weights/`` (what ``--install`` copies) and ``train/<model>/`` (checkpoint, log)."""

    root: Path

    @property
    def weights(self) -> Path:
        path = self.root / "weights"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def train(self, model: str) -> Path:
        """Checkpoint and CSV folder of one model."""
        return self.root / "train" / model


def val_loss_probe(loss_fn: LossFn, tensors: Sequence[torch.Tensor], seed: int = 1234, batch: int = 512,
                   extra: Callable[[torch.nn.Module, int], dict[str, float]] | None = None):
    """A probe returning ``val_loss``: the mean of ``loss_fn`` over fixed held-out rows with a fixed generator
    (the same noise at every probe, so the curve is smooth), plus ``extra(net, step)``'s values."""
    def probe(net: torch.nn.Module, step: int) -> dict[str, float]:
        dev = next(net.parameters()).device
        gen = torch.Generator(device=dev).manual_seed(seed)
        n = len(tensors[0])
        losses = [float(loss_fn(net, tuple(t[i:i + batch].to(dev) for t in tensors), gen)) * min(batch, n - i)
                  for i in range(0, n, batch)]
        out = {"val_loss": sum(losses) / n}
        if extra is not None:
            out.update(extra(net, step))
        return out
    return probe


def fit_supervised(name: str, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str, cfg: TrainConfig,
                   folder: Path, epochs: int | None = None, transform: Transform | None = None,
                   val: tuple[torch.Tensor, torch.Tensor] | None = None) -> TrainResult:
    """Train a regressor (``kind="mse"``) or classifier (``"ce"``) on (x, y); ``epochs`` sets ``cfg.steps`` to whole
    passes over shuffled rows (otherwise batches are drawn with replacement); ``val`` adds a val_loss probe."""
    order = "random" if epochs is None else "epoch"
    batcher = Batcher((x, y), cfg.batch, order, transform)
    if epochs is not None:
        cfg = cfg.with_(steps=epochs * batcher.steps_per_epoch)
    loss = supervised(kind)
    probe = val_loss_probe(loss, val) if val is not None else None
    return fit(name, net, loss, batcher, cfg, folder, probe)


def summary(result: TrainResult, cfg: TrainConfig) -> dict[str, Any]:
    """What a model card prints of one training run."""
    return {"params": sum(p.numel() for p in result.net.parameters()), "steps": result.steps,
            "wall_s": round(result.wall_s, 1), "final_loss": result.final_loss,
            "val_loss": result.last("val_loss"), "recipe": cfg.to_dict()}


def plot_curves(results: dict[str, TrainResult], path: Path, names: Sequence[str] = ("loss", "val_loss")) -> Path:
    """Training curves (each logged name against step, one panel per model) -> ``path`` (PNG)."""
    from bench import plots

    plt = plots.pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 2.8), squeeze=False)
    for ax, (model, res) in zip(axes[0], results.items()):
        hist = res.history()
        logged = {r["name"] for r in hist}
        quality = sorted(n for n in logged if n.startswith("q_"))
        qax = ax.twinx() if quality else None  # quality metrics have their own scale (right axis, dashed)
        for name in sorted(logged & set(names)) + quality:
            rows = [r for r in hist if r["name"] == name]
            on = qax if name.startswith("q_") else ax
            colour = f"C{len(ax.lines) + (len(qax.lines) if qax else 0)}"
            on.plot([r["step"] for r in rows], [r["value"] for r in rows], "--" if on is qax else "-", label=name,
                    marker="o" if on is qax else None, markersize=3, color=colour)
        ax.set_title(model, fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        handles = ax.get_lines() + (qax.get_lines() if qax else [])
        ax.legend(handles, [h.get_label() for h in handles], fontsize=7)
    return plots.save(fig, path)
