"""`pag` — perturbed-attention guidance (Ahn et al., "Self-Rectifying Diffusion Sampling with Perturbed-Attention
Guidance", ECCV 2024).

Update rule (``bench.quality``): out = ε̂(x_t) + w·(ε(x_t) − ε̂(x_t)), where ε̂ is the same network with the
self-attention maps of its PAG layers replaced by the identity (softmax(QKᵀ) -> I, so attention returns V;
``bench.nets.identity_attention``). On a masked family the rule applies to logits. The paper's ADM setting is
w = 4 (its code's guide_scale, where 1 is no guidance); the default here is 3. Needs a network with an
``attention_perturbed()`` switch (the transformer denoisers; toyseq's exact denoiser has the context-free
analogue: every position predicted from its own token only).
Cost: T forwards + one per active step; budgets above it are best-of-k.
"""
from __future__ import annotations

from bench.quality import QualityMethod


class PAG(QualityMethod):
    key = "pag"
    kind = "pag"
    paper = "Ahn et al., Perturbed-Attention Guidance (ECCV 2024)"


METHOD = PAG()
