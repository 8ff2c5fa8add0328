"""Masked (discrete, absorbing-state) family: the MDLM step written once for every discrete task.

Notation (specs/methods.md §2). x ∈ {0..V−1, M}^L with M = V. Time runs t = 1 → 0; m_t = mask probability.
    p_θ(x0ˡ = k | x_t)             per-position categorical from the logits over real tokens
    q(x_sˡ = k | x_t) ∝ p_θ(k)·(m_t − m_s),  q(x_sˡ = M) ∝ m_s      for masked ℓ; revealed ℓ are copied
    bridge:  a masked ℓ takes x0ˡ with probability (m_t − m_s)/m_t
    renoise: a revealed, non-prompt ℓ is re-masked with probability (m_t − m_s)/(1 − m_s)
The network is ``net(x, t) -> logits (B, L, V)`` with x either (B, L) long ids or a (B, L, V+1) soft one-hot
(the differentiable path) and t (B,) float. Optional prompt: (L,) long, −1 where free; prompt tokens are fixed.

Per-instance prompts (a conditional task such as ``math``, one problem per instance): ``prompt`` may also be a
(K, L) table, row k the prompt of instance k. A row's instance is read from its *owner* (the stream index every
primitive already receives), so no method changes: ``prior`` writes row ``instance_of(owner)`` of the table, and
``renoise`` never re-masks that row's fixed positions. Every other primitive keeps revealed tokens (proposal,
bridge, sample_x0, point copy them) and methods branch / resample whole rows, so once ``prior`` has written a
row's prompt it travels with the row. ``instance_of(owner)`` is ``owner_instance[owner]`` when that (R,) map is
given, else ``owner % K``: the runner ties returned sample j to instance j % K (``Objective.n_instances``) and
stream j to sample j, so ``owner % K`` is exact for one chain per sample; with k > 1 chains (stream c·n + j
belongs to sample j) it is exact only when K divides n, and whoever builds the streams can set
``family.owner_instance`` to its own map (the runner's ``inst``) to make it exact in every case. A (L,) prompt is
the K = 1 table (the old behaviour, unchanged).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.diffusion.prediction import Rows
from bench.diffusion.schedules import mask_prob
from bench.rng import Streams


@dataclass
class MaskPrediction(Rows):
    """Output of ``denoise``: log p_θ(x0 | x_t) with revealed positions pinned to their token."""

    x_t: torch.Tensor  # (B, L) long
    t: float
    logp: torch.Tensor  # (B, L, V) log-probabilities

    @property
    def probs(self) -> torch.Tensor:
        return self.logp.exp()


@dataclass
class CatProposal:
    """Factorised categorical transition: probs (B, L, V+1); last column is [MASK]."""

    probs: torch.Tensor

    def sample(self, rng: Streams, owner: torch.Tensor, k: int = 1) -> torch.Tensor:
        """k children per parent, parent-major: (B·k, L) long."""
        return rng.categorical(owner, self.probs, k)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Σ_ℓ log q(xˡ) -> (B,)."""
        p = self.probs.gather(-1, x.unsqueeze(-1)).squeeze(-1)  # (B, L)
        return p.clamp_min(1e-30).log().sum(-1)


class MaskedFamily:
    """MDLM sampler primitives over a task's logit network."""

    kind = "discrete"
    noise = None  # uniforms only (their transform has not changed since the first records)

    def __init__(self, net: nn.Module, length: int, vocab: int, prompt: torch.Tensor | None = None,
                 owner_instance: torch.Tensor | None = None) -> None:
        self.net = net
        self.length = int(length)
        self.vocab = int(vocab)
        self.mask_id = int(vocab)
        self.prompt = prompt  # None | (L,) | (K, L) long, −1 where free
        self.owner_instance = owner_instance  # None | (R,) long: instance of each owner (default owner % K)
        if prompt is not None and (prompt.dim() not in (1, 2) or prompt.shape[-1] != self.length):
            raise ValueError(f"prompt must be (L,) or (K, L) with L = {self.length}, got {tuple(prompt.shape)}")

    @property
    def n_prompts(self) -> int:
        """K, the number of prompt rows (1 for an (L,) prompt, 0 without a prompt)."""
        return 0 if self.prompt is None else (1 if self.prompt.dim() == 1 else int(self.prompt.shape[0]))

    def instance_of(self, owner: torch.Tensor) -> torch.Tensor:
        """Prompt-table row of each owner: ``owner_instance[owner]`` when given, else ``owner % K``: (R,) long."""
        owner = owner.long()
        if self.owner_instance is not None:
            return self.owner_instance.to(owner.device)[owner]
        return owner % max(1, self.n_prompts)

    def prompt_rows(self, owner: torch.Tensor, device: torch.device) -> torch.Tensor | None:
        """The prompt of each owner's instance, −1 where free: (R, L) long on ``device`` (None without a prompt)."""
        if self.prompt is None:
            return None
        table = self.prompt.view(-1, self.length).to(device)  # (K, L)
        return table[self.instance_of(owner).to(device)]  # (R, L)

    # -- schedule -------------------------------------------------------------------------------------------
    def timesteps(self, steps: int) -> list[tuple[float, float]]:
        """(t, s) pairs from t = 1 down to s = 0 in ``steps`` equal steps."""
        ts = torch.linspace(1.0, 0.0, steps + 1).tolist()
        return list(zip(ts[:-1], ts[1:]))

    def is_clean(self, s: float) -> bool:
        """True for the clean end of the chain (s = 0: nothing masked, no denoiser call)."""
        return s <= 0

    def m(self, t: float) -> float:
        return float(mask_prob(torch.tensor(t, dtype=torch.float64)))

    # -- primitives -----------------------------------------------------------------------------------------
    def prior(self, rng: Streams, owner: torch.Tensor) -> torch.Tensor:
        """All [MASK], the prompt of each owner's instance fixed: (len(owner), L) long."""
        x = torch.full((owner.numel(), self.length), self.mask_id, dtype=torch.long, device=rng.device)
        rows = self.prompt_rows(owner, x.device)  # (R, L) | None
        return x if rows is None else torch.where(rows >= 0, rows, x)

    def onehot(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, V+1) float one-hot, the input of the differentiable path."""
        return F.one_hot(x, self.vocab + 1).float()

    def denoise(self, x_t: torch.Tensor, t: float) -> MaskPrediction:
        """One network forward. Hard input (B, L): revealed positions are pinned. Soft input (B, L, V+1): the
        logits are mixed with the input's real-token mass so gradients reach every position."""
        if self.is_clean(t):
            raise ValueError(f"denoise at the clean time t = {t}: the chain ends there (see is_clean)")
        tt = torch.full((x_t.shape[0],), float(t), device=x_t.device)  # (B,)
        logp = self.net(x_t, tt).log_softmax(-1)  # (B, L, V)
        if x_t.dim() == 2:
            revealed = (x_t != self.mask_id).unsqueeze(-1)  # (B, L, 1)
            pinned = F.one_hot(x_t.clamp(max=self.vocab - 1), self.vocab).bool()
            logp = torch.where(revealed, torch.where(pinned, 0.0, -torch.inf), logp)
            return MaskPrediction(x_t, t, logp)
        m_col = x_t[..., self.mask_id:]  # (B, L, 1) mass on [MASK]
        probs = m_col * logp.exp() + x_t[..., : self.vocab]  # (B, L, V)
        return MaskPrediction(x_t.argmax(-1), t, probs.clamp_min(1e-30).log())

    def proposal(self, x_t: torch.Tensor, t: float, s: float, pred: MaskPrediction) -> CatProposal:
        """q_θ(x_s | x_t) from a cached prediction; revealed tokens are copied."""
        m_t, m_s = self.m(t), self.m(s)
        move = pred.probs * ((m_t - m_s) / m_t)  # (B, L, V)
        stay = torch.full_like(move[..., :1], m_s / m_t)  # (B, L, 1)
        probs = torch.cat([move, stay], -1)  # (B, L, V+1)
        revealed = (x_t != self.mask_id).unsqueeze(-1)
        probs = torch.where(revealed, self.onehot(x_t), probs)
        return CatProposal(probs)

    def margin_proposal(self, x_t: torch.Tensor, t: float, s: float, pred: MaskPrediction) -> CatProposal:
        """Top-probability-margin adaptive unmasking (Kim et al., ICML 2025): per row, the ancestral step's
        expected number of reveals n = round(#masked · (m_t − m_s)/m_t) (every masked position at the clean end
        s = 0) goes to the masked positions with the largest p_θ(top-1) − p_θ(top-2); their tokens are drawn
        from p_θ, every other masked position stays [MASK]. Deterministic in *where*, stochastic in *what*."""
        m_t, m_s = self.m(t), self.m(s)
        masked = x_t == self.mask_id  # (B, L)
        top2 = pred.probs.topk(2, dim=-1).values  # (B, L, 2)
        margin = torch.where(masked, top2[..., 0] - top2[..., 1], torch.full_like(top2[..., 0], -1.0))  # (B, L)
        n_open = masked.sum(-1)  # (B,)
        if not self.is_clean(s):
            n_open = (n_open.double() * (m_t - m_s) / m_t).round().long()
        rank = margin.argsort(dim=-1, descending=True, stable=True).argsort(dim=-1, stable=True)  # (B, L) 0 = widest
        take = (masked & (rank < n_open[:, None])).unsqueeze(-1)  # (B, L, 1)
        move = torch.cat([pred.probs, torch.zeros_like(pred.probs[..., :1])], -1)  # (B, L, V+1)
        keep = self.onehot(x_t)  # revealed: copied; masked and not chosen: stays [MASK]
        return CatProposal(torch.where(take, move, keep))

    def bridge(self, x_t: torch.Tensor, t: float, s: float, x0: torch.Tensor, rng: Streams,
               owner: torch.Tensor) -> torch.Tensor:
        """Unmask toward a given x0: each masked position takes x0ˡ w.p. (m_t − m_s)/m_t."""
        m_t, m_s = self.m(t), self.m(s)
        u = rng.rand(owner, (self.length,))  # (B, L)
        take = (x_t == self.mask_id) & (u < (m_t - m_s) / m_t)
        return torch.where(take, x0, x_t)

    def renoise(self, x_s: torch.Tensor, s: float, t: float, rng: Streams, owner: torch.Tensor) -> torch.Tensor:
        """Re-mask revealed, non-prompt positions w.p. (m_t − m_s)/(1 − m_s)."""
        m_t, m_s = self.m(t), self.m(s)
        u = rng.rand(owner, (self.length,))  # (B, L)
        hit = (x_s != self.mask_id) & (u < (m_t - m_s) / max(1e-12, 1 - m_s))
        rows = self.prompt_rows(owner, hit.device)  # (B, L) | None
        if rows is not None:
            hit &= rows < 0
        return torch.where(hit, torch.full_like(x_s, self.mask_id), x_s)

    def sample_x0(self, pred: MaskPrediction, rng: Streams, owner: torch.Tensor, k: int = 1) -> torch.Tensor:
        """k categorical draws of x0 per row (revealed positions kept): (B·k, L)."""
        return rng.categorical(owner, pred.probs, k)

    def point(self, pred: MaskPrediction) -> torch.Tensor:
        """Argmax fill of the masked positions, revealed tokens kept: (B, L)."""
        return pred.logp.argmax(-1)

    # -- differentiable path (gradient methods) ---------------------------------------------------------------
    def grad_input(self, x: torch.Tensor) -> torch.Tensor:
        """The leaf a gradient is taken with respect to: the one-hot (B, L, V+1) of x_t."""
        return self.onehot(x)

    def soft_x0(self, pred: MaskPrediction) -> torch.Tensor:
        """Expected clean sequence as probabilities (B, L, V): the input of a differentiable reward."""
        return pred.probs

    def as_soft(self, x0: torch.Tensor) -> torch.Tensor:
        """A clean sequence (B, L) in the gradient reward's input format: its one-hot over real tokens (B, L, V)."""
        return self.onehot(x0)[..., : self.vocab]

    def tilt(self, base: CatProposal, x_t: torch.Tensor, grad: torch.Tensor, scale: float) -> CatProposal:
        """The base step tilted by G = ∇ w.r.t. ``grad_input(x_t)`` (R, L, V+1), TAG's rule: on masked ℓ,
        q(x_sˡ = k) ∝ q_θ(k)·exp(scale·(G[ℓ,k] − G[ℓ,M])) for real k (exponent clamped to ±80), [MASK] and
        revealed rows unchanged."""
        v = self.vocab
        expo = (scale * (grad[..., :v] - grad[..., v:])).clamp(-80, 80)  # (R, L, V)
        probs = base.probs.clone()
        masked = (x_t == self.mask_id).unsqueeze(-1)  # (R, L, 1)
        real = torch.where(masked, probs[..., :v] * expo.exp(), probs[..., :v])
        probs = torch.cat([real, probs[..., v:]], -1)  # (R, L, V+1)
        return CatProposal(probs / probs.sum(-1, keepdim=True).clamp_min(1e-30))
