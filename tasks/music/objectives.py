"""Rewards of the music task: SCG rule losses against held-out targets (exact proxy/oracle and surrogates).

Proxy = −(rule loss of the decoded x̂0) (non-differentiable; the floor for an empty roll); oracle = the same on the
final sample (NaN for an empty roll). ``Objective.grad_proxy`` = −MSE of the smooth surrogate (pitch histogram, note
density). Each sample's target is ``targets[instance % n_targets]``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.reward import Reward
from tasks.music import rules as R
from tasks.music.data import DATA_DIR, N_FRAMES, N_PITCH

TARGETS_FILE = DATA_DIR / "test_targets.npz"
OBJECTIVES = (*R.RULES, "all")
FLOORS = {"pitch_histogram": -2.0, "note_density": -1e3, "chord_progression": -2.0, "all": -1e3}
SURROGATES = {"pitch_histogram": R.soft_pitch_histogram, "note_density": R.soft_note_density}


class Targets:
    """Held-out test excerpts and their rule values (``data/test_targets.npz``)."""

    def __init__(self, path: Path = TARGETS_FILE) -> None:
        d = np.load(path)
        n = int(d["n"])
        self.excerpts = np.unpackbits(d["excerpts"])[: n * 2 * N_PITCH * N_FRAMES].reshape(n, 2, N_PITCH, N_FRAMES)
        self.values = {r: d[r] for r in R.RULES}  # (n, d) each
        self.n = n

    def rule(self, rule: str, instance: torch.Tensor) -> np.ndarray:
        """Target rule vectors of each sample: (B, d)."""
        return self.values[rule][instance.cpu().numpy() % self.n]

    def x0(self) -> torch.Tensor:
        """Excerpts as a (n, 2, 48, 64) roll in {-1, 1}."""
        return torch.from_numpy(self.excerpts.astype(np.float32) * 2 - 1)


def losses(x0: torch.Tensor, instance: torch.Tensor, targets: Targets, rules: tuple[str, ...]) -> np.ndarray:
    """Sum over ``rules`` of each sample's exact rule loss, (B,) float64."""
    total = np.zeros(x0.shape[0])
    for rule in rules:
        total += R.rule_loss(R.rule_values(x0, rule), targets.rule(rule, instance), rule)
    return total


def _exact_fn(targets: Targets, rules: tuple[str, ...], invalid: float):
    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        loss = losses(x0, instance, targets, rules)  # (B,)
        empty = ~(x0[:, 0] > 0).flatten(1).any(1).cpu().numpy()
        out = np.where(empty, invalid, -loss)
        return torch.as_tensor(out, dtype=torch.float32, device=x0.device)
    return fn


def _surrogate_fn(targets: Targets, rule: str):
    def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        tgt = torch.as_tensor(targets.rule(rule, instance), dtype=x0.dtype, device=x0.device)  # (B, d)
        return -(SURROGATES[rule](x0) - tgt).pow(2).mean(1)  # (B,)
    return fn


def build_rewards(spec: str, targets: Targets) -> tuple[Reward, Reward, Reward | None]:
    """(proxy, oracle, differentiable surrogate or None) of an objective."""
    if spec not in OBJECTIVES:
        raise ValueError(f"music has no objective {spec!r}; choose from {list(OBJECTIVES)}")
    rules = R.RULES if spec == "all" else (spec,)
    on = "decoded" if "chord_progression" in rules else "x0"
    proxy = Reward(spec, _exact_fn(targets, rules, FLOORS[spec]), on=on, role="proxy", floor=FLOORS[spec])
    oracle = Reward(spec, _exact_fn(targets, rules, float("nan")), on=on, role="oracle")
    diff = None
    if spec in SURROGATES:
        diff = Reward(f"{spec}_surrogate", _surrogate_fn(targets, spec), on="x0", differentiable=True,
                      role="proxy", floor=FLOORS[spec])
    return proxy, oracle, diff
