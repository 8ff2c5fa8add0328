"""Networks of the images task: the ε-prediction UNet and the two classifiers (built differently on purpose).

* ``UNet``: small ε-prediction UNet on (B, 1, 28, 28) with resolutions 28 -> 14 -> 7, GroupNorm + SiLU
  residual blocks, a sinusoidal embedding of the float step index i in [0, 1000).
* ``GuideNet`` (proxy): compact all-convolutional net, GroupNorm + SiLU (smooth, so its gradient on x0 is
  usable), global average pooling. Trained with flips and light pixel noise.
* ``OracleNet`` (held-out): VGG-style BatchNorm + ReLU + max-pool + dropout, a 64-d penultimate layer whose
  output is the FID feature space. Trained with a different seed, crop augmentation and no noise.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.nets import SelfAttention2d, captured, perturbed


def step_embedding(i: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of float step indices i (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=i.device) / half)  # (half,)
    args = i.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([args.sin(), args.cos()], dim=1)  # (B, dim)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv residual block with an additive step embedding."""

    def __init__(self, c_in: int, c_out: int, emb: int, groups: int = 8) -> None:
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.n2, self.c2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))  # (B, c_out, H, W)
        h = h + self.emb(e)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """ε_θ(x_t, i) (or a velocity u_θ(x_τ, τ) with ``time_scale`` 1000): (B, 1, 28, 28), (B,) float time, optional
    (B,) class labels -> (B, 1, 28, 28).

    ``attn``: resolutions (of 28, 14, 7) that get a residual self-attention block after their ResBlocks on the way
    down and up (and in the middle when the lowest is listed). ``n_classes`` > 0 adds a class embedding; the label
    ``null_label`` = n_classes (or ``label=None``) is the unconditional model (trained by label dropout). PAG
    switch: ``with net.attention_perturbed(): ...`` runs the lowest-resolution attention blocks (down and middle,
    as ADM's PAG layers) with identity attention. Defaults build the original unconditional attention-free UNet
    (the same state-dict keys)."""

    def __init__(self, ch: int = 32, mult: tuple[int, ...] = (1, 2, 2), emb: int = 128, attn: tuple[int, ...] = (),
                 n_classes: int = 0, time_scale: float = 1.0) -> None:
        super().__init__()
        self.config = {"ch": ch, "mult": list(mult), "emb": emb}
        if attn or n_classes or time_scale != 1.0:
            self.config.update(attn=list(attn), n_classes=n_classes, time_scale=time_scale)
        self.emb_dim, self.time_scale = emb, float(time_scale)
        self.t_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.null_label = n_classes if n_classes else None
        self.label = nn.Embedding(n_classes + 1, emb) if n_classes else None
        chans = [ch * m for m in mult]
        res = [28 // 2**k for k in range(len(chans))]
        self.stem = nn.Conv2d(1, ch, 3, padding=1)
        self.down, self.pool = nn.ModuleList(), nn.ModuleList()
        self.attn = nn.ModuleDict()
        c = ch
        for k, co in enumerate(chans):
            self.down.append(ResBlock(c, co, emb))
            c = co
            if res[k] in attn:
                self.attn[f"down{k}"] = SelfAttention2d(c)
            if k < len(chans) - 1:
                self.pool.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = nn.ModuleList([ResBlock(c, c, emb), ResBlock(c, c, emb)])
        if res[-1] in attn:
            self.attn["mid"] = SelfAttention2d(c)
        self.up, self.unpool = nn.ModuleList(), nn.ModuleList()
        for j, (k, co) in enumerate(reversed(list(enumerate(chans)))):
            self.up.append(ResBlock(c + co, co, emb))
            c = co
            if res[k] in attn:
                self.attn[f"up{j}"] = SelfAttention2d(c)
            if k > 0:
                self.unpool.append(nn.Conv2d(c, c, 3, padding=1))
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))
        low = f"down{len(chans) - 1}"
        self.pag_layers = tuple(name for name in (low, "mid") if name in self.attn)

    @contextlib.contextmanager
    def attention_perturbed(self) -> Iterator[None]:
        """Within the block, the ``pag_layers`` attention blocks use identity attention (weights untouched)."""
        if not self.pag_layers:
            raise ValueError("this UNet has no self-attention blocks to perturb (built with attn=())")
        with perturbed([self.attn[name] for name in self.pag_layers]):
            yield

    @contextlib.contextmanager
    def attention_saliency(self) -> Iterator[Callable[[], torch.Tensor]]:
        """SAG's switch: within the block, forwards record the middle attention block's saliency; yields a reader
        of the latest map (B, 7, 7) (``bench.nets.captured``)."""
        if "mid" not in self.attn:
            raise ValueError("this UNet has no middle self-attention block (built without the lowest resolution "
                             "in attn)")
        with captured(self.attn["mid"]) as read:
            yield read

    def _attend(self, name: str, h: torch.Tensor) -> torch.Tensor:
        return self.attn[name](h) if name in self.attn else h

    def forward(self, x: torch.Tensor, i: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        e = self.t_mlp(step_embedding(i * self.time_scale, self.emb_dim))  # (B, emb)
        if self.label is not None:
            if label is None:
                label = torch.full((x.shape[0],), self.null_label, dtype=torch.long, device=x.device)
            e = e + self.label(label)  # (B, emb)
        h = self.stem(x)  # (B, ch, 28, 28)
        skips = []
        for k, block in enumerate(self.down):
            h = self._attend(f"down{k}", block(h, e))
            skips.append(h)
            if k < len(self.pool):
                h = self.pool[k](h)  # (B, c, H/2, W/2)
        for block in self.mid:
            h = block(h, e)
        h = self._attend("mid", h)
        for k, block in enumerate(self.up):
            h = self._attend(f"up{k}", block(torch.cat([h, skips.pop()], dim=1), e))
            if k < len(self.unpool):
                size = skips[-1].shape[-2:]
                h = self.unpool[k](F.interpolate(h, size=size, mode="nearest"))  # (B, c, 2H, 2W)
        return self.out(h)  # (B, 1, 28, 28)


class GuideNet(nn.Module):
    """Guidance (proxy) classifier: (B, 1, 28, 28) in [-1, 1] -> logits (B, 10); smooth activations."""

    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        self.config = {"ch": ch}

        def block(ci: int, co: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(ci, co, 3, stride=stride, padding=1), nn.GroupNorm(8, co), nn.SiLU())

        self.body = nn.Sequential(block(1, ch, 1), block(ch, 2 * ch, 2), block(2 * ch, 2 * ch, 1),
                                  block(2 * ch, 4 * ch, 2), block(4 * ch, 4 * ch, 1))
        self.head = nn.Linear(4 * ch, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).mean(dim=(2, 3))  # (B, 4ch)
        return self.head(h)  # (B, 10)


class OracleNet(nn.Module):
    """Held-out (oracle) classifier: VGG-style, BatchNorm/ReLU/max-pool/dropout, 64-d penultimate features."""

    num_features = 64

    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        self.config = {"ch": ch}

        def block(ci: int, co: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(ci, co, 3, padding=1), nn.BatchNorm2d(co), nn.ReLU(),
                                 nn.Conv2d(co, co, 3, padding=1), nn.BatchNorm2d(co), nn.ReLU(),
                                 nn.MaxPool2d(2))

        self.body = nn.Sequential(block(1, ch), block(ch, 2 * ch), nn.Flatten(), nn.Dropout(0.3),
                                  nn.Linear(2 * ch * 7 * 7, self.num_features), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(self.num_features, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, 64) of (B, 1, 28, 28) images in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, 10)


def n_params(net: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in net.parameters())
