"""On-the-fly PerturbArith training data: an infinite, seeded stream of worked problems.

Each item picks a family uniformly, then its kind:

- with probability ``contamination``: a *seen* Original test tuple verbatim (``seed_in_train``), mirroring MATH's
  train-split seeds (MATH-Perturb's ``original_split``); 0 by default;
- else with probability ``hard_exposure`` (a float or a per-family mapping): a Hard-form item (fresh numbers);
- else with probability ``skill_rate``: a skill source (the Hard method in a different surface form, e.g.
  ``x-b=c``, ``|x-b|=k``, ``COUNT m..n STEP 2``, ``a^e MOD m``, ``NAME has p gives s``, ``min b*|x|+c``);
- else an Original-method item (a fresh Original or Simple variant).

Fresh items whose problem text is in the evaluation splits are redrawn, so a model can only memorise test
problems through the contamination knob. The stream is deterministic given its ``TrainConfig``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch

from tasks.math import tokens
from tasks.math.families import FAMILIES, Triple, Variant
from tasks.math.generator import Splits, draw, hard_violations, solution_violations
from tasks.math.records import SPLITS, Problem, load_split

KINDS = ("contamination", "hard", "skill", "original")


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of the training stream."""

    seed: int = 0
    hard_exposure: float | Mapping[str, float] = 0.02
    skill_rate: float = 0.2
    contamination: float = 0.0
    families: tuple[str, ...] = tuple(FAMILIES)

    def exposure(self, family: str) -> float:
        """``hard_exposure`` of one family."""
        h = self.hard_exposure
        return float(h.get(family, 0.0)) if isinstance(h, Mapping) else float(h)


def committed_splits() -> Splits:
    """The committed evaluation splits."""
    return Splits(*(load_split(s) for s in SPLITS))


class TrainStream:
    """Iterator of training ``Problem`` records (``split == "train"``); ``batch(n)`` gives (n, L) token ids."""

    def __init__(self, cfg: TrainConfig = TrainConfig(), splits: Splits | None = None) -> None:
        unknown = set(cfg.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)}")
        for name, p in (("skill_rate", cfg.skill_rate), ("contamination", cfg.contamination)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        self.cfg = cfg
        self.splits = splits if splits is not None else committed_splits()
        self.exclude = self.splits.texts()
        self.seen = [p for p in self.splits.original if p.seed_in_train and p.family in cfg.families]
        self.rng = random.Random(f"perturbarith-train:{cfg.seed}")

    def __iter__(self) -> Iterator[Problem]:
        return self

    def kind(self, family: str) -> str:
        """Draw the kind of the next item of ``family``."""
        u = self.rng.random()
        c, h = self.cfg.contamination if self.seen else 0.0, self.cfg.exposure(family)
        if u < c:
            return "contamination"
        if u < c + (1 - c) * h:
            return "hard"
        if u < c + (1 - c) * (h + (1 - h) * self.cfg.skill_rate):
            return "skill"
        return "original"

    def __next__(self) -> Problem:
        family = self.rng.choice(self.cfg.families)
        kind = self.kind(family)
        if kind == "contamination":
            p = self.rng.choice([q for q in self.seen if q.family == family] or self.seen)
            return Problem(p.problem_id, p.family, "train", p.form, p.problem, p.answer, p.solution, None, True, 0.0)
        spec = FAMILIES[family]
        while True:
            if kind == "skill":
                v: Variant = draw(spec.skill, self.rng, family)
            else:
                v = self._variant(family, kind)
            if v.problem not in self.exclude:
                return Problem(f"train-{kind}", family, "train", v.form, v.problem, v.answer, v.solution, v.shortcut,
                               False, 0.0)

    def _variant(self, family: str, kind: str) -> Variant:
        """A Hard variant, or an Original / Simple one (both use the Original method), of a fresh triple; only
        the variant that is used is checked (the pairing assertions concern the test splits)."""
        which = "hard" if kind == "hard" else self.rng.choice(["original", "simple"])
        pick = lambda t: getattr(t, which)
        test = hard_violations if kind == "hard" else solution_violations
        t: Triple = draw(FAMILIES[family].triple, self.rng, family, check=lambda t: test(pick(t)))
        return pick(t)

    def take(self, n: int) -> list[Problem]:
        """The next n records."""
        return [next(self) for _ in range(n)]

    def batch(self, n: int) -> torch.Tensor:
        """(n, L) long token ids of the next n worked problems (prompt + gold solution + PAD)."""
        recs = self.take(n)
        return tokens.encode_batch([p.problem for p in recs], [p.solution for p in recs])  # (n, L)
