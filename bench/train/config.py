"""Settings of one training run (`TrainConfig`) and the warmup + cosine learning-rate multiplier."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """One optimisation run: AdamW, linear warmup then cosine decay to ``lr_floor`` x peak, optional EMA.

    ``ema`` None trains without EMA (the raw weights are the result). ``ema_warmup`` uses decay
    min(ema, (1+s)/(10+s)) at step s (early steps average fewer iterates). ``device`` "cpu" or "cuda[:k]" (bf16
    autocast on CUDA). ``ckpt_every``: steps between checkpoints (the last step always writes one).
    ``probe_every``: steps between quality probes (0: only after the last step).
    """

    steps: int
    batch: int
    lr: float
    warmup: int = 0
    lr_floor: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    clip: float | None = None
    ema: float | None = None
    ema_warmup: bool = False
    seed: int = 0
    ckpt_every: int = 500
    log_every: int = 100
    probe_every: int = 0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy (for the model card and the run log)."""
        return asdict(self)

    def with_(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed."""
        return TrainConfig(**{**asdict(self), **changes})


def lr_multiplier(step: int, cfg: TrainConfig) -> float:
    """Learning rate / peak at optimiser step ``step`` (0-based): (step+1)/warmup, then cosine to ``lr_floor``."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_floor + (1 - cfg.lr_floor) * 0.5 * (1 + math.cos(math.pi * frac))


def ema_decay(step: int, cfg: TrainConfig) -> float:
    """EMA decay applied after optimiser step ``step`` (0-based)."""
    assert cfg.ema is not None
    return min(cfg.ema, (1 + step) / (10 + step)) if cfg.ema_warmup else cfg.ema
