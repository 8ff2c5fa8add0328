"""Flow family: the linear (rectified-flow) path with velocity prediction, written once for every flow task.

Notation. τ ∈ [0, 1] is the noise level (τ = 1 noise, τ = 0 data; the chain runs τ: 1 → 0 like every family
here, so flow_matching's data time is r = 1 − τ). The path and the network:
    x_τ = a_τ·x1 + b_τ·ε,  a_τ = 1 − τ,  b_τ = τ                        x1 data, ε ~ N(0, I)
    u_θ(x_τ, τ) ≈ E[x1 − ε | x_τ]   (the velocity dx/dr toward data; the network's output)
    x̂1 = x_τ + τ·u,   ε̂ = x_τ − (1 − τ)·u,   ∇log p_τ(x) = −ε̂/τ = ((1−τ)u − x)/τ
Sampler, step τ → σ (σ < τ), from a cached (x̂1, ε̂):
    ς = η·b_σ·√(1 − (a_τ b_σ / (a_σ b_τ))²)          step noise; η = 0: deterministic
    x_σ = a_σ·x̂1 + √(b_σ² − ς²)·ε̂ + ς·z
With η = 0 this is exactly the Euler step of the probability-flow ODE, x_σ = x_τ + (τ − σ)·u. With η = 1 it is
the posterior step q(x_σ | x_τ, x̂1) of the Markov forward process with the path's marginals, i.e. a discretisation
of the same-marginal SDE dX = [u + (g²/2)∇log p]dr + g dW with g² the forward process's diffusion rate: the
marginals of x_σ are the path's for any η ∈ [0, 1] when x̂1 is exact (tested on the analytic mixture). Its Gaussian
step gives ``proposal.sample`` / ``log_prob``, which resampling methods need (with η = 0 duplicates of a resampled
particle stay identical). η = 1 is the default (the stochastic sampler every resampling method assumes).
Renoise (forward transition): x_τ = (a_τ/a_σ)·x_σ + √(b_τ² − (a_τ/a_σ)² b_σ²)·z.
The chain starts at τ = TAU_MAX < 1 (a_τ > 0, so ε-space guidance can still convert back to x̂1; the prior
N(0, I) differs from x_τ's law there by a_τ·x1, 0.1 % of the data scale), exactly as a VP schedule ends at ᾱ_T > 0.

The gradient methods' conversions (``from_eps``, ``implied_eps``, ``eps_shift``) are written for the general
Gaussian path x = a·x1 + b·ε, so every continuous method runs on this family unchanged; ``abar`` is the VP signal
level a²/(a² + b²) of the same noise-to-signal ratio, used by methods only as a schedule weight.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from bench.diffusion.gaussian import GaussianFamily, GaussPrediction
from bench.rng import Streams

TAU_MAX = 0.999


class FlowFamily(GaussianFamily):
    """Linear-path flow sampler primitives over a velocity network ``net(x (B, *shape), τ (B,)) -> u``."""

    kind = "continuous"

    def __init__(self, net: nn.Module, shape: tuple[int, ...], eta: float = 1.0, clip: float | None = None) -> None:
        self.net = net
        self.shape = tuple(shape)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"flow family: eta must be in [0, 1] (0 = ODE, 1 = same-marginal SDE), got {eta}")
        self.eta = float(eta)
        self.clip = clip
        self.prediction = "velocity"

    # -- schedule -------------------------------------------------------------------------------------------
    def timesteps(self, steps: int) -> list[tuple[float, float]]:
        """(τ, σ) pairs from TAU_MAX down to 0 in ``steps`` equal steps; the last σ is 0 (clean)."""
        ts = torch.linspace(TAU_MAX, 0.0, steps + 1, dtype=torch.float64).tolist()
        return list(zip(ts[:-1], ts[1:]))

    def is_clean(self, s: float) -> bool:
        return s <= 0.0

    def signal(self, t: float) -> float:
        """a_τ = 1 − τ, the coefficient of x1 in x_τ."""
        return 1.0 - float(t)

    def noise_std(self, t: float) -> float:
        """b_τ = τ, the coefficient of ε in x_τ."""
        return float(t)

    def abar(self, t: float) -> float:
        """The VP signal level of the same signal-to-noise ratio, a²/(a² + b²) (1 at the clean end)."""
        a, b = self.signal(t), self.noise_std(t)
        return a * a / (a * a + b * b)

    def sigma(self, t: float, s: float) -> float:
        """Step noise ς of τ → σ (η-scaled posterior std of the forward process)."""
        a_t, b_t, a_s, b_s = self.signal(t), self.noise_std(t), self.signal(s), self.noise_std(s)
        ratio = (a_t * b_s) / (a_s * b_t)
        return self.eta * b_s * math.sqrt(max(0.0, 1.0 - ratio * ratio))

    # -- primitives -----------------------------------------------------------------------------------------
    def denoise(self, x_t: torch.Tensor, t: float) -> GaussPrediction:
        """One network forward: the velocity u, as (x̂1, ε̂) (clamped like the family clamps)."""
        if self.is_clean(t):
            raise ValueError(f"denoise at the clean time τ = {t}: the chain ends there (see is_clean)")
        tt = torch.full((x_t.shape[0],), float(t), device=x_t.device)  # (B,)
        u = self.net(x_t, tt)  # (B, *shape) velocity toward data
        x0 = x_t + float(t) * u  # (B, *shape) x̂1
        if self.clip is not None:
            return self.from_x0(x_t, t, x0)
        return GaussPrediction(x_t, t, x0, x_t - (1.0 - float(t)) * u)

    def velocity(self, pred: GaussPrediction) -> torch.Tensor:
        """u = x̂1 − ε̂ of a prediction (the network's own output when nothing was guided)."""
        return pred.x0 - pred.eps

    def from_eps(self, x_t: torch.Tensor, t: float, eps: torch.Tensor, clip: bool = True) -> GaussPrediction:
        """The prediction whose ε̂ is ``eps``: x̂1 = (x_τ − b·ε̂)/a."""
        x0 = (x_t - self.noise_std(t) * eps) / self.signal(t)
        if clip and self.clip is not None:
            return self.from_x0(x_t, t, x0)
        return GaussPrediction(x_t, t, x0, eps)

    def implied_eps(self, x_t: torch.Tensor, t: float, x0: torch.Tensor) -> torch.Tensor:
        """ε̂(x_τ, x̂1) = (x_τ − a·x̂1)/b."""
        return (x_t - self.signal(t) * x0) / self.noise_std(t)

    def eps_shift(self, t: float, d_x0: torch.Tensor) -> torch.Tensor:
        """The change of ε̂ at fixed x_τ that moves x̂1 by ``d_x0``: −(a/b)·Δx1."""
        return -(self.signal(t) / self.noise_std(t)) * d_x0

    def step_mean(self, t: float, s: float, x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """a_σ·x̂1 + √(b_σ² − ς²)·ε̂."""
        b_s, sig = self.noise_std(s), self.sigma(t, s)
        return self.signal(s) * x0 + math.sqrt(max(0.0, b_s * b_s - sig * sig)) * eps

    def renoise(self, x_s: torch.Tensor, s: float, t: float, rng: Streams, owner: torch.Tensor) -> torch.Tensor:
        """The forward transition x_σ -> x_τ (τ > σ): (a_τ/a_σ)·x_σ + √(b_τ² − (a_τ/a_σ)²·b_σ²)·z."""
        k = self.signal(t) / self.signal(s)
        std = math.sqrt(max(0.0, self.noise_std(t) ** 2 - (k * self.noise_std(s)) ** 2))
        return k * x_s + std * rng.randn(owner, self.shape)
