"""The LightningModule around one training loss: batches and noise from seeded generators, AdamW with the
warmup + cosine multiplier, and a checkpoint that carries every random state (exact resume)."""
from __future__ import annotations

from typing import Any

import lightning.pytorch as L
import torch

from bench.train.batches import Batcher
from bench.train.config import TrainConfig, lr_multiplier
from bench.train.losses import LossFn

STATE_KEY = "bench_train"


def _global_rng() -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_global_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class LossModule(L.LightningModule):
    """Trains ``net`` on ``loss_fn(net, batch, gen)`` with batches drawn by ``batcher``.

    Two generators, both seeded from ``cfg.seed``: one (CPU) draws and augments batches, one (on the training
    device) draws the loss's noise and times. The global RNG (dropout) is seeded by :func:`bench.train.fit` inside
    ``fork_rng``. A checkpoint stores the generators, the batcher position and the global RNG state; a resumed
    run restores them before its first step, so it continues exactly where the saved run was.
    """

    def __init__(self, net: torch.nn.Module, loss_fn: LossFn, batcher: Batcher, cfg: TrainConfig) -> None:
        super().__init__()
        self.net, self.loss_fn, self.batcher, self.cfg = net, loss_fn, batcher, cfg
        self.data_gen = torch.Generator().manual_seed(cfg.seed)
        self.noise_gen: torch.Generator | None = None
        self._restored: dict[str, Any] | None = None

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.cfg
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_multiplier(s, cfg))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_fit_start(self) -> None:
        self.noise_gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        if self._restored is not None:
            self.data_gen.set_state(self._restored["data_gen"])
            self.noise_gen.set_state(self._restored["noise_gen"])
            self.batcher.load_state_dict(self._restored["batcher"])

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._restored is not None:  # after Lightning's own start-up, which may draw from the global RNG
            _set_global_rng(self._restored["rng"])
            self._restored = None

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        rows = tuple(r.to(self.device, non_blocking=True) for r in self.batcher.draw(self.data_gen))
        loss = self.loss_fn(self.net, rows, self.noise_gen)
        self.log("loss", loss, prog_bar=True, on_step=True, logger=False)
        return loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[STATE_KEY] = {"data_gen": self.data_gen.get_state(), "noise_gen": self.noise_gen.get_state(),
                                 "batcher": self.batcher.state_dict(), "rng": _global_rng()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._restored = checkpoint[STATE_KEY]
