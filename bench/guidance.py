"""Shared math of the training-free gradient-guidance methods: TFG and its special cases (methods.md §7–§12).

One guided (recurrence) step t → s, in the notation of methods.md §2 (α_t = ᾱ_t/ᾱ_s over the strided step):
    x̂0  = x̂0(x_t)                                   ONE forward; with grad only when ρ̄ ≠ 0 (pitfall P4)
    ℓ̃(x0) = log (1/n_ε)·Σ_j exp ℓ(x0 + γ_t·ξ_j)      smoothed log-reward, a log-mean-exp (P3); ξ_j ~ N(0, I)
    g   = ∇_{x_t} ℓ̃(x̂0(x_t))  [/ |ℓ̃| if norm="abs"]  variance guidance: one VJP through ε_θ
    x0′ = detach(x̂0); N_iter × x0′ += μ_t·∇_{x0} ℓ̃(x0′);  Δ_0 = x0′ − x̂0      mean guidance, ∇_{x0} only
  form "tfg"   (§12):        x_s = DDIM(x_t; x̂0, ε_θ) + ρ_t·g/√α_t + √ᾱ_s·Δ_0
  form "plain" (§7, §8, §11): x_s = DDIM(x_t; x̂0, ε_θ) + ρ_t·g         + √ᾱ_s·Δ_0
  form "ugd"   (§9):         ε̂ = ε_θ − ρ_t·√(1−ᾱ_t)·g − √(ᾱ_t/(1−ᾱ_t))·Δ_0;  x_s = DDIM(x_t; x0 implied by ε̂, ε̂)
  recurrence (N_recur > 1): x_t = Renoise(x_s) with fresh noise, N_recur passes per step, the last one kept.
Schedules: ρ_t = ρ̄·w_t·T/Σ_τ w_τ (so the mean of ρ_t over the trajectory is ρ̄), μ_t likewise, with
w_t = α_t ('increase'), 1 − α_t ('decrease') or 1 ('constant'); γ_t = σ̄·√(1−ᾱ_t) ('decrease') or σ̄ ('constant').
Normalisation choices (P9): no |ℓ| division unless norm="abs"; LGD's extra 1/n of the TFG code is not applied.
ξ draws are fresh for every reward evaluation (Δ_t and each Δ_0 iteration) and are skipped when γ_t = 0, so with
γ = 0 the stream use is exactly that of DPS. Numerics (P8): x0′ is clamped like x̂0 (family.clamp_x0); a row
whose gradient is not finite gets no guidance at that evaluation and is counted in ``diagnostics["nan_grad_rows"]``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, fit_width

FORMS = ("plain", "tfg", "ugd")
SCHEDULES = ("increase", "decrease", "constant")


@dataclass(frozen=True)
class GuidanceSpec:
    """A point of TFG's unified space (§12 mapping table) plus the update form of the method it stands for."""

    rho: float = 0.0  # ρ̄, variance guidance (through ε_θ)
    mu: float = 0.0  # μ̄, mean guidance (∇_{x0} only)
    sigma: float = 0.0  # σ̄, smoothing noise level
    rho_schedule: str = "constant"
    mu_schedule: str = "constant"
    sigma_schedule: str = "decrease"
    n_recur: int = 1
    n_iter: int = 1
    n_eps: int = 1
    form: str = "plain"
    norm: str = "none"  # "none" | "abs" (g / |ℓ̃|, the DPS residual-norm form)

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"form {self.form!r}; choose from {FORMS}")
        for name in ("rho_schedule", "mu_schedule"):
            if getattr(self, name) not in SCHEDULES:
                raise ValueError(f"{name} {getattr(self, name)!r}; choose from {SCHEDULES}")
        if self.sigma_schedule not in ("decrease", "constant"):
            raise ValueError(f"sigma_schedule {self.sigma_schedule!r}; choose 'decrease' or 'constant'")
        if self.norm not in ("none", "abs"):
            raise ValueError(f"norm {self.norm!r}; choose 'none' or 'abs'")
        if min(self.n_recur, self.n_eps) < 1 or self.n_iter < 0:
            raise ValueError("need n_recur >= 1, n_eps >= 1, n_iter >= 0")

    def counts(self, steps: int) -> dict[str, float]:
        """Expected counts per returned sample: forward NFE, VJPs through ε_θ, gradient reward rows."""
        variance, mean = self.rho != 0, self.mu != 0 and self.n_iter > 0
        per_step = self.n_eps * (int(variance) + self.n_iter * int(mean))
        return {"nfe": float(self.n_recur * steps), "backward": float(self.n_recur * steps * variance),
                "grad_reward": float(self.n_recur * steps * per_step)}


@dataclass(frozen=True)
class StepCoef:
    """Coefficients of one step t → s."""

    t: int
    s: int
    rho: float  # ρ_t
    mu: float  # μ_t
    gamma: float  # γ_t
    alpha: float  # α_t = ᾱ_t / ᾱ_s


def schedule(alphas: list[float], base: float, kind: str) -> list[float]:
    """base·w_t·T/Σw over the trajectory; w = α_t, 1 − α_t or 1. 'constant' returns ``base`` exactly."""
    if kind == "constant":
        return [float(base)] * len(alphas)
    w = alphas if kind == "increase" else [1.0 - a for a in alphas]
    total = sum(w)
    return [base * (wi * len(w) / total) if total > 0 else 0.0 for wi in w]


def plan(family: Any, steps: int, spec: GuidanceSpec) -> list[StepCoef]:
    """The per-step coefficients of a ``steps``-step trajectory."""
    pairs = family.timesteps(steps)
    alphas = [family.abar(t) / family.abar(s) for t, s in pairs]
    rho = schedule(alphas, spec.rho, spec.rho_schedule)
    mu = schedule(alphas, spec.mu, spec.mu_schedule)
    if spec.sigma_schedule == "decrease":
        gamma = [spec.sigma * family.noise_std(t) for t, _ in pairs]
    else:
        gamma = [float(spec.sigma)] * len(pairs)
    return [StepCoef(t, s, *c) for (t, s), *c in zip(pairs, rho, mu, gamma, alphas)]


def guard(grad: torch.Tensor, diag: dict[str, int]) -> torch.Tensor:
    """Zero the rows of ``grad`` (B, ...) that hold a NaN/inf and count them in diag['nan_grad_rows'] (P8)."""
    bad = ~torch.isfinite(grad.flatten(1)).all(1)  # (B,)
    if bool(bad.any()):
        diag["nan_grad_rows"] = diag.get("nan_grad_rows", 0) + int(bad.sum())
        grad = torch.where(bad.view(-1, *[1] * (grad.dim() - 1)), torch.zeros_like(grad), grad)
    return grad


def smoothed_log_reward(ctx: Context, x0: torch.Tensor, owner: torch.Tensor, gamma: float,
                        n_eps: int) -> torch.Tensor:
    """ℓ̃(x0) = log (1/n_ε)·Σ_j exp ℓ(x0 + γ·ξ_j) as logsumexp − log n_ε: (B,). Plain ℓ(x0) for n_ε = 1, γ = 0."""
    if n_eps == 1 and gamma == 0:
        return ctx.grad_reward(x0, owner)  # (B,)
    rows = x0.repeat_interleave(n_eps, dim=0)  # (B·n_ε, *shape)
    own = owner.repeat_interleave(n_eps)  # (B·n_ε,)
    if gamma != 0:
        rows = rows + gamma * ctx.streams.randn(own, tuple(x0.shape[1:])).to(x0)
    ell = ctx.grad_reward(rows, own).view(-1, n_eps)  # (B, n_ε)
    return torch.logsumexp(ell, dim=1) - math.log(n_eps)


def denoise_vjp(family: Any, x_t: torch.Tensor, t: int,
                fn: Callable[[torch.Tensor], torch.Tensor]) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """One forward with grad and one VJP: (prediction detached, fn(x̂0) (B,), ∇_{x_t} Σ fn(x̂0) (B, *shape))."""
    x = x_t.detach().requires_grad_(True)
    with torch.enable_grad():
        pred = family.denoise(x, t)
        value = fn(pred.x0)  # (B,)
        if value.requires_grad:
            grad = torch.autograd.grad(value.sum(), x)[0]  # (B, *shape)
        else:  # a reward without a graph gives no guidance
            grad = torch.zeros_like(x)
    return pred.detach(x_t=x_t), value.detach(), grad


def variance_guidance(ctx: Context, spec: GuidanceSpec, x_t: torch.Tensor, c: StepCoef, owner: torch.Tensor,
                      diag: dict[str, int]) -> tuple[Any, torch.Tensor | None]:
    """(prediction, g = ∇_{x_t} ℓ̃(x̂0(x_t)) or None when ρ_t = 0); the forward is shared with the step (P4)."""
    if c.rho == 0:
        return ctx.family.denoise(x_t.detach(), c.t), None
    pred, ell, g = denoise_vjp(ctx.family, x_t, c.t,
                               lambda x0: smoothed_log_reward(ctx, x0, owner, c.gamma, spec.n_eps))
    if spec.norm == "abs":
        g = g / ell.abs().clamp_min(1e-8).view(-1, *[1] * (g.dim() - 1))
    return pred, guard(g, diag)


def mean_guidance(ctx: Context, spec: GuidanceSpec, x0: torch.Tensor, c: StepCoef, owner: torch.Tensor,
                  diag: dict[str, int]) -> torch.Tensor | None:
    """Δ_0 = x0′ − x̂0 after N_iter ascent steps x0′ += μ_t·∇_{x0} ℓ̃(x0′) (no denoiser gradient); None if off."""
    if c.mu == 0 or spec.n_iter == 0:
        return None
    x0p = x0.detach()  # (B, *shape)
    for _ in range(spec.n_iter):
        v = x0p.clone().requires_grad_(True)
        with torch.enable_grad():
            ell = smoothed_log_reward(ctx, v, owner, c.gamma, spec.n_eps)  # (B,)
            grad = torch.autograd.grad(ell.sum(), v)[0] if ell.requires_grad else torch.zeros_like(v)
        x0p = ctx.family.clamp_x0(x0p + c.mu * guard(grad, diag))
    return x0p - x0.detach()


def combine(ctx: Context, spec: GuidanceSpec, x_t: torch.Tensor, c: StepCoef, pred: Any, g: torch.Tensor | None,
            d0: torch.Tensor | None, owner: torch.Tensor) -> torch.Tensor:
    """x_s from the unguided prediction, g and Δ_0, in the method's form (module docstring)."""
    fam = ctx.family
    if spec.form == "ugd":
        return ugd_step(ctx, x_t, c, pred, g, d0, owner)
    x_s = fam.proposal(x_t, c.t, c.s, pred).sample(ctx.streams, owner)  # (B, *shape)
    if g is not None:
        x_s = x_s + (c.rho / math.sqrt(c.alpha) if spec.form == "tfg" else c.rho) * g
    if d0 is not None:
        x_s = x_s + fam.signal(c.s) * d0
    return x_s


def ugd_step(ctx: Context, x_t: torch.Tensor, c: StepCoef, pred: Any, g: torch.Tensor | None,
             d0: torch.Tensor | None, owner: torch.Tensor) -> torch.Tensor:
    """UGD (§9): forward guidance on ε, backward guidance Δ_0 folded into ε̂, DDIM step with ε̂'s implied x0
    (not clamped, as UGD's code)."""
    fam = ctx.family
    eps = pred.eps  # (B, *shape)
    if g is not None:
        eps = eps - c.rho * fam.noise_std(c.t) * g  # ε = −√(1−ᾱ)·score, the score shifted by ρ·g
    if d0 is not None:
        eps = eps + fam.eps_shift(c.t, d0)
    guided = fam.from_eps(x_t, c.t, eps, clip=False)  # x̂0 + ρ(1−ᾱ)/√ᾱ·g + Δ_0
    return fam.proposal(x_t, c.t, c.s, guided).sample(ctx.streams, owner)


def guided_step(ctx: Context, spec: GuidanceSpec, x_t: torch.Tensor, c: StepCoef, owner: torch.Tensor,
                diag: dict[str, int]) -> torch.Tensor:
    """One guided pass t → s: one forward (+ one VJP when ρ_t ≠ 0), mean guidance, the combined step."""
    pred, g = variance_guidance(ctx, spec, x_t, c, owner, diag)
    d0 = mean_guidance(ctx, spec, pred.x0, c, owner, diag)
    return combine(ctx, spec, x_t.detach(), c, pred, g, d0, owner).detach()


def sample(ctx: Context, spec: GuidanceSpec, desc: str = "guidance") -> Output:
    """Run the guided sampler from the prior: ``spec.n_recur`` passes per step, re-noising between them."""
    fam, owner = ctx.family, ctx.owners()
    diag: dict[str, int] = {"nan_grad_rows": 0}
    x = fam.prior(ctx.streams, owner)  # (n, *shape)
    for c in ctx.progress(plan(fam, ctx.steps, spec), desc):
        for r in range(spec.n_recur):
            x_s = guided_step(ctx, spec, x, c, owner, diag)
            x = fam.renoise(x_s, c.s, c.t, ctx.streams, owner) if r < spec.n_recur - 1 else x_s
    return Output(x.detach(), owner, diagnostics=dict(diag))


def spec_counts(spec: GuidanceSpec, steps: int) -> Counts:
    """Counted rows per returned sample of ``sample`` (forwards, VJPs through ε_θ, gradient-reward rows)."""
    c = spec.counts(steps)
    return Counts(forward=c["nfe"], backward=c["backward"], grad_reward=c["grad_reward"])


class GuidanceMethod(Method):
    """A method that is one configuration of the TFG step: subclasses give ``spec(cfg)`` and, if they have one,
    the ``recurrence`` knob that spends a budget (the most recurrences that fit, in forward-equivalents)."""

    supports = frozenset({"continuous"})
    needs_grad = True
    recurrence: ClassVar[str | None] = None

    def spec(self, cfg: Any) -> GuidanceSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def counts(self, cfg: Any, steps: int) -> Counts:
        return spec_counts(self.spec(cfg), steps)

    def for_budget(self, cfg: Any, budget: float, steps: int, cal: Calibration) -> Any:
        """The most recurrences whose forwards, backwards and gradient-reward rows fit ``budget``·T (at least 1;
        a method without a recurrence knob is run best-of-k by the runner). ``--set`` still overrides it."""
        if not self.recurrence:
            return cfg
        width = fit_width(lambda r: self.cost(dataclasses.replace(cfg, **{self.recurrence: r}), steps, cal),
                          budget * steps)
        return dataclasses.replace(cfg, **{self.recurrence: width})

    def run(self, ctx: Context, cfg: Any) -> Output:
        return sample(ctx, self.spec(cfg), self.key)
