"""One active-set / branch / select engine for best-of-N, SVDD, TreeG-SC/SD/G and beam search (methods.md §4).

Each returned sample (an *owner*) keeps A active states. At a guided step every active state branches into K
candidates, all n·A·K candidates go through one batched forward, they are scored by a value, and A survive:

    active = A prior draws per owner                          # rows owner-major: (n·A, ...)
    for (t → s) in schedule:
        cand  = branch(active, t, s, K)                       # (n·A·K, ...)
        score = value(cand, s)                                # (n·A·K,)
        active = select(cand, score, A)                       # per owner, over the pooled A·K
    return argmax_{x in active} r(x) per owner

branch: "sc" (transition sample from the base model, or a custom proposal) | "sd" (K destination draws
x0 ~ p_θ(x0 | x_t), scored exactly, then a bridge step toward the best). select: "top" (global top-A per owner),
"parent" (argmax among each parent's K children), "softmax" (per parent, ∝ exp(score/α)).
The chosen candidate's forward is cached as the next step's prediction, so SC costs A·K forwards per guided step.
Reward rows are charged too (``search_counts``): A·K per guided step (·mc for the MC value), plus A at the end
when the last step did not already score the survivors; with A = 1 nothing is selected and no reward is called.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output, fit_width

Branch = Callable[[Context, torch.Tensor, int, float, float, object, torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class SearchSpec:
    """The knobs of one engine run."""

    A: int = 1
    K: int = 1
    branch: str = "sc"  # "sc" | "sd"
    select: str = "top"  # "top" | "parent" | "softmax"
    alpha: float = 1.0  # temperature of "softmax"
    window_start: float = 0.0  # guide only step indices ≥ window_start·T (late guidance, pitfall P10)
    value: str = "pm"  # "pm": r(point(x̂0)) | "mc": α·log mean exp(r(x0_j)/α) over mc draws
    mc: int = 4
    mc_alpha: float = 1.0
    branch_forwards: int = 0  # extra forwards per active state at each guided step (a gradient-guided branch)


def guided_steps(spec: SearchSpec, steps: int) -> list[bool]:
    """Which step indices branch."""
    return [spec.K > 1 and i >= spec.window_start * steps - 1e-9 for i in range(steps)]  # i/steps exact


def search_counts(spec: SearchSpec, steps: int) -> Counts:
    """Counted rows per returned sample of ``tree_search`` (the dry count the tests check against the meter)."""
    g = guided_steps(spec, steps)
    a, k, last = spec.A, spec.K, steps - 1
    per_value = spec.mc if spec.value == "mc" else 1
    final = a if (a > 1 and not g[last]) else 0  # the survivors' exact rewards, unless the last step scored them
    if spec.branch == "sd":
        return Counts(forward=a * steps, reward=a * k * sum(g) + final)
    tilts = spec.branch_forwards * a * sum(g)  # gradient-guided branching: one forward with grad + VJP per state
    reward = sum(a * k * (1 if i == last else per_value) for i in range(steps) if g[i]) + final
    return Counts(forward=a * (1 + sum(k if gi else 1 for gi in g[:-1])) + tilts, backward=tilts,
                  grad_reward=tilts, reward=reward)


def _value(ctx: Context, spec: SearchSpec, pred, owner: torch.Tensor) -> torch.Tensor:
    fam = ctx.family
    if spec.value == "pm":
        return ctx.reward(fam.point(pred), owner)
    draws = fam.sample_x0(pred, ctx.streams, owner, spec.mc)  # (R·mc, ...)
    r = ctx.reward(draws, owner.repeat_interleave(spec.mc)).view(-1, spec.mc) / spec.mc_alpha
    return spec.mc_alpha * (torch.logsumexp(r, 1) - torch.log(torch.tensor(float(spec.mc))))


def select(ctx: Context, spec: SearchSpec, score: torch.Tensor, owner: torch.Tensor, keep: int) -> torch.Tensor:
    """Row indices of the survivors; rows are owner-major blocks of ``keep``·K candidates."""
    score = torch.nan_to_num(score.float(), nan=-torch.inf)
    per = score.numel() // ctx.n
    block = torch.arange(ctx.n, device=score.device).repeat_interleave(keep) * per  # (n·keep,)
    if spec.select == "top":
        idx = score.view(ctx.n, per).topk(keep, dim=1).indices.reshape(-1)  # (n·keep,)
        return block + idx
    k = per // keep
    parents = torch.arange(ctx.n * keep, device=score.device) * k  # (n·A,)
    grouped = score.view(ctx.n * keep, k)  # (n·A, K)
    if spec.select == "parent":
        return parents + grouped.argmax(1)
    probs = torch.softmax(grouped / spec.alpha, 1)
    probs = torch.where(torch.isfinite(probs), probs, torch.full_like(probs, 1.0 / k))
    return parents + ctx.streams.categorical(owner[parents], probs).to(score.device)


def _transition(ctx: Context, x, t, s, pred, owner, k):
    return ctx.family.proposal(x, t, s, pred).sample(ctx.streams, owner, k)


def tree_search(ctx: Context, spec: SearchSpec, branch_fn: Branch | None = None) -> Output:
    """Run the engine; ``branch_fn(ctx, x, t, s, pred, owner, k)`` overrides the SC transition proposal."""
    fam, steps = ctx.family, fam_steps(ctx)
    branch_fn = branch_fn or _transition  # used at guided steps; unguided steps take the base transition
    guided = guided_steps(spec, len(steps))
    owner = ctx.owners(spec.A)  # (n·A,)
    x = fam.prior(ctx.streams, owner)
    pred = fam.denoise(x, steps[0][0])
    trace, final = [], None  # final: exact rewards of the survivors when the last step already scored them
    for i, (t, s) in enumerate(ctx.progress(steps, "search")):
        last = fam.is_clean(s)  # the clean end: no denoiser call, exact rewards
        if spec.branch == "sd" and guided[i]:
            cand = fam.sample_x0(pred, ctx.streams, owner, spec.K)  # (R·K, ...)
            cowner = owner.repeat_interleave(spec.K)
            score = ctx.reward(cand, cowner)
            keep = select(ctx, spec, score, cowner, spec.A)
            parent = keep // spec.K
            x = fam.bridge(x[parent], t, s, cand[keep], ctx.streams, owner[parent])
            owner = owner[parent]
            trace.append(float(score[keep].mean()))
            final = score[keep] if last else None
            pred = None if last else fam.denoise(x, s)
            continue
        k = spec.K if guided[i] else 1
        cand = (branch_fn if guided[i] else _transition)(ctx, x, t, s, pred, owner, k)  # (R·k, ...)
        cowner = owner.repeat_interleave(k)
        cpred = None if last else fam.denoise(cand, s)
        if k == 1:
            x, owner, pred = cand, cowner, cpred
            continue
        score = ctx.reward(cand, cowner) if last else _value(ctx, spec, cpred, cowner)
        keep = select(ctx, spec, score, cowner, spec.A)
        x, owner = cand[keep], cowner[keep]
        pred = None if last else cpred.take(keep)
        trace.append(float(score[keep].mean()))
        final = score[keep] if last else None
    if spec.A == 1:  # one survivor: nothing to select, no reward call
        return Output(x, owner, {"selected_value_per_step": trace})
    final = (ctx.reward(x, owner) if final is None else final).view(ctx.n, spec.A)
    best = torch.arange(ctx.n, device=x.device) * spec.A + torch.nan_to_num(final, nan=-torch.inf).argmax(1)
    return Output(x[best], owner[best], {"selected_value_per_step": trace})


def fam_steps(ctx: Context) -> list:
    """The (t, s) schedule of the run."""
    return ctx.family.timesteps(ctx.steps)


class SearchMethod(Method):
    """A method that is one configuration of the engine: subclasses give ``spec(cfg)`` and ``widen(cfg, w)``."""

    def spec(self, cfg) -> SearchSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def widen(self, cfg, w: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def counts(self, cfg, steps: int) -> Counts:
        return search_counts(self.spec(cfg), steps)

    shrink: str | None = None  # a branching knob lowered first when even width 1 does not fit (TreeG's K)
    window: str | None = None  # then the start of the guided window is moved later (TreeG's window_start)

    def for_budget(self, cfg, budget: float, steps: int, cal: Calibration):
        """Width 1 must fit first: lower ``shrink`` to 2, then guide only the latest window of steps that fits,
        and only when no window fits lower ``shrink`` to 1 (no branching: the search is gone); then widen."""
        cap = budget * steps
        fits = lambda c: self.cost(self.widen(c, 1), steps, cal) <= cap + 1e-9  # noqa: E731
        while self.shrink and getattr(cfg, self.shrink) > 2 and not fits(cfg):
            cfg = replace(cfg, **{self.shrink: getattr(cfg, self.shrink) - 1})
        if self.window and not fits(cfg):
            later = [replace(cfg, **{self.window: i / steps}) for i in range(steps)
                     if i / steps >= getattr(cfg, self.window)]
            cfg = next((c for c in later if fits(c)), cfg)
        if self.shrink and not fits(cfg):
            cfg = replace(cfg, **{self.shrink: 1})
        return self.widen(cfg, fit_width(lambda w: self.cost(self.widen(cfg, w), steps, cal), cap))

    def reduces_to(self, cfg, steps: int, chains: int = 1) -> str | None:
        """With no branching step the engine is A independent unguided chains selected at the end: `none` for one
        chain (A = 1 and no best-of-k), `best-of-n` otherwise."""
        spec = self.spec(cfg)
        if any(guided_steps(spec, steps)):
            return None
        same = "none" if spec.A == 1 and chains == 1 else "best-of-n"
        return None if same == self.key else same

    def branch(self, cfg):
        """A custom branch proposal for guided steps, or None for the base transition."""
        return None

    def run(self, ctx: Context, cfg) -> Output:
        return tree_search(ctx, self.spec(cfg), self.branch(cfg))
