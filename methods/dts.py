"""`dts` — Diffusion Tree Sampling / DTS* (Jain, Sareen, Pedramfar, Ravanbakhsh, NeurIPS 2025, arXiv 2506.20701).

Update rule (methods.md §19). One tree per returned sample over the denoising chain, under a dummy root x_{T+1}
whose children are prior draws x_T [paper]. Nodes hold (x_t, prediction, soft value v̂, visit count N, children).
Until the sample's budget is spent:
    selection:  from the root, descend; at a node with fewer than max(1, c·(N+1)^α) children (progressive widening
                [paper, via its reviews; c, α ours]) and a rollout it can afford, expand; else go to a child
                ∝ exp(λ·v̂(child)) (DTS) or argmax v̂ (DTS*, `greedy=True`)
    expansion + rollout: x_{d+1} ~ p_θ(· | x_d), continued with p_θ to x0; every visited state joins the tree
    backup:     v̂(leaf) = r(x0); up the path N += 1 and v̂(x) = (1/λ)·log mean_{children c} exp(λ·v̂(c))
Output: DTS draws a leaf by descending ∝ exp(λ·v̂); DTS* returns the best leaf.
Measured on toyseq count, λ = 1, T = 32, 200 trees (mean reward / TV to the exact pmf; exact mean 5.70):
    version 1: 16x 5.05 / 0.265, 64x 5.19 / 0.242;  version 2: 16x 5.27 / 0.199, 64x 5.35 / 0.181;
    importance resampling over 16 / 64 independent chains: 5.55 / 0.116, 5.65 / 0.115.
Why: the descent picks leaf ℓ with probability
∝ exp(λ r(ℓ))·m(ℓ), m(ℓ) = Π_{ancestors a} 1/|children(a)|: exact resampling of the tree's empirical base measure,
which splits a node's mass equally over its children because they are iid p_θ draws (the backup's mean runs over
all children, non-finite ones counting as 0; weighting by visit counts would count the tilt twice). That measure
approaches p_θ only if fan-outs grow with visits: the old fixed cap (4) made each decision a 4-candidate resample
whose bias does not shrink with budget. Without the dummy root every leaf shares one x_T (a continuous task then
samples p(x0 | x_T) tilted, not the marginal). Known finite-budget bias, inherent to DTS's design: Boltzmann
selection makes visits, hence fan-outs, depend on values, so E[m] under-weights high-reward leaves (measured at 16x:
mass of count = 6 is 0.06-0.11 vs 0.177 under p_θ; 0.178 with value-blind selection). widen_alpha → 1 trades the
tree's reuse for independent chains (α = 1 is importance resampling over ~budget chains); `select_lam = 0` keeps
the reuse but allocates blind to values (unbiased base measure; not in the paper).
The rollouts of all trees advance in lockstep, so each depth's forward is one batch.
Cost: the budget itself (anytime); a rollout from depth d (−1 = the dummy root) costs T − d − 1 forwards
plus one reward call at c_r (``ctx.calibration``), in `rollout_cost`; the smallest run is one rollout: T + c_r.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from bench.meter import Calibration, Counts
from bench.method import POSITIVE, Bound, Context, Method, Output


@dataclass(frozen=True)
class Config:
    budget: float = 1.0  # forward-equivalents per returned sample, in multiples of T (set from --budget)
    lam: float = 1.0  # λ
    widen_c: float = 1.0  # progressive widening: expand while children < max(1, c·(N+1)^α)
    widen_alpha: float = 0.8  # 0.5 and 0.8 measured on toyseq (module docstring); 1 = independent chains (SIR)
    max_children: int | None = None  # optional hard cap on the fan-out (None: widening only)
    greedy: bool = False  # DTS* (search) instead of DTS (sampling)
    select_lam: float | None = None  # λ of the tree-building descent (None: λ, the paper; 0: value-blind, ours)


@dataclass
class Node:
    """A tree node; its state and prediction live in row ``row`` of a batch tensor (materialised on demand).
    The dummy root has depth −1 and no state."""

    batch_x: torch.Tensor | None  # (B, ...) the batch this node's state came from
    batch_pred: Any  # prediction batch (None for clean leaves and the root)
    row: int
    depth: int
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)
    v: float = -math.inf
    visits: int = 0

    @property
    def x(self) -> torch.Tensor:
        return self.batch_x[self.row:self.row + 1]

    @property
    def pred(self) -> Any:
        return self.batch_pred.take(torch.tensor([self.row], device=self.batch_x.device))


def rollout_cost(ctx: Context, depth: int, T: int) -> float:
    """Forward-equivalents charged for one rollout from a node at ``depth`` (−1 = the dummy root): the
    T − depth − 1 denoiser forwards of the new states (the prior draw and the clean leaf need none) plus one
    reward call at c_r (``ctx.calibration``). The single place DTS's budget is accounted."""
    return float(T - depth - 1) + ctx.calibration.c_r


def _pick(children: list[Node], lam: float, u: float, greedy: bool) -> Node:
    """A child ∝ exp(λ·v̂) by inverse CDF with the uniform u, or the argmax (plain floats: small fan-outs)."""
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
    """Up the path: N += 1 and v̂(x) = (1/λ)·log mean_children exp(λ·v̂(c)), children weighted equally
    (iid p_θ draws; finite values only)."""
    leaf.visits += 1
    node = leaf.parent
    while node is not None:
        node.visits += 1
        vals = [c.v for c in node.children if math.isfinite(c.v)]
        if vals:
            top = max(vals)
            node.v = top + math.log(sum(math.exp(lam * (v - top)) for v in vals) / len(node.children)) / lam
        node = node.parent


class DTS(Method):
    key = "dts"
    anytime = True
    version = "2"
    paper = "Jain et al. 2025, Diffusion tree sampling (arXiv 2506.20701)"
    Config = Config
    bounds = {"budget": POSITIVE, "widen_c": POSITIVE, "widen_alpha": Bound(lo=0.0, hi=1.0, lo_open=True)}
    tunable = {"lam": (0.25, 2.0, 16.0)}

    def counts(self, cfg: Config, steps: int) -> Counts:
        return Counts(forward=cfg.budget * steps)  # an upper bound: the loop stops before the budget is crossed

    def min_cost(self, cfg: Config, steps: int, cal: Calibration, n: int) -> float:
        return steps + cal.c_r

    def for_budget(self, cfg: Config, budget: float, steps: int, cal: Calibration) -> Config:
        return replace(cfg, budget=budget)

    def sized_at_run(self, cfg: Config) -> bool:
        return True  # anytime: spends its whole budget itself (no best-of-k chains)

    @staticmethod
    def _widens(node: Node, cfg: Config) -> bool:
        """Progressive widening: may this node take one more child on this, its (N+1)-th, visit?"""
        room = max(1.0, cfg.widen_c * (node.visits + 1) ** cfg.widen_alpha)
        cap = math.inf if cfg.max_children is None else cfg.max_children
        return len(node.children) < min(room, cap)

    def _select(self, ctx: Context, root: Node, cfg: Config, left: float, u: torch.Tensor) -> Node | None:
        """The node to expand (descending ∝ exp(λ v̂) past full or unaffordable ones), or None."""
        node, T = root, len(u) - 1
        while node.depth < T:
            if self._widens(node, cfg) and rollout_cost(ctx, node.depth, T) <= left:
                return node
            if not node.children:
                return None
            lam = cfg.lam if cfg.select_lam is None else cfg.select_lam
            node = _pick(node.children, lam, float(u[node.depth + 1]), cfg.greedy)
        return None

    def run(self, ctx: Context, cfg: Config) -> Output:
        steps = ctx.family.timesteps(ctx.steps)
        T, n, owner = len(steps), ctx.n, ctx.owners()
        roots = [Node(None, None, 0, -1) for _ in range(n)]
        left = [cfg.budget * T] * n
        leaves: list[list[Node]] = [[] for _ in range(n)]
        stalled = [0] * n
        for _ in ctx.progress(range(int(4 * cfg.budget * T) + 4), "dts"):
            u = ctx.streams.rand(owner, (T + 1,))  # (n, T+1) selection draws
            starts = {j: self._select(ctx, roots[j], cfg, left[j], u[j]) for j in range(n) if stalled[j] < 3}
            for j, node in starts.items():
                stalled[j] = stalled[j] + 1 if node is None else 0
            active = {j: node for j, node in starts.items() if node is not None}
            if not active:
                break
            for j, node in active.items():
                left[j] -= rollout_cost(ctx, node.depth, T)
            self._rollouts(ctx, self._grow_roots(ctx, active, steps), steps, leaves, cfg)
        return self._output(ctx, roots, leaves, cfg, T, owner)

    @staticmethod
    def _grow_roots(ctx: Context, active: dict[int, Node], steps) -> dict[int, Node]:
        """Replace every dummy-root start by a new child x_T ~ prior (with its prediction)."""
        at_root = [j for j, nd in active.items() if nd.depth < 0]
        if not at_root:
            return active
        own = torch.tensor(at_root, device=ctx.streams.device)
        x = ctx.family.prior(ctx.streams, own)  # (r, ...)
        pred = ctx.family.denoise(x, steps[0][0])
        for i, j in enumerate(at_root):
            child = Node(x, pred, i, 0, parent=active[j])
            active[j].children.append(child)
            active[j] = child
        return active

    def _rollouts(self, ctx: Context, active: dict[int, Node], steps, leaves, cfg: Config) -> None:
        """Roll every active tree out to x0 in one batch that grows as deeper starts join it."""
        fam, T = ctx.family, len(steps)
        ids: list[int] = []
        xs, preds, parents = None, None, []
        for d in range(min(nd.depth for nd in active.values()), T):
            new = [j for j, nd in active.items() if nd.depth == d]
            if new:
                ids += new
                parents += [active[j] for j in new]
                first, *rest = [active[j].pred for j in new]
                nx, npred = torch.cat([active[j].x for j in new]), first.concat(*rest)
                xs = nx if xs is None else torch.cat([xs, nx])
                preds = npred if preds is None else preds.concat(npred)
            t, s = steps[d]
            own = torch.tensor(ids, device=ctx.streams.device)
            xs = fam.proposal(xs, t, s, preds).sample(ctx.streams, own)  # (r, ...)
            preds = None if fam.is_clean(s) else fam.denoise(xs, s)
            children = [Node(xs, preds, i, d + 1, parent=par) for i, par in enumerate(parents)]
            for par, child in zip(parents, children):
                par.children.append(child)
            parents = children
        r = ctx.reward(xs, torch.tensor(ids, device=ctx.streams.device))
        for i, (leaf, j) in enumerate(zip(parents, ids)):
            leaf.v = float(r[i])
            leaves[j].append(leaf)
            _backup(leaf, cfg.lam)

    def _output(self, ctx: Context, roots, leaves, cfg: Config, T: int, owner) -> Output:
        out = []
        u = ctx.streams.rand(owner, (T + 1,))
        for j, root in enumerate(roots):
            if cfg.greedy:
                out.append(max(leaves[j], key=lambda nd: nd.v).x)
                continue
            node = root
            while node.depth < T:
                node = _pick(node.children, cfg.lam, float(u[j, node.depth + 1]), False)
            out.append(node.x)
        return Output(torch.cat(out), owner, {"leaves": sum(len(lv) for lv in leaves) / len(roots),
                                              "root_children": sum(len(r.children) for r in roots) / len(roots)})


METHOD = DTS()
