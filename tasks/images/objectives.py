"""Rewards of the images task.

* ``label=k``: proxy = log p_guide(y = target | x̂0), differentiable on x0 (no clipping inside, so gradients
  flow everywhere); oracle = 1[argmax p_oracle(x) = target] on the decoded uint8 image (accuracy).
* ``compress``: proxy = oracle = −(PNG byte size) of the decoded uint8 image (non-differentiable, exact objective;
  SVDD's compressibility reward with PNG instead of JPEG). Naturalness is checked by FID, not by the reward.
Targets are tied to particles through ``instance``: target = targets[instance % len(targets)].
Non-finite samples are invalid: the proxy gives ``floor``, the oracle NaN.
"""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import torch

from bench.reward import Reward
from tasks.images.data import to_uint8

FLOOR = -1e3


def label_targets(spec: str) -> list[int] | None:
    """Target labels of an objective: ``label=<k>`` -> [k], ``label=all`` -> 0..9, ``compress`` and ``quality``
    -> None."""
    if spec in ("compress", "quality"):
        return None
    key, _, val = spec.partition("=")
    if key != "label" or not (val == "all" or (val.isdigit() and 0 <= int(val) <= 9)):
        raise ValueError(f"unknown images objective {spec!r}; use label=<0..9>, label=all, compress or quality")
    return list(range(10)) if val == "all" else [int(val)]


def _targets(targets: list[int], instance: torch.Tensor) -> torch.Tensor:
    """Target label of each particle: (N,) long on instance's device."""
    t = torch.as_tensor(targets, dtype=torch.long, device=instance.device)  # (K,)
    return t[instance.long() % len(targets)]


def _finite(x0: torch.Tensor) -> torch.Tensor:
    """(N,) bool: rows without NaN/inf."""
    return torch.isfinite(x0.flatten(1)).all(dim=1)


def quantize(x0: torch.Tensor) -> torch.Tensor:
    """What the decoded image looks like in model space: clip to [-1, 1] and round to 256 levels."""
    return ((x0.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1.0  # (N, 1, 28, 28)


def label_proxy(guide: torch.nn.Module, targets: list[int]) -> Reward:
    """Differentiable proxy log p_guide(target | x0)."""

    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        ok = _finite(x0)  # (N,)
        x = torch.where(ok[:, None, None, None], x0, torch.zeros_like(x0))
        logp = torch.log_softmax(guide(x.float()), dim=1)  # (N, 10)
        val = logp.gather(1, _targets(targets, instance).to(x0.device)[:, None]).squeeze(1)  # (N,)
        return torch.where(ok, val, torch.full_like(val, FLOOR))

    return Reward("guide_logp", fn, on="x0", differentiable=True, role="proxy", higher_is_better=True,
                  floor=FLOOR)


def quality_proxy(guide: torch.nn.Module) -> Reward:
    """``quality``'s differentiable proxy: log max_y p_guide(y | x0), the guide classifier's confidence that x0 is
    some garment (a label-free realism stand-in; quality guidance itself uses no reward)."""

    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        ok = _finite(x0)  # (N,)
        x = torch.where(ok[:, None, None, None], x0, torch.zeros_like(x0))
        val = torch.log_softmax(guide(x.float()), dim=1).max(dim=1).values  # (N,)
        return torch.where(ok, val, torch.full_like(val, FLOOR))

    return Reward("guide_conf", fn, on="x0", differentiable=True, role="proxy", higher_is_better=True, floor=FLOOR)


def quality_oracle(oracle: torch.nn.Module) -> Reward:
    """``quality``'s per-sample score: the held-out classifier's max class probability on the decoded image (NaN
    for an invalid sample); the objective's main metric is FID."""

    @torch.no_grad()
    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        ok = _finite(x0)  # (N,)
        x = quantize(torch.where(ok[:, None, None, None], x0, torch.zeros_like(x0)).float())
        conf = torch.softmax(oracle(x), dim=1).max(dim=1).values  # (N,)
        return torch.where(ok, conf, torch.full_like(conf, float("nan")))

    return Reward("oracle_conf", fn, on="decoded", differentiable=False, role="oracle", higher_is_better=True,
                  floor=FLOOR)


def label_oracle(oracle: torch.nn.Module, targets: list[int]) -> Reward:
    """Held-out accuracy 1[argmax p_oracle(decoded x0) = target]; NaN for an invalid sample."""

    @torch.no_grad()
    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        ok = _finite(x0)  # (N,)
        x = quantize(torch.where(ok[:, None, None, None], x0, torch.zeros_like(x0)).float())
        pred = oracle(x).argmax(dim=1)  # (N,)
        hit = (pred == _targets(targets, instance).to(pred.device)).float()
        return torch.where(ok, hit, torch.full_like(hit, float("nan")))

    return Reward("oracle_acc", fn, on="decoded", differentiable=False, role="oracle", higher_is_better=True,
                  floor=FLOOR)


def png_bytes(images: np.ndarray) -> np.ndarray:
    """PNG size in bytes (PIL, compress_level 9) of each uint8 (N, 28, 28) image -> (N,) int."""
    from PIL import Image

    sizes = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="PNG", compress_level=9)
        sizes.append(buf.tell())
    return np.asarray(sizes, dtype=np.int64)


@lru_cache(maxsize=1)
def worst_png_bytes() -> int:
    """PNG size of a uniform-noise 28×28 image (numpy seed 0): the failure value of an invalid sample."""
    noise = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28), dtype=np.uint8)
    return int(png_bytes(noise)[0])


def compress_reward(role: str) -> Reward:
    """−PNG bytes of the decoded image (proxy: ``floor`` if invalid; oracle: NaN if invalid)."""
    bad = FLOOR if role == "proxy" else float("nan")

    @torch.no_grad()
    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        ok = _finite(x0).cpu()  # (N,)
        imgs = to_uint8(torch.nan_to_num(x0.detach().cpu()))  # (N, 28, 28)
        val = -torch.from_numpy(png_bytes(imgs)).float()  # (N,)
        return torch.where(ok, val, torch.full_like(val, bad)).to(x0.device)

    return Reward(f"neg_png_bytes_{role}", fn, on="decoded", differentiable=False, role=role,
                  higher_is_better=True, floor=FLOOR)
