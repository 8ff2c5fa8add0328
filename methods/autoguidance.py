"""`autoguidance` — guiding a diffusion model with a bad version of itself (Karras et al., NeurIPS 2024).

Update rule (``bench.quality``): D_w = D_0 + w·(D_1 − D_0) (EDM2's ``ref_Dx.lerp(Dx, w)``), where D_1 is the task's
network and D_0 its weak model (``Task.autoguide``: a smaller or shorter-trained model of the same data). EDM2
uses w ≈ 1.7–2.9; the default here is 2. The weak model's forwards are metered at their own relative cost, so
the cost model (computed at relative cost 1) is a bound: the method is ``anytime`` for the budget checks.
Cost: T forwards of D_1 + c·(active steps) of D_0; budgets above it are best-of-k.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.quality import QualityConfig, QualityMethod


@dataclass(frozen=True)
class Config(QualityConfig):
    w: float = 2.0


class Autoguidance(QualityMethod):
    key = "autoguidance"
    kind = "autoguidance"
    paper = "Karras et al., Guiding a Diffusion Model with a Bad Version of Itself (NeurIPS 2024)"
    anytime = True
    Config = Config


METHOD = Autoguidance()
