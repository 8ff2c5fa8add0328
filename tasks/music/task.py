"""`music`: Bach-chorale piano-roll DDPM with the SCG rule objectives (Huang et al. 2024; TreeG's music task).

x0 (2, 48, 64) in {-1, 1}: roll and onset channels, MIDI 36..83, 64 sixteenth notes (4 bars of 4/4, 8 s at 120 bpm).
Objectives: ``pitch_histogram``, ``note_density``, ``chord_progression`` (SCG rules against held-out test
excerpts, one target per sample), ``all`` (their unweighted sum, TreeG's value) and ``quality`` (main metric OA;
quality guidance: ``pag`` perturbs the middle transformer block). Metrics: loss per rule and
overlapping area (OA) of mgeval-style features against the held-out excerpts.
"""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.diffusion.gaussian import GaussianFamily
from bench.task import MetricMeta, Objective, Task
from bench.weights import task_folder
from tasks.music.data import N_FRAMES, N_PITCH
from tasks.music.models import load_denoiser, tiny_denoiser
from tasks.music.net import RollDenoiser

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"
SHAPE = (2, N_PITCH, N_FRAMES)
CLIP_X0 = 1.0  # x0 lives in {-1, 1}: the sampler clamps x̂0 to the data's range (Ho et al. 2020's DDPM sampler)
ETA = 1.0  # DDPM-like ancestral steps (η = 0 was worse on every model tried; DESIGN_NOTES 44)
RULE_NAMES = ("pitch_histogram", "note_density", "chord_progression")
OA_FEATURES = ("used_pitch", "pitch_range", "pitch_class_hist", "avg_ioi", "note_length", "note_density")


def _metrics() -> dict[str, MetricMeta]:
    m = {f"loss_{r}": MetricMeta(f"{r} loss", False, f"mean SCG {r} loss vs the instance's target")
         for r in RULE_NAMES}
    m.update({f"loss_{r}_std": MetricMeta(f"{r} loss std", False, "spread over samples") for r in RULE_NAMES})
    m["loss_all"] = MetricMeta("summed rule loss", False, "sum of the three rule losses (TreeG's w = 1)")
    m["oa"] = MetricMeta("overlapping area", True, "mean OA over mgeval features vs held-out excerpts",
                         naturalness=True)
    m.update({f"oa_{f}": MetricMeta(f"OA {f}", True, "OA of one feature", naturalness=True) for f in OA_FEATURES})
    m["invalid_rate"] = MetricMeta("empty rolls", False, "fraction of samples with no note")
    return m


class MusicTask(Task):
    """Symbolic music (Bach chorales) with rule guidance."""

    name = "music"
    version = "3"  # 3: x̂0 clipped to [-1, 1] in sampling (DESIGN_NOTES 44)
    family_kind = "continuous"
    default_objective = "note_density"
    default_steps = 100
    default_n = 100
    default_budget = "4x"
    metrics = _metrics()
    naturalness = ("oa", *(f"oa_{f}" for f in OA_FEATURES))
    pretrain_entry = "tasks.music.pretrain:pretrain"
    requires = {"music21": "music", "pretty_midi": "music"}  # runtime modules -> guidebench extra (bench.runner)

    def __init__(self, tiny: bool = False, device: str = "cpu") -> None:
        super().__init__(tiny, device)
        from tasks.music.objectives import Targets
        self.targets = Targets()
        self._gt_features: list | None = None

    @classmethod
    def objectives(cls) -> list[str]:
        return [*RULE_NAMES, "all", "quality"]

    @cached_property
    def network(self) -> RollDenoiser:
        """The denoiser (lazy; sha256 checked once): the committed weights, or the tiny random miniature."""
        net = tiny_denoiser() if self.tiny else load_denoiser(task_folder(type(self)) or WEIGHTS_DIR, self.device)
        return net.to(self.device).eval().requires_grad_(False)

    def build_family(self) -> GaussianFamily:
        return GaussianFamily(self.network, SHAPE, schedule="cosine", eta=ETA, prediction="v", clip=CLIP_X0)

    def objective(self, spec: str) -> Objective:
        """A rule objective (its loss is the main metric; the proxy is exact), or ``quality``: no target, the main
        metric is OA against held-out excerpts (naturalness); a reward method may use the summed rule loss
        against the instance's real excerpt as its proxy, quality guidance (pag) uses none."""
        from tasks.music.objectives import build_rewards
        if spec == "quality":
            proxy, oracle, diff = build_rewards("all", self.targets)
            return Objective("quality", proxy, oracle, main_metric="oa", n_instances=self.targets.n,
                             grad_proxy=diff, quality=True)
        proxy, oracle, diff = build_rewards(spec, self.targets)
        # the proxy is the rule loss itself (on x̂0 during sampling, on x0 at the end): an exact reward
        return Objective(spec, proxy, oracle, main_metric=f"loss_{spec}", n_instances=self.targets.n,
                         grad_proxy=diff, exact_proxy=True)

    def decode(self, x0: torch.Tensor) -> list[Any]:
        """PrettyMIDI objects (None for an empty roll)."""
        from tasks.music.midi import decode
        return decode(x0)

    @classmethod
    def sample_figure(cls, rows: list[dict[str, Any]], path: Path, title: str) -> Path | None:
        """Piano rolls of the first four stored samples (their decoded notes)."""
        from tasks.music.data import notes_to_roll
        from tasks.music.metrics import save_piano_roll_figure

        rolls = [notes_to_roll(np.asarray(r["notes"], dtype=np.int64).reshape(-1, 3)) for r in rows[:4]]
        return save_piano_roll_figure(np.stack(rolls), path, n=4, title=title) if rolls else None

    def _gt(self) -> list:
        if self._gt_features is None:
            from tasks.music.metrics import features
            from tasks.music.midi import binarize, roll_to_notes
            roll, onset = binarize(self.targets.x0())
            self._gt_features = [features(roll_to_notes(r, o)) for r, o in zip(roll, onset)]
        return self._gt_features

    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        from tasks.music import rules as R
        from tasks.music.metrics import features, oa_scores
        from tasks.music.midi import binarize, roll_to_notes

        roll, onset = binarize(x0)
        valid = roll.reshape(len(roll), -1).any(1)  # (B,)
        per_rule = {}
        for rule in RULE_NAMES:
            loss = R.rule_loss(R.rule_values(x0, rule), self.targets.rule(rule, instance), rule)
            per_rule[rule] = np.where(valid, loss, np.nan)
        notes = [roll_to_notes(r, o) for r, o in zip(roll, onset)]
        metrics: dict[str, float] = {}
        for rule, loss in per_rule.items():
            metrics[f"loss_{rule}"] = _nanmean(loss)
            metrics[f"loss_{rule}_std"] = float(np.nanstd(loss)) if valid.any() else float("nan")
        metrics["loss_all"] = _nanmean(sum(per_rule.values()))
        metrics.update(oa_scores(self._gt(), [features(n) for n in notes]))
        metrics["invalid_rate"] = float(1 - valid.mean())
        proxy = objective.proxy(x0, instance).cpu().numpy()
        oracle = objective.oracle(x0, instance).cpu().numpy()
        rows = [{"notes": n.tolist(), "valid": bool(v), "proxy": float(p), "oracle": _num(o),
                 **{f"loss_{r}": _num(per_rule[r][k]) for r in RULE_NAMES}}
                for k, (n, v, p, o) in enumerate(zip(notes, valid, proxy, oracle))]
        return metrics, rows


def _nanmean(v: np.ndarray) -> float:
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _num(v: float) -> float | None:
    """JSON-safe float (None for NaN)."""
    return None if np.isnan(v) else float(v)
