"""`dts` — Diffusion Tree Sampling / DTS* (Jain, Sareen, Pedramfar, Ravanbakhsh, NeurIPS 2025, arXiv 2506.20701).

Update rule (methods.md §19). One tree per returned sample over the denoising chain; nodes hold (x_t, prediction,
soft value v̂, children). Until the sample's NFE budget (b·T) is spent:
    selection:  from the root, descend; at a node with < max_children children (and a rollout it can afford)
                expand; else go to a child ∝ exp(λ·v̂(child)) (DTS) or argmax v̂ (DTS*, `greedy=True`)
    expansion + rollout: x_{d+1} ~ p_θ(· | x_d), continued with p_θ to x0; every visited state joins the tree
    backup:     v̂(leaf) = r(x0); up the path v̂(x) = (1/λ)·log mean_{children c} exp(λ·v̂(c))
Output: DTS draws a leaf by descending ∝ exp(λ·v̂) (asymptotically p·exp(λ r)); DTS* returns the best leaf.
Backup normalisation (children weighted equally, unvisited children absent) is our choice where the source is
[unverified]. The rollouts of all trees advance in lockstep, so each depth's forward is one batch.
Cost: the budget itself (anytime, in forward-equivalents); a rollout from depth d costs T − d − 1 forwards and
one reward call (c_r, from ``ctx.calibration``), so the smallest run is one rollout from the root: T + c_r.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from bench.meter import Calibration, Counts
from bench.method import Context, Method, Output
from bench.search import take


@dataclass(frozen=True)
class Config:
    budget: float = 1.0  # NFE per returned sample, in multiples of T (set from --budget)
    lam: float = 1.0  # λ
    max_children: int = 4
    greedy: bool = False  # DTS* (search) instead of DTS (sampling)


@dataclass
class Node:
    """A tree node; its state and prediction live in row ``row`` of a batch tensor (materialised on demand)."""

    batch_x: torch.Tensor  # (B, ...) the batch this node's state came from
    batch_pred: Any  # prediction batch (None for clean leaves)
    row: int
    depth: int
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)
    v: float = -math.inf

    @property
    def x(self) -> torch.Tensor:
        return self.batch_x[self.row:self.row + 1]

    @property
    def pred(self) -> Any:
        return take(self.batch_pred, torch.tensor([self.row], device=self.batch_x.device))


def _pick(children: list[Node], lam: float, u: float, greedy: bool) -> Node:
    """A child ∝ exp(λ·v̂) by inverse CDF with the uniform u, or the argmax (plain floats: tiny fan-outs)."""
    vals = [c.v for c in children]
    if greedy:
        return children[max(range(len(vals)), key=vals.__getitem__)]
    top = max(vals)
    if not math.isfinite(top):
        return children[min(int(u * len(children)), len(children) - 1)]
    w = [math.exp(lam * (v - top)) if math.isfinite(v) else 0.0 for v in vals]
    acc, target = 0.0, u * sum(w)
    for child, wi in zip(children, w):
        acc += wi
        if target < acc:
            return child
    return children[-1]


def _backup(leaf: Node, lam: float) -> None:
    """v̂(x) = (1/λ)·log mean_children exp(λ·v̂(c)) up the path (finite children only)."""
    node = leaf.parent
    while node is not None:
        vals = [c.v for c in node.children if math.isfinite(c.v)]
        if vals:
            top = max(vals)
            node.v = top + math.log(sum(math.exp(lam * (v - top)) for v in vals) / len(vals)) / lam
        node = node.parent


class DTS(Method):
    key = "dts"
    version = "2"
    paper = "Jain et al. 2025, Diffusion tree sampling (arXiv 2506.20701)"
    Config = Config
    tunable = {"lam": (0.25, 2.0, 16.0)}

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=cfg.budget * steps)  # an upper bound: the loop stops before the budget is crossed

    def min_cost(self, cfg: Config, steps: int, cal: Calibration, n: int) -> float:
        return steps + cal.c_r

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return replace(cfg, budget=budget)

    def sized_at_run(self, cfg: Config) -> bool:
        return True  # anytime: spends its whole budget itself (no best-of-k chains)

    def _select(self, root: Node, cfg: Config, left: float, T: int, u: torch.Tensor) -> Node | None:
        node = root
        while node.depth < T:
            if len(node.children) < cfg.max_children and T - node.depth - 1 <= left:
                return node
            if not node.children:
                return None
            node = _pick(node.children, cfg.lam, float(u[node.depth]), cfg.greedy)
        return None

    def run(self, ctx: Context, cfg: Config) -> Output:
        fam, n, steps = ctx.family, ctx.n, ctx.family.timesteps(ctx.steps)
        T, owner = len(steps), ctx.owners()
        x = fam.prior(ctx.streams, owner)
        pred = fam.denoise(x, steps[0][0])
        roots = [Node(x, pred, j, 0) for j in range(n)]
        left = [cfg.budget * T - 1.0 - ctx.calibration.c_r] * n  # reserves the next rollout's reward call
        leaves: list[list[Node]] = [[] for _ in range(n)]
        stalled = [0] * n
        for _ in ctx.progress(range(int(4 * cfg.budget * T) + 4), "dts"):
            u = ctx.streams.rand(owner, (T,))  # (n, T) selection draws
            starts = {j: self._select(roots[j], cfg, left[j], T, u[j]) for j in range(n) if stalled[j] < 3}
            for j, node in starts.items():
                stalled[j] = stalled[j] + 1 if node is None else 0
            active = {j: node for j, node in starts.items() if node is not None}
            if not active:
                break
            self._rollouts(ctx, active, steps, left, leaves, cfg)
        return self._output(ctx, roots, leaves, cfg, T, owner)

    def _rollouts(self, ctx: Context, active: dict[int, Node], steps, left, leaves, cfg: Config) -> None:
        """Roll every active tree out to x0 in one batch that grows as deeper starts join it."""
        fam, T = ctx.family, len(steps)
        ids: list[int] = []
        xs, preds, parents = None, None, []
        for d in range(min(nd.depth for nd in active.values()), T):
            new = [j for j, nd in active.items() if nd.depth == d]
            if new:
                ids += new
                parents += [active[j] for j in new]
                nx, npred = torch.cat([active[j].x for j in new]), _stack([active[j].pred for j in new])
                xs = nx if xs is None else torch.cat([xs, nx])
                preds = npred if preds is None else _stack([preds, npred])
            t, s = steps[d]
            own = torch.tensor(ids, device=ctx.streams.device)
            xs = fam.proposal(xs, t, s, preds).sample(ctx.streams, own)  # (r, ...)
            preds = None if d == T - 1 else fam.denoise(xs, s)
            children = [Node(xs, preds, i, d + 1, parent=par) for i, par in enumerate(parents)]
            for par, child, j in zip(parents, children, ids):
                par.children.append(child)
                left[j] -= 0 if d == T - 1 else 1
            parents = children
        r = ctx.reward(xs, torch.tensor(ids, device=ctx.streams.device))
        for i, (leaf, j) in enumerate(zip(parents, ids)):
            left[j] -= ctx.calibration.c_r
            leaf.v = float(r[i])
            leaves[j].append(leaf)
            _backup(leaf, cfg.lam)

    def _output(self, ctx: Context, roots, leaves, cfg: Config, T: int, owner) -> Output:
        out = []
        u = ctx.streams.rand(owner, (T,))
        for j, root in enumerate(roots):
            if cfg.greedy:
                out.append(max(leaves[j], key=lambda nd: nd.v).x)
                continue
            node = root
            while node.depth < T:
                node = _pick(node.children, cfg.lam, float(u[j, node.depth]), False)
            out.append(node.x)
        return Output(torch.cat(out), owner, {"leaves": sum(len(lv) for lv in leaves) / len(roots)})


METHOD = DTS()


def _stack(preds: list) -> Any:
    """Concatenate single-row predictions field by field."""
    first = preds[0]
    fields = {k: (torch.cat([getattr(p, k) for p in preds]) if isinstance(v, torch.Tensor) else v)
              for k, v in vars(first).items()}
    return type(first)(**fields)
