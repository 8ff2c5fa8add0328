"""What a sampler family provides: the contract every method is written against (docs/DESIGN_NOTES.md §14).

Methods never look at a family's kind or at its parameterisation; they call these primitives. A third family
(flow matching) implements ``Family`` and ``Prediction``; a family whose methods include the training-free
gradient-guidance catalogue (``bench.guidance``, ``gg``) also implements ``GaussianPath``.
``tests/test_family_contract.py`` checks every registered family against these lists.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from bench.rng import Streams


@runtime_checkable
class Prediction(Protocol):
    """A denoiser output for a batch of rows at one step ``t``; ``x_t`` is the input state (B, ...)."""

    x_t: torch.Tensor

    def take(self, idx: torch.Tensor) -> Any:
        """The rows ``idx``."""

    def concat(self, *others: Any) -> Any:
        """These rows followed by those of ``others``."""

    def detach(self, x_t: torch.Tensor | None = None) -> Any:
        """All tensors detached, ``x_t`` replacing the stored input state when given."""


@runtime_checkable
class Proposal(Protocol):
    """One step's transition p(x_s | x_t), rows are parents."""

    def sample(self, rng: Streams, owner: torch.Tensor, k: int = 1) -> torch.Tensor:
        """k children per parent, parent-major."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log density (or mass) of each row of x (B,)."""


@runtime_checkable
class Family(Protocol):
    """Sampler primitives over a task's network ``net``; t runs from noise (first) to clean (last s)."""

    net: Any
    noise: str | None  # the version of the normal draws it makes (bench.rng.NORMALS), None when it makes none

    def timesteps(self, steps: int) -> list[tuple[Any, Any]]:
        """(t, s) pairs from noise to data; only the last s is clean."""

    def is_clean(self, s: Any) -> bool:
        """True at the clean end, where ``denoise`` is not defined (it raises)."""

    def prior(self, rng: Streams, owner: torch.Tensor) -> torch.Tensor:
        """x_T for each owner row."""

    def denoise(self, x_t: torch.Tensor, t: Any) -> Prediction:
        """One network forward (differentiable when the input requires grad)."""

    def proposal(self, x_t: torch.Tensor, t: Any, s: Any, pred: Prediction) -> Proposal:
        """The base model's transition p_θ(x_s | x_t)."""

    def bridge(self, x_t: torch.Tensor, t: Any, s: Any, x0: torch.Tensor, rng: Streams,
               owner: torch.Tensor) -> torch.Tensor:
        """A draw of q(x_s | x_t, x0): one step toward a given clean x0."""

    def renoise(self, x_s: torch.Tensor, s: Any, t: Any, rng: Streams, owner: torch.Tensor) -> torch.Tensor:
        """A draw of q(x_t | x_s): forward noising from s back to t."""

    def sample_x0(self, pred: Prediction, rng: Streams, owner: torch.Tensor, k: int = 1) -> torch.Tensor:
        """k draws of a clean x0 per row from the prediction (parent-major)."""

    def point(self, pred: Prediction) -> torch.Tensor:
        """The clean point estimate (what a reward scores at an intermediate step)."""

    def grad_input(self, x: torch.Tensor) -> torch.Tensor:
        """The leaf a gradient method differentiates with respect to (detached; caller sets requires_grad)."""

    def soft_x0(self, pred: Prediction) -> torch.Tensor:
        """The differentiable clean estimate a gradient reward reads."""

    def as_soft(self, x0: torch.Tensor) -> torch.Tensor:
        """A clean sample in the gradient reward's input format."""

    def tilt(self, base: Proposal, x_t: torch.Tensor, grad: torch.Tensor, scale: float) -> Proposal:
        """``base`` tilted by a reward gradient w.r.t. ``grad_input(x_t)``, with scale γ (tag, treeg-g, tds)."""


@runtime_checkable
class GaussianPath(Protocol):
    """x_t = signal(t)·x0 + noise_std(t)·ε: what the ε-space update rules of the gradient-guidance methods read."""

    def abar(self, t: Any) -> float:
        """ᾱ_t = signal² / (signal² + noise_std²), the VP-equivalent signal level (1 at the clean end)."""

    def signal(self, t: Any) -> float:
        """Coefficient of x0 in x_t."""

    def noise_std(self, t: Any) -> float:
        """Coefficient of ε in x_t."""

    def from_eps(self, x_t: torch.Tensor, t: Any, eps: torch.Tensor, clip: bool = True) -> Prediction:
        """The prediction with noise estimate ``eps`` and its implied x̂0."""

    def from_x0(self, x_t: torch.Tensor, t: Any, x0: torch.Tensor) -> Prediction:
        """The prediction with clean estimate ``x0`` and its implied ε̂."""

    def eps_shift(self, t: Any, d_x0: torch.Tensor) -> torch.Tensor:
        """The change of ε̂ at fixed x_t that moves x̂0 by ``d_x0``."""

    def clamp_x0(self, x0: torch.Tensor) -> torch.Tensor:
        """Clamp a clean estimate as the family clamps x̂0 (identity when it does not)."""


FAMILY_PRIMITIVES = tuple(n for n in Family.__dict__ if not n.startswith("_") and callable(Family.__dict__[n]))
GAUSSIAN_PATH_PRIMITIVES = tuple(n for n in GaussianPath.__dict__
                                 if not n.startswith("_") and callable(GaussianPath.__dict__[n]))
PREDICTION_METHODS = tuple(n for n in Prediction.__dict__
                           if not n.startswith("_") and callable(Prediction.__dict__[n]))
