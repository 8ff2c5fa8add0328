"""One weighted-particle loop for FK steering / SMC and TDS (methods.md §16-17).

Each population (one returned sample, or ``k`` returned samples in "all" mode) holds k particles:

    x ~ prior;  logw = 0;  cum = 0                         # cum: Σ log G along each particle's lineage
    for step i (t → s):
        x_s, corr = propose(x_t)                           # base proposal (corr = 0) or a guided one
        logw += corr
        if i is a resampling point:   logw += log G_i;  cum += log G_i
        if i is the last step:        log G = λ·r(x0) − cum   # final correction: the target is p·exp(λ r)
        resample a population when its ESS < threshold·k (carrying logw across skipped steps, pitfall P2)
    return the argmax of r per population, or (return_all) particles after the final resampling

Budget (counted by ``particle_counts``): k·T forwards and k·(#resampling points) reward rows per population; a
population of one particle skips the weights (no reward calls). ``return_all`` sizes itself from ``ctx.budget``:
P populations of k with P·cost(population) <= budget·n (``populations``), the n returned samples spread evenly
over them, evenly spaced within each resampled population.

Potentials at a resampling point (r̃ = intermediate reward, λ = 1/α): diff λ(r̃ − r̃_prev); max λ·max(r̃, m_prev);
add λ(r̃ + Σ r̃_prev); rt λ·r̃.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, fit_width
from bench.twist import tilted_proposal, value_and_grad

Propose = Callable[[Context, torch.Tensor, object, object, object, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class ParticleSpec:
    k: int = 4
    lam: float = 10.0
    potential: str = "diff"  # diff | max | add | rt
    every: int = 1  # resample every `every` steps inside the window (and always at the last step)
    window_start: float = 0.0  # first resampling point at step index ≥ window_start·T
    ess: float | None = None  # adaptive: resample when ESS < ess·k; None = at every resampling point
    mc: int = 1  # x0 draws for the intermediate reward (discrete MC value; 1 = point estimate)
    reward_min: float = 0.0  # initial m of the "max" potential
    return_all: bool = False
    twist: float | None = None  # TDS: tilt the proposal by twist·∇r(x̂0) and add the proposal correction


def unique_fraction(x: torch.Tensor, groups: int) -> float:
    """Mean over populations of (distinct particles / particles): diversity within a population."""
    rows = x.reshape(groups, x.shape[0] // groups, -1)  # (P, k, D)
    return float(sum(torch.unique(r, dim=0).shape[0] for r in rows) / x.shape[0])


def _log_ess(logw: torch.Tensor) -> torch.Tensor:
    """log ESS per population from logw (P, k)."""
    return 2 * torch.logsumexp(logw, 1) - torch.logsumexp(2 * logw, 1)


def _resample(ctx: Context, logw: torch.Tensor, pop_owner: torch.Tensor) -> torch.Tensor:
    """Systematic resampling per population: (P, k) ancestor indices within the population."""
    p, k = logw.shape
    w = torch.softmax(logw.double(), 1)  # (P, k)
    w = torch.where(torch.isfinite(w), w, torch.full_like(w, 1.0 / k))
    cdf = w.cumsum(1)
    cdf = cdf / cdf[:, -1:]
    u = ctx.streams.rand(pop_owner, (1,)).to(cdf.device)  # (P, 1)
    pos = (u + torch.arange(k, device=cdf.device, dtype=cdf.dtype)) / k  # (P, k)
    return torch.searchsorted(cdf.contiguous(), pos.contiguous()).clamp_(max=k - 1)


def _intermediate(ctx: Context, spec: ParticleSpec, pred, owner: torch.Tensor) -> torch.Tensor:
    fam = ctx.family
    if spec.mc <= 1:
        return ctx.reward(fam.point(pred), owner)
    draws = fam.sample_x0(pred, ctx.streams, owner, spec.mc)
    r = ctx.reward(draws, owner.repeat_interleave(spec.mc)).view(-1, spec.mc) * spec.lam
    return (torch.logsumexp(r, 1) - math.log(spec.mc)) / spec.lam  # log-mean-exp (pitfall P3)


def _potential(spec: ParticleSpec, r: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
    if spec.potential == "diff":
        g = spec.lam * (r - state["prev"])
        state["prev"] = r
    elif spec.potential == "max":
        state["m"] = torch.maximum(r, state["m"])
        g = spec.lam * state["m"]
    elif spec.potential == "add":
        state["sum"] = state["sum"] + r
        g = spec.lam * state["sum"]
    elif spec.potential == "rt":
        g = spec.lam * r
    else:
        raise ValueError(f"unknown potential {spec.potential!r}; choose diff, max, add or rt")
    return g


def resample_points(spec: ParticleSpec, steps: int) -> list[bool]:
    start = math.ceil(spec.window_start * steps)
    return [i == steps - 1 or (i >= start and (i - start) % spec.every == spec.every - 1) for i in range(steps)]


def _twisted_step(ctx: Context, spec: ParticleSpec, x, t, s, tilt, owner):
    """TDS: x_s from the gradient-tilted proposal; log correction log p_θ(x_s | x_t) − log p̃(x_s | x_t)."""
    base = ctx.family.proposal(x, t, s, tilt.pred)
    tw = tilted_proposal(ctx, x, t, s, tilt, spec.twist)
    x_s = tw.sample(ctx.streams, owner)
    return x_s, base.log_prob(x_s) - tw.log_prob(x_s)


def particle_counts(spec: ParticleSpec, steps: int) -> Counts:
    """Counted rows of ONE population of k particles over ``steps`` steps (the dry count)."""
    k = spec.k
    if spec.twist is not None:  # one forward with grad + VJP per particle per step; the value comes with it
        return Counts(forward=k * steps, backward=k * steps, grad_reward=k * steps, reward=k if k > 1 else 0)
    if k == 1:
        return Counts(forward=steps)
    per = spec.mc if spec.mc > 1 else 1
    return Counts(forward=k * steps, reward=k * (per * sum(resample_points(spec, steps)[:-1]) + 1))


def populations(n: int, k: int, budget: float | None, unit: float) -> int:
    """Populations in ``return_all`` mode: at least ⌈n/k⌉ (every sample returned), as many as the per-sample budget
    allows (P·unit <= budget·n, unit = one population's cost), at most n (each returns at least one)."""
    least = math.ceil(n / k)
    if budget is None:
        return least
    return max(least, min(n, int((budget * n + 1e-9) // unit)))


def returned_per_population(ctx: Context, spec: ParticleSpec) -> torch.Tensor:
    """(P,) samples each population returns: 1 each in argmax mode; in ``return_all`` mode n split evenly over
    ``populations`` (so particles per returned sample follow the budget and never overshoot it)."""
    if not spec.return_all:
        return torch.ones(ctx.n, dtype=torch.long)
    unit = ctx.calibration.price(particle_counts(spec, ctx.steps))
    p = populations(ctx.n, spec.k, ctx.budget, unit)
    return torch.full((p,), ctx.n // p, dtype=torch.long) + (torch.arange(p) < ctx.n % p).long()


def particle_filter(ctx: Context, spec: ParticleSpec, propose: Propose | None = None) -> Output:
    """Run the loop; ``propose(ctx, x, t, s, pred, owner) -> (x_s, log correction)`` overrides the base proposal.
    With ``spec.twist`` set (TDS), each step's forward is taken with grad and serves the next proposal's tilt
    and the intermediate value r(x̂0) (no separate reward call)."""
    fam, steps = ctx.family, ctx.family.timesteps(ctx.steps)
    share = returned_per_population(ctx, spec)  # (P,) returned samples of each population
    n_pop = share.numel()
    pop_owner = (share.cumsum(0) - share).to(ctx.streams.device)  # (P,) the first returned sample of each
    owner = pop_owner.repeat_interleave(spec.k)  # (P·k,)
    x = fam.prior(ctx.streams, owner)
    tilt = value_and_grad(ctx, x, steps[0][0], owner) if spec.twist else None
    pred = tilt.pred if tilt else fam.denoise(x, steps[0][0])
    logw = torch.zeros(n_pop, spec.k, device=x.device, dtype=torch.float64)
    state = {"prev": torch.zeros(owner.numel(), device=x.device), "m": None, "sum": None}
    state["m"] = torch.full_like(state["prev"], spec.reward_min)
    state["sum"] = torch.zeros_like(state["prev"])
    cum = torch.zeros_like(state["prev"])
    points, n_resampled, ess_trace = resample_points(spec, len(steps)), 0, []
    for i, (t, s) in enumerate(ctx.progress(steps, "smc")):
        last = fam.is_clean(s)  # the clean end: no denoiser call, the exact reward
        if tilt is not None:
            x, corr = _twisted_step(ctx, spec, x, t, s, tilt, owner)
        elif propose is None:
            x = fam.proposal(x, t, s, pred).sample(ctx.streams, owner)
            corr = None
        else:
            x, corr = propose(ctx, x, t, s, pred, owner)
        if tilt is not None and not last:
            tilt = value_and_grad(ctx, x, s, owner)
            pred = tilt.pred
        else:
            pred = None if last else fam.denoise(x, s)
        if corr is not None:
            logw += corr.view(n_pop, spec.k).double()
        if not points[i] or spec.k == 1:  # one particle: no weights to keep, no reward calls
            continue
        if last:
            r_last = ctx.reward(x, owner)
            g = spec.lam * r_last - cum
        else:
            r_now = tilt.value if tilt is not None else _intermediate(ctx, spec, pred, owner)
            g = _potential(spec, r_now, state)
        g = torch.nan_to_num(g, nan=-1e30)
        logw += g.view(n_pop, spec.k).double()
        cum = cum + g
        log_ess = _log_ess(logw)
        ess_trace.append(float(log_ess.exp().mean()))
        due = torch.ones_like(log_ess, dtype=torch.bool) if (spec.ess is None or last) else \
            log_ess < math.log(spec.ess * spec.k)
        if not bool(due.any()):
            continue
        anc = _resample(ctx, logw, pop_owner)  # (P, k)
        anc = torch.where(due[:, None], anc, torch.arange(spec.k, device=anc.device).expand_as(anc))
        rows = (anc + torch.arange(n_pop, device=anc.device)[:, None] * spec.k).reshape(-1)
        x, cum = x[rows], cum[rows]
        r_last = r_last[rows] if last else None
        state = {key: v[rows] for key, v in state.items()}
        pred = None if pred is None else pred.take(rows)
        if tilt is not None and not last:
            tilt = type(tilt)(pred, tilt.value[rows], tilt.grad[rows])
        logw = torch.where(due[:, None], torch.zeros_like(logw), logw)
        n_resampled += int(due.sum())
    diag = {"resamples": n_resampled, "mean_ess": ess_trace, "population_unique": unique_fraction(x, n_pop)}
    if spec.return_all:
        rows = torch.cat([p * spec.k + (torch.arange(m) * spec.k) // m for p, m in enumerate(share.tolist())])
        return Output(x[rows], owner[rows], diag)  # evenly spaced over each resampled population (unbiased)
    if spec.k == 1:
        return Output(x, owner, diag)
    final = torch.nan_to_num(r_last.view(n_pop, spec.k), nan=-torch.inf)
    best = torch.arange(n_pop, device=x.device) * spec.k + final.argmax(1)
    return Output(x[best], owner[best], diag)


class ParticleMethod(Method):
    """A method that is one configuration of ``particle_filter`` (smc, tds): subclasses give ``spec(cfg)``; the
    config has ``k`` (particles per population) and ``return_all``."""

    population = True

    def spec(self, cfg: Any) -> ParticleSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def counts(self, cfg: Any, steps: int) -> Counts:
        """Per returned sample: one population (argmax mode); in ``return_all`` mode one population returning all
        k particles (the run may use more populations, ``populations``)."""
        c = particle_counts(self.spec(cfg), steps)
        return c.scale(1.0 / cfg.k) if cfg.return_all else c

    def min_cost(self, cfg: Any, steps: int, cal: Calibration, n: int) -> float:
        if not cfg.return_all:
            return self.cost(cfg, steps, cal)
        return math.ceil(n / cfg.k) * cal.price(particle_counts(self.spec(cfg), steps)) / n

    def for_budget(self, cfg: Any, budget: float, steps: int, cal: Calibration) -> Any:
        """k = the most particles one population per returned sample can afford (argmax mode); in ``return_all``
        mode at least that (particles per returned sample = the budget), or the configured k if larger."""
        fit = fit_width(lambda k: cal.price(particle_counts(self.spec(replace(cfg, k=k)), steps)), budget * steps)
        return replace(cfg, k=max(cfg.k, fit) if cfg.return_all else fit)

    def sized_at_run(self, cfg: Any) -> bool:
        return bool(cfg.return_all)

    def run(self, ctx: Context, cfg: Any) -> Output:
        return particle_filter(ctx, self.spec(cfg))
