"""`toyseq`: an enumerable distribution over sequences (L = 6, V = 4) with the exact MDLM denoiser.

Base pmf: a Markov chain (initial [.4, .3, .2, .1], stay probability 0.85) over all 4⁶ = 4096 sequences.
The denoiser is exact by enumeration: for input x (hard ids or soft one-hot X), each sequence z gets the
likelihood Π_ℓ (X[ℓ, M] + X[ℓ, z_ℓ]); the posterior over z times p(z) gives the per-position marginals
p(x0ˡ | x_t). Objectives: `count` (number of token 0; differentiable on soft input as Σ_ℓ P[ℓ, 0]) and `motif`
(1 if the tokens 1, 2, 3 appear consecutively; non-differentiable) and `pattern` (positions equal to
0 1 2 3 0 1, against the chain's stay bias; differentiable on soft input). ``tilted_pmf`` gives p·exp(r/α) exactly.
Every objective is scored against its exact tilted pmf at λ = ``TARGET_LAM`` = 1: the main metric is the total
variation between the empirical distribution of the returned samples and that pmf, reported beside its noise floor
(the expected TV of n iid exact samples, computed exactly from the binomial marginals, ``tv_floor``).
"""
from __future__ import annotations

import contextlib
import itertools
import math
from functools import lru_cache
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from bench.diffusion.masked import MaskedFamily
from bench.reward import Reward
from bench.task import MetricMeta, Objective, Task

L, V = 6, 4
P_INIT = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
STAY = 0.85
WEAK_STAY = 0.6  # autoguidance's weak model: the same chain, less sticky
MOTIF = (1, 2, 3)
PATTERN = (0, 1, 2, 3, 0, 1)  # every position switches token: rare under the chain (stay 0.85)
TARGET_LAM = 1.0  # λ of the tilted target p·exp(λ r) every objective is scored against


def all_sequences() -> torch.Tensor:
    """Every sequence, (4096, L) long, in lexicographic order (index = base-4 number)."""
    return torch.tensor(list(itertools.product(range(V), repeat=L)))


def base_pmf() -> torch.Tensor:
    """p(z) for every sequence, (4096,) float64."""
    z = all_sequences()
    trans = transition()
    p = P_INIT[z[:, 0]].clone()
    for pos in range(1, L):
        p *= trans[z[:, pos - 1], z[:, pos]]
    return p / p.sum()


def count_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """Number of token 0; on soft input (N, L, V) the expected number Σ_ℓ P[ℓ, 0]."""
    if x0.dim() == 3:
        return x0[..., 0].sum(-1)
    return (x0 == 0).sum(-1).float()


def pattern_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """Number of positions equal to PATTERN; on soft input Σ_ℓ P[ℓ, PATTERN_ℓ]."""
    pat = torch.tensor(PATTERN, device=x0.device)
    if x0.dim() == 3:
        return x0.gather(2, pat.view(1, L, 1).expand(x0.shape[0], L, 1)).squeeze(-1).sum(-1)
    return (x0 == pat).sum(-1).float()


def motif_reward(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """1 if MOTIF occurs as a contiguous run."""
    w = x0.unfold(1, len(MOTIF), 1)  # (N, L−2, 3)
    return (w == torch.tensor(MOTIF, device=x0.device)).all(-1).any(-1).float()


def tilted_pmf(reward, alpha: float) -> torch.Tensor:
    """Exact p(z)·exp(r(z)/α), normalised, over ``all_sequences()``: (4096,)."""
    z = all_sequences()
    r = reward(z, torch.zeros(len(z), dtype=torch.long)).double()
    return torch.softmax(base_pmf().log() + r / alpha, 0)


def tv_floor(pmf: torch.Tensor, n: int) -> float:
    """Expected TV between the empirical pmf of n iid draws of ``pmf`` and ``pmf`` itself, exactly.

    E[½ Σ_z |N_z/n − q_z|] = ½ Σ_z E|N_z/n − q_z| with N_z ~ Binomial(n, q_z) (linearity of expectation), and
    de Moivre's mean absolute deviation E|N − nq| = 2 m C(n, m) q^m (1 − q)^(n−m+1) with m = ⌊nq⌋ + 1."""
    q = pmf.double().clamp(1e-300, 1 - 1e-16)  # (S,)
    m = torch.floor(n * q) + 1  # (S,)
    logc = math.lgamma(n + 1) - torch.lgamma(m + 1) - torch.lgamma(n - m + 1)
    mad = 2 * m * torch.exp(logc + m * q.log() + (n - m + 1) * torch.log1p(-q))  # (S,) E|N − nq|
    return 0.5 * float(torch.where(m <= n, mad, torch.zeros_like(mad)).sum()) / n


def empirical_tv(x0: torch.Tensor, pmf: torch.Tensor) -> float:
    """TV between the empirical distribution of sequences x0 (N, L) and ``pmf`` over ``all_sequences()``."""
    emp = torch.bincount(seq_index(x0), minlength=V**L).double() / len(x0)  # (4096,)
    return 0.5 * float((emp - pmf).abs().sum())


def seq_index(x0: torch.Tensor) -> torch.Tensor:
    """Index of each sequence in ``all_sequences()``: (N,)."""
    return (x0.cpu() * (V ** torch.arange(L - 1, -1, -1))).sum(-1)


def transition(stay: float = STAY) -> torch.Tensor:
    """Markov transition matrix (V, V)."""
    trans = torch.full((V, V), (1 - stay) / (V - 1), dtype=torch.float64)
    return trans.fill_diagonal_(stay)


class ExactDenoiser(nn.Module):
    """p(x0ˡ | x_t) exactly, by forward-backward over the Markov chain; accepts ids (B, L) or a soft one-hot
    (B, L, V+1). Position ℓ's evidence for token v is X[ℓ, M] + X[ℓ, v] (1 when masked, 1[v = token] when
    revealed), which is the enumeration formula factorised along the chain."""

    def __init__(self, stay: float = STAY) -> None:
        super().__init__()
        self.register_buffer("init", P_INIT.float())  # (V,)
        self.register_buffer("trans", transition(stay).float())  # (V, V)
        self.context_free = False

    @contextlib.contextmanager
    def attention_perturbed(self) -> Iterator[None]:
        """PAG's perturbed branch, exactly: with identity attention no position sees another, so inside the block
        each position's prediction uses its own token only (its chain marginal times its evidence)."""
        self.context_free = True
        try:
            yield
        finally:
            self.context_free = False

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        xs = F.one_hot(x, V + 1).float() if x.dim() == 2 else x  # (B, L, V+1)
        ev = xs[:, :, V:] + xs[:, :, :V]  # (B, L, V) evidence
        if self.context_free:
            prior = [self.init]
            for _ in range(1, L):
                prior.append(prior[-1] @ self.trans)
            marg = torch.stack(prior)[None] * ev  # (B, L, V)
            return (marg / marg.sum(-1, keepdim=True).clamp_min(1e-30)).clamp_min(1e-30).log()
        fwd = [self.init * ev[:, 0]]  # each (B, V), normalised for stability
        for pos in range(1, L):
            a = (fwd[-1] @ self.trans) * ev[:, pos]
            fwd.append(a / a.sum(1, keepdim=True).clamp_min(1e-30))
        bwd = [torch.ones_like(fwd[0])]
        for pos in range(L - 1, 0, -1):
            b = (ev[:, pos] * bwd[0]) @ self.trans.T
            bwd.insert(0, b / b.sum(1, keepdim=True).clamp_min(1e-30))
        marg = torch.stack(fwd, 1) * torch.stack(bwd, 1)  # (B, L, V)
        return (marg / marg.sum(-1, keepdim=True).clamp_min(1e-30)).clamp_min(1e-30).log()


REWARDS = {"count": (count_reward, True), "pattern": (pattern_reward, True), "motif": (motif_reward, False)}


@lru_cache(maxsize=None)
def target_pmf(name: str) -> torch.Tensor:
    """Exact tilted pmf p·exp(λ r) of objective ``name`` at λ = ``TARGET_LAM``: (4096,) float64."""
    return tilted_pmf(REWARDS[name][0], 1.0 / TARGET_LAM)


@lru_cache(maxsize=None)
def _floor(name: str, n: int) -> float:
    return tv_floor(target_pmf(name), n)


class ToySeqTask(Task):
    name = "toyseq"
    version = "2"  # 2: main metric = TV to the exact tilted pmf at λ = 1
    family_kind = "discrete"
    default_objective = "pattern"
    default_steps = 64
    default_n = 64
    metrics = {
        "tv": MetricMeta("TV to target", False, "total variation between the samples' empirical pmf and the exact "
                         "tilted pmf p·exp(λ r), λ = target_lam"),
        "tv_floor": MetricMeta("TV floor", False, "expected TV of n iid exact tilted samples (noise floor)"),
        "reward_err": MetricMeta("tilted-mean reward error", False, "|mean reward - exact E_target[r]|"),
        "reward": MetricMeta("oracle reward (mean)", True, "exact reward of the returned samples (secondary)",
                             per_sample=True),
        "reward_std": MetricMeta("reward std", False, "spread of the exact reward"),
        "unique": MetricMeta("unique fraction", True, "distinct sequences / samples"),
    }

    @classmethod
    def objectives(cls) -> list[str]:
        return ["count", "pattern", "motif"]

    def build_family(self) -> MaskedFamily:
        return MaskedFamily(ExactDenoiser().to(self.device), L, V)

    def objective(self, spec: str) -> Objective:
        if spec not in REWARDS:
            raise ValueError(f"toyseq has no objective {spec!r}; choose from {self.objectives()}")
        fn, diff = REWARDS[spec]
        proxy = Reward(spec, fn, differentiable=diff, role="proxy", floor=0.0)
        return Objective(spec, proxy, Reward(spec, fn, role="oracle"), main_metric="tv",
                         grad_proxy=proxy if diff else None, exact_proxy=True, target_lam=TARGET_LAM,
                         answer=lambda x0, instance: [tuple(r) for r in x0.tolist()])  # the sequence: mode-seeking

    def autoguide(self) -> tuple[nn.Module, float]:
        """A worse model of the same data: the exact denoiser of a less sticky chain (stay WEAK_STAY < STAY)."""
        return ExactDenoiser(WEAK_STAY).to(self.device), 1.0

    def decode(self, x0: torch.Tensor) -> list[Any]:
        return ["".join("ABCD"[v] for v in row) for row in x0.tolist()]

    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        oracle, proxy = objective.oracle(x0, instance), objective.proxy(x0, instance)
        dec = self.decode(x0)
        pmf = target_pmf(objective.name)
        exact_r = float((pmf * objective.oracle(all_sequences(), torch.zeros(V**L, dtype=torch.long))).sum())
        metrics = {"tv": empirical_tv(x0, pmf), "tv_floor": _floor(objective.name, len(x0)),
                   "reward_err": abs(float(oracle.mean()) - exact_r),
                   "reward": float(oracle.mean()), "reward_std": float(oracle.std()) if len(oracle) > 1 else 0.0,
                   "unique": len(set(dec)) / max(1, len(dec))}
        return metrics, [{"x": d, "proxy": float(p), "oracle": float(o), "reward": float(o)}
                         for d, p, o in zip(dec, proxy, oracle)]
