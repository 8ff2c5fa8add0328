"""Gaussian (continuous) family: DDPM/DDIM with η, written once for every continuous task.

Notation (specs/methods.md §2). Steps run over training indices t (noise → data); s is the next, less noisy
index, s = −1 meaning clean data (ᾱ = 1).
    x̂0(x_t) = (x_t − √(1−ᾱ_t)·ε_θ(x_t, t)) / √ᾱ_t
    σ_t     = η·√((1−ᾱ_s)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_s)
    μ_t(x0, ε) = √ᾱ_s·x0 + √(1−ᾱ_s−σ_t²)·ε
    DDIM(x_t; x0, ε) = μ_t(x0, ε) + σ_t·z
    Renoise: x_t = √(ᾱ_t/ᾱ_s)·x_s + √(1−ᾱ_t/ᾱ_s)·z
The network is ``net(x_t (B, *shape), t (B,) float) -> out (B, *shape)`` with ``out`` of the family's
``prediction`` type: ε, x0 or v = √ᾱ·ε − √(1−ᾱ)·x0 (bench.diffusion.prediction); ``denoise`` turns it into
(x̂0, ε̂). A v output is converted with ᾱ in float32, the network's precision (as ``gaussian_loss`` trains it).
The step indices come from ``spacing`` (bench.diffusion.schedules.gaussian_timesteps). The runner wraps the
network in a counting meter.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from bench.diffusion.prediction import Rows, check_prediction, eps_from_v, eps_from_x0, x0_from_eps
from bench.diffusion.schedules import SPACINGS, T_TRAIN, gaussian_alphas_bar, gaussian_timesteps
from bench.rng import NORMALS, Streams


@dataclass
class GaussPrediction(Rows):
    """Output of ``denoise``: the Tweedie estimate and the predicted noise at step t."""

    x_t: torch.Tensor  # (B, *shape)
    t: int
    x0: torch.Tensor  # (B, *shape)
    eps: torch.Tensor  # (B, *shape)


@dataclass
class GaussProposal:
    """N(mean, std² I) transition of one step; rows of ``mean`` are parents."""

    mean: torch.Tensor  # (B, *shape)
    std: float

    def sample(self, rng: Streams, owner: torch.Tensor, k: int = 1) -> torch.Tensor:
        """k children per parent, parent-major: (B·k, *shape); ``owner`` (B,) routes the noise."""
        if self.std == 0.0:
            return self.mean.repeat_interleave(k, dim=0)  # (B·k, *shape)
        b, shape = self.mean.shape[0], tuple(self.mean.shape[1:])
        z = rng.randn(owner.repeat_interleave(k), shape).view(b, k, *shape)  # (B, k, *shape)
        return z.mul_(self.std).add_(self.mean.unsqueeze(1)).view(b * k, *shape)  # in place; mean broadcast

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x; mean, std²) summed over dimensions -> (B,); 0 for a deterministic step."""
        if self.std == 0.0:
            return torch.zeros(x.shape[0], device=x.device)
        d = (x - self.mean).flatten(1)  # (B, D)
        return -0.5 * (d.pow(2).sum(1) / self.std**2 + d.shape[1] * math.log(2 * math.pi * self.std**2))


class GaussianFamily:
    """DDPM/DDIM sampler primitives over a task's network (ε, x0 or v prediction)."""

    kind = "continuous"
    noise = NORMALS  # its draws are normals (bench.rng), so its records hash the generator's version

    def __init__(self, net: nn.Module, shape: tuple[int, ...], schedule: str = "cosine", eta: float = 1.0,
                 clip: float | None = None, prediction: str = "eps", spacing: str = "linspace") -> None:
        self.net = net
        self.shape = tuple(shape)
        self.schedule = schedule
        self.eta = float(eta)
        self.clip = clip
        self.prediction = check_prediction(prediction)
        if spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; choose from {SPACINGS}")
        self.spacing = spacing
        self.alphas_bar = gaussian_alphas_bar(schedule, T_TRAIN)  # (T_TRAIN,) float64
        self._abar32 = self.alphas_bar.float()  # (T_TRAIN,) the network's precision, for v outputs

    def with_eta(self, eta: float) -> "GaussianFamily":
        """A copy sampling with stochasticity η ∈ [0, 1]: 0 = deterministic (DDIM; the flow family's Euler ODE),
        1 = DDPM ancestral (the flow family's same-marginal SDE). Same network, schedule and spacing."""
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1] (0 = deterministic, 1 = DDPM/SDE), got {eta}")
        new = copy.copy(self)
        new.eta = float(eta)
        return new

    # -- schedule -------------------------------------------------------------------------------------------
    def timesteps(self, steps: int) -> list[tuple[int, int]]:
        """(t, s) pairs from noise to data over ``steps`` training indices (``spacing``); last s is −1 (clean)."""
        ts = gaussian_timesteps(steps, self.spacing)
        return list(zip(ts, ts[1:] + [-1]))

    def is_clean(self, s: int) -> bool:
        """True for the clean end of the chain (s = −1): no denoiser call is defined there."""
        return s < 0

    def abar(self, t: int) -> float:
        """ᾱ at training index t (1.0 for t = −1)."""
        return 1.0 if t < 0 else float(self.alphas_bar[t])

    def signal(self, t: int) -> float:
        """√ᾱ_t, the coefficient of x0 in x_t (1 at the clean end)."""
        return math.sqrt(self.abar(t))

    def noise_std(self, t: int) -> float:
        """√(1−ᾱ_t), the coefficient of ε in x_t."""
        return math.sqrt(1.0 - self.abar(t))

    def sigma(self, t: int, s: int) -> float:
        """Step noise σ_t of the η-DDIM step t → s."""
        a_t, a_s = self.abar(t), self.abar(s)
        return self.eta * math.sqrt((1 - a_s) / (1 - a_t)) * math.sqrt(max(0.0, 1 - a_t / a_s))

    # -- primitives -----------------------------------------------------------------------------------------
    def prior(self, rng: Streams, owner: torch.Tensor) -> torch.Tensor:
        """x_T ~ N(0, I): (len(owner), *shape)."""
        return rng.randn(owner, self.shape)

    def denoise(self, x_t: torch.Tensor, t: int) -> GaussPrediction:
        """One network forward; autograd flows through it when x_t requires grad (differentiable path)."""
        if self.is_clean(t):
            raise ValueError(f"denoise at the clean index t = {t}: the chain ends there (see is_clean)")
        tt = torch.full((x_t.shape[0],), float(t), device=x_t.device)  # (B,)
        out = self.net(x_t, tt)  # (B, *shape) of type self.prediction
        if self.prediction == "x0":
            return self.from_x0(x_t, t, out)
        if self.prediction == "v":
            out = eps_from_v(x_t, self._abar32_on(x_t.device)[t], out)  # (B, *shape) ε̂
        return self.from_eps(x_t, t, out, clip=True)

    def _abar32_on(self, device: torch.device) -> torch.Tensor:
        """The float32 ᾱ table on ``device`` (copied once per device)."""
        if self._abar32.device != device:
            self._abar32 = self._abar32.to(device)
        return self._abar32

    def from_eps(self, x_t: torch.Tensor, t: int, eps: torch.Tensor, clip: bool = True) -> GaussPrediction:
        """The prediction whose ε̂ is ``eps`` (x̂0 implied); with ``clip`` and a clipping family, x̂0 is clamped
        and ε̂ recomputed from it."""
        x0 = x0_from_eps(x_t, self.abar(t), eps)  # (B, *shape)
        if clip and self.clip is not None:
            return self.from_x0(x_t, t, x0)
        return GaussPrediction(x_t, t, x0, eps)

    def from_x0(self, x_t: torch.Tensor, t: int, x0: torch.Tensor) -> GaussPrediction:
        """The prediction whose x̂0 is ``x0`` (clamped like the family clamps), ε̂ implied."""
        x0 = self.clamp_x0(x0)
        return GaussPrediction(x_t, t, x0, self.implied_eps(x_t, t, x0))

    def renoised_with(self, pred: GaussPrediction, x0: torch.Tensor) -> GaussPrediction:
        """A prediction with clean estimate ``x0`` but ``pred``'s noise estimate (CFG++: the guided x̂0, renoised
        with the unconditional ε̂); the step mean is then √ᾱ_s·x0 + √(1−ᾱ_s−σ²)·ε̂."""
        return GaussPrediction(pred.x_t, pred.t, self.clamp_x0(x0), pred.eps)

    def noised(self, x0: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
        """The path's point at t for a given clean sample and noise: √ᾱ_t·x0 + √(1−ᾱ_t)·ε (SAG renoises its
        degraded x̂0 with ε̂). ``noised(pred.x0, pred.eps, t)`` is ``pred.x_t``."""
        return self.signal(t) * x0 + self.noise_std(t) * eps

    def clamp_x0(self, x0: torch.Tensor) -> torch.Tensor:
        """Clamp a clean estimate to [−clip, clip] (identity when the family does not clip)."""
        return x0 if self.clip is None else x0.clamp(-self.clip, self.clip)

    def implied_eps(self, x_t: torch.Tensor, t: int, x0: torch.Tensor) -> torch.Tensor:
        """ε̂(x_t, x0) = (x_t − √ᾱ_t·x0) / √(1−ᾱ_t)."""
        return eps_from_x0(x_t, self.abar(t), x0)

    def eps_shift(self, t: int, d_x0: torch.Tensor) -> torch.Tensor:
        """The change of ε̂ at fixed x_t that moves x̂0 by ``d_x0``: −√(ᾱ_t/(1−ᾱ_t))·Δx0."""
        a = self.abar(t)
        return -math.sqrt(a / (1 - a)) * d_x0

    def step_mean(self, t: int, s: int, x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """μ_t(x0, ε) = √ᾱ_s·x0 + √(1−ᾱ_s−σ_t²)·ε."""
        a_s, sig = self.abar(s), self.sigma(t, s)
        return math.sqrt(a_s) * x0 + math.sqrt(max(0.0, 1 - a_s - sig**2)) * eps

    def proposal(self, x_t: torch.Tensor, t: int, s: int, pred: GaussPrediction) -> GaussProposal:
        """The base model's transition p_θ(x_s | x_t) from a cached prediction."""
        return GaussProposal(self.step_mean(t, s, pred.x0, pred.eps), self.sigma(t, s))

    def bridge(self, x_t: torch.Tensor, t: int, s: int, x0: torch.Tensor, rng: Streams,
               owner: torch.Tensor) -> torch.Tensor:
        """q(x_s | x_t, x0): the η-DDIM step toward a given clean x0 (ε recomputed from x0)."""
        prop = GaussProposal(self.step_mean(t, s, x0, self.implied_eps(x_t, t, x0)), self.sigma(t, s))
        return prop.sample(rng, owner)

    def renoise(self, x_s: torch.Tensor, s: int, t: int, rng: Streams, owner: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_s) = N(√(ᾱ_t/ᾱ_s)·x_s, (1−ᾱ_t/ᾱ_s) I)."""
        ratio = self.abar(t) / self.abar(s)
        return math.sqrt(ratio) * x_s + math.sqrt(1 - ratio) * rng.randn(owner, self.shape)

    def sample_x0(self, pred: GaussPrediction, rng: Streams, owner: torch.Tensor, k: int = 1,
                  scale: float = 1.0) -> torch.Tensor:
        """k draws x̂0 + scale·ρ_t·z per row, ρ_t = √(1−ᾱ_t)/√(1+(1−ᾱ_t)): (B·k, *shape)."""
        a = self.abar(pred.t)
        rho = math.sqrt(1 - a) / math.sqrt(1 + (1 - a))
        return GaussProposal(pred.x0, scale * rho).sample(rng, owner, k)

    def point(self, pred: GaussPrediction) -> torch.Tensor:
        """The clean point estimate x̂0."""
        return pred.x0

    # -- differentiable path (gradient methods) ---------------------------------------------------------------
    def grad_input(self, x: torch.Tensor) -> torch.Tensor:
        """The leaf a gradient is taken with respect to: x_t itself (detached, float)."""
        return x.detach().float()

    def soft_x0(self, pred: GaussPrediction) -> torch.Tensor:
        """The differentiable clean estimate a gradient reward reads: x̂0."""
        return pred.x0

    def as_soft(self, x0: torch.Tensor) -> torch.Tensor:
        """A clean sample in the gradient reward's input format (float)."""
        return x0.float()

    def tilt(self, base: GaussProposal, x_t: torch.Tensor, grad: torch.Tensor, scale: float) -> GaussProposal:
        """The base step shifted by a gradient w.r.t. ``grad_input(x_t)``: N(μ + scale·σ_t²·grad, σ_t²)."""
        return GaussProposal(base.mean + scale * base.std**2 * grad, base.std)
