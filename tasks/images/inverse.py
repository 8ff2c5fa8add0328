"""Inverse problems on the images task: super-resolution, inpainting and deblurring with a ground truth per sample.

Objectives (σ_y, the measurement noise, defaults to 0.05 in model space [-1, 1]; ``@<σ_y>`` sets it):
    sr=<f>[@σ_y]             A x = f×f average pooling (f divides 28: 2, 4, 7, 14); adjoint: nearest upsampling / f²
    inpaint=box[@σ_y]        A x = m ⊙ x, m zero on the central 14×14 box; self-adjoint
    inpaint=random:<p>[@σ_y] m drops each pixel with probability p (per instance, seeded); self-adjoint
    deblur=<σ>[@σ_y]         A x = Gaussian blur (kernel 2⌈3σ⌉+1, zero padding); self-adjoint (symmetric kernel)
Instance k is held-out test image k of ``GT_FILE`` (64 Fashion-MNIST test images, committed with a sha256
manifest); returned sample j solves instance j % 64, so particles stay tied to their measurement. The measurement
is y_k = A(x_k) + σ_y·ξ_k with ξ_k drawn from a generator seeded by (objective, k): the same y in every run
(inpainting measures the observed pixels only: ξ is masked too).
Proxy (differentiable, on x̂0 for gradient methods and on samples for the others): the measurement log-likelihood
per measured value (m of them),
    r(x) = −‖A(x) − y‖² / (2σ_y² m)          (≈ −1/2 at the truth)
so λ = m tilts the prior to the posterior p(x | y); per value, the reward has the O(1) scale the methods' default
step sizes were set on (the summed form, −784/2 at the truth, sends DPS's default step far off the data).
Oracle metrics against the ground truth: PSNR and SSIM (torchmetrics), the distance in the held-out oracle's
feature space (a stand-in for LPIPS, whose pretrained network cannot be downloaded here), the oracle's class agreement
with the ground truth, the measurement residual per
measured value in units of σ_y² (≈ 1 for a sample consistent with y; far below 1 is over-fitting the noise) and
FID of the set. Build the ground-truth file: ``python3 -m tasks.images.inverse --write`` (needs the dataset).
"""
from __future__ import annotations

import argparse
import math
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

GT_DIR = Path(__file__).parent / "inverse_data"
GT_FILE, N_GT, GT_SEED = "inverse_gt.npz", 64, 2024
SIGMA_Y = 0.05
PSNR_MAX = 100.0  # dB: an exact copy of the truth (zero error) would be +inf
_SPEC = re.compile(r"^(?P<kind>sr|inpaint|deblur)=(?P<arg>[^@]+)(@(?P<sy>[0-9.]+))?$")
FORMS = "sr=<f> (f in 2, 4, 7, 14), inpaint=box, inpaint=random:<p>, deblur=<sigma>, each optionally @<sigma_y>"


def is_inverse(spec: str) -> bool:
    """Whether ``spec`` names an inverse-problem objective (well-formed or not)."""
    return spec.split("=", 1)[0] in ("sr", "inpaint", "deblur")


@dataclass(frozen=True)
class Operator:
    """A linear measurement operator on (N, 1, 28, 28) model-space images, batched, with its adjoint."""

    kind: str  # "sr" | "inpaint" | "deblur"
    factor: int = 1
    p: float = 0.0  # random inpainting drop rate (0 = the central box)
    sigma: float = 0.0
    sigma_y: float = SIGMA_Y

    def mask(self, instance: torch.Tensor) -> torch.Tensor:
        """Inpainting masks of each row's instance: (N, 1, 28, 28), 1 = observed."""
        if self.p == 0.0:
            m = torch.ones(1, 1, 28, 28)
            m[..., 7:21, 7:21] = 0.0
            return m.expand(len(instance), -1, -1, -1).to(instance.device)
        return random_masks(self.p).to(instance.device)[instance.long() % N_GT]

    def kernel(self) -> torch.Tensor:
        """The normalised Gaussian blur kernel (1, 1, K, K)."""
        r = math.ceil(3 * self.sigma)
        g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float64) ** 2 / (2 * self.sigma**2))
        k = torch.outer(g, g)
        return (k / k.sum()).float()[None, None]

    def __call__(self, x: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        """A x: (N, 1, 28, 28) -> (N, 1, 28/f, 28/f) for sr, (N, 1, 28, 28) otherwise."""
        if self.kind == "sr":
            return F.avg_pool2d(x, self.factor)
        if self.kind == "inpaint":
            return x * self.mask(instance).to(x.dtype)
        k = self.kernel().to(x)
        return F.conv2d(x, k, padding=k.shape[-1] // 2)

    def adjoint(self, y: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        """Aᵀ y: back to (N, 1, 28, 28); ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ (tested)."""
        if self.kind == "sr":
            return F.interpolate(y, scale_factor=self.factor, mode="nearest") / self.factor**2
        return self(y, instance)  # masks and symmetric zero-padded blurs are self-adjoint

    def observed(self, instance: torch.Tensor) -> torch.Tensor:
        """Number of measured values per row (N,): a residual per measured value reads in units of σ_y²."""
        if self.kind == "inpaint":
            return self.mask(instance).flatten(1).sum(1)
        side = 28 // self.factor if self.kind == "sr" else 28
        return torch.full((len(instance),), float(side * side), device=instance.device)


@lru_cache(maxsize=8)
def random_masks(p: float) -> torch.Tensor:
    """The random-inpainting mask of every instance k (pixels dropped w.p. p, generator seeded by GT_SEED + k),
    built once per p: (N_GT, 1, 28, 28) float, 1 = observed (the proxy reads it at every guided step)."""
    return torch.stack([torch.rand((1, 28, 28), generator=torch.Generator().manual_seed(GT_SEED + k)) >= p
                        for k in range(N_GT)]).float()


def parse(spec: str) -> Operator:
    """An objective name -> its Operator; ValueError naming the accepted forms otherwise."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"images inverse objective {spec!r}: expected {FORMS}")
    sy = float(m["sy"]) if m["sy"] else SIGMA_Y
    kind, arg = m["kind"], m["arg"]
    if not (sy > 0 and math.isfinite(sy)):
        raise ValueError(f"{spec!r}: sigma_y must be a positive number")
    if kind == "sr" and arg in ("2", "4", "7", "14"):
        return Operator("sr", factor=int(arg), sigma_y=sy)
    if kind == "inpaint" and arg == "box":
        return Operator("inpaint", sigma_y=sy)
    if kind == "inpaint" and arg.startswith("random:"):
        p = _float(arg[7:])
        if p is not None and 0 < p < 1:
            return Operator("inpaint", p=p, sigma_y=sy)
    if kind == "deblur":
        s = _float(arg)
        if s is not None and 0 < s <= 5:
            return Operator("deblur", sigma=s, sigma_y=sy)
    raise ValueError(f"images inverse objective {spec!r}: expected {FORMS}")


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


@lru_cache(maxsize=1)
def ground_truth() -> tuple[torch.Tensor, torch.Tensor]:
    """The committed held-out images (64, 1, 28, 28) in model space and their labels (64,) (sha256 checked)."""
    from bench.weights import checked_path

    z = np.load(checked_path(GT_DIR, GT_FILE))
    x = torch.from_numpy(z["images"].astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    return x, torch.from_numpy(z["labels"].astype(np.int64))


@lru_cache(maxsize=16)
def measurements(spec: str) -> torch.Tensor:
    """y_k = A(x_k) + σ_y·ξ_k for every instance k, ξ_k seeded by (objective, k): (64, *measurement shape)."""
    op, (x, _) = parse(spec), ground_truth()
    inst = torch.arange(len(x))
    clean = op(x, inst)
    noise = torch.stack([torch.randn(clean.shape[1:], generator=torch.Generator().manual_seed(
        zlib.crc32(f"{spec}|{k}".encode()))) for k in range(len(x))])
    if op.kind == "inpaint":
        noise = noise * op.mask(inst)  # unobserved pixels are not measured: y is 0 there
    return clean + op.sigma_y * noise


def log_likelihood(spec: str, x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """−‖A(x0) − y_k‖² / (2σ_y² m) of each row against its instance's measurement (m measured values): (N,),
    differentiable in x0."""
    op = parse(spec)
    k = (instance.long() % N_GT).to(x0.device)
    y = measurements(spec).to(x0.device)[k]
    return -(op(x0, k) - y).flatten(1).pow(2).sum(1) / (2 * op.sigma_y**2 * op.observed(k).to(x0.dtype))


def seen(spec: str, instance: torch.Tensor) -> torch.Tensor:
    """Each row's measurement drawn as an image (N, 1, 28, 28): upsampled for sr, masked pixels at −1 (black)."""
    op, k = parse(spec), instance.long().cpu() % N_GT
    y = measurements(spec)[k]
    if op.kind == "sr":
        return F.interpolate(y, scale_factor=op.factor, mode="nearest")
    if op.kind == "inpaint":
        return torch.where(op.mask(k) > 0, y, torch.full_like(y, -1.0))
    return y


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Model space -> [0, 1], non-finite rows zeroed (scored as the worst image, never an error)."""
    ok = torch.isfinite(x.flatten(1)).all(1)[:, None, None, None]
    return torch.where(ok, (x.clamp(-1, 1) + 1) / 2, torch.zeros_like(x))


@torch.no_grad()
def psnr(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """PSNR (dB, data range 1) of each row against its instance's ground truth, capped at PSNR_MAX (an exact copy
    of the truth would be +inf): (N,); an invalid row scores 0."""
    from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr

    gt = ground_truth()[0].to(x0.device)[instance.long().to(x0.device) % N_GT]
    ok = torch.isfinite(x0.flatten(1)).all(1)
    val = torch.stack([tm_psnr(a[None], b[None], data_range=1.0) for a, b in zip(_unit(x0.float()), _unit(gt))])
    return torch.where(ok, val.clamp(max=PSNR_MAX), torch.zeros_like(val))


@torch.no_grad()
def ssim(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """SSIM (torchmetrics, data range 1) of each row against its ground truth: (N,); an invalid row scores 0."""
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    gt = ground_truth()[0].to(x0.device)[instance.long().to(x0.device) % N_GT]
    ok = torch.isfinite(x0.flatten(1)).all(1)
    val = tm_ssim(_unit(x0.float()), _unit(gt), data_range=1.0, reduction="none")  # (N,)
    return torch.where(ok, val, torch.zeros_like(val))


@torch.no_grad()
def residual(spec: str, x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """‖A(x) − y‖² per measured value over σ_y²: (N,) (≈ 1 when x is consistent with y up to its noise)."""
    return -2 * log_likelihood(spec, torch.nan_to_num(x0.float()), instance)


def write_ground_truth(folder: Path = GT_DIR) -> Path:
    """Pick N_GT test images (seeded permutation of the Fashion-MNIST test split) and write them with a manifest."""
    from bench.weights import write_manifest
    from tasks.images.data import load_split

    images, labels = load_split("test")
    idx = np.sort(np.random.default_rng(GT_SEED).permutation(len(images))[:N_GT])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / GT_FILE
    np.savez_compressed(path, images=images[idx], labels=labels[idx], test_index=idx)
    write_manifest(folder)
    return path


def main() -> None:
    """CLI: ``python3 -m tasks.images.inverse --write``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="(re)write the ground-truth file and its manifest")
    if ap.parse_args().write:
        print(write_ground_truth())


if __name__ == "__main__":
    main()
