"""`cfg` — classifier-free guidance (Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 workshop).

Update rule (diffusers convention; ``bench.quality``): out = net(x_t, t, ∅) + w·(net(x_t, t, c) − net(x_t, t, ∅))
on the network output (ε / x0 / v, or logits: p_c^w · p_∅^(1−w) renormalised), then the family's ancestral step.
w = 1 is plain conditional sampling, w > 1 sharpens toward the condition. c is the objective's condition
(``Task.condition``: e.g. gmm ``label=k``, dna's cell type); the network was trained with label dropout (∅).
Guidance interval: ``--set lo=.. hi=..`` (only steps with lo < 1 − i/T <= hi run the ∅ branch).
Cost: T forwards + one per active step (2T with the full interval); budgets above it are best-of-k.
"""
from __future__ import annotations

from bench.quality import QualityMethod


class CFG(QualityMethod):
    key = "cfg"
    kind = "cfg"
    paper = "Ho & Salimans, Classifier-Free Diffusion Guidance (2021)"
    toy_objectives = {"gmm": "label=3"}


METHOD = CFG()
