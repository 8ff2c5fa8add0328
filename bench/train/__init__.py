"""One training stack for every task's models, on Lightning.

``fit(name, net, loss_fn, batcher, cfg, folder)`` trains one network: AdamW with warmup + cosine LR, gradient
clipping, EMA (callback), atomic checkpoints with exact resume, a CSV log of losses and probes, a progress bar on a
terminal (log lines otherwise), CPU or CUDA (bf16 autocast). Losses: :mod:`bench.train.losses` (Gaussian ε/v/x0,
masked MDLM, supervised MSE / cross-entropy). Lightning is imported only when ``fit`` runs.
"""
from bench.train.batches import Batcher
from bench.train.config import TrainConfig, lr_multiplier
from bench.train.fit import TrainResult, fit, seeded
from bench.train.losses import flow, gaussian, masked, supervised
from bench.train.recipes import RunDirs, fit_supervised, plot_curves, summary, val_loss_probe

__all__ = ["Batcher", "RunDirs", "TrainConfig", "TrainResult", "fit", "fit_supervised", "gaussian", "lr_multiplier",
           "flow", "masked", "plot_curves", "seeded", "summary", "supervised", "val_loss_probe"]
