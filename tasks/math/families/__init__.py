"""The six PerturbArith families: ``FAMILIES[name] = FamilySpec(triple, skill)``."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from tasks.math.families import algebra, counting
from tasks.math.families.base import Reject, Triple, Variant


@dataclass(frozen=True)
class FamilySpec:
    """A family's two generators: a seed tuple (Original/Simple/Hard) and a skill-source item."""

    name: str
    triple: Callable[[random.Random], Triple]
    skill: Callable[[random.Random], Variant]


FAMILIES: dict[str, FamilySpec] = {s.name: s for s in (
    FamilySpec("LIN", algebra.lin_triple, algebra.lin_skill),
    FamilySpec("ABS", algebra.abs_triple, algebra.abs_skill),
    FamilySpec("SUM", counting.sum_triple, counting.sum_skill),
    FamilySpec("MODPOW", counting.modpow_triple, counting.modpow_skill),
    FamilySpec("RATE", counting.rate_triple, counting.rate_skill),
    FamilySpec("MINSQ", algebra.minsq_triple, algebra.minsq_skill),
)}

__all__ = ["FAMILIES", "FamilySpec", "Reject", "Triple", "Variant"]
