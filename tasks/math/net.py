"""Networks of the math task (modules only: no loading, no training, no global RNG).

:class:`MathDenoiser`: the MDLM solver, a bidirectional pre-LN transformer over the PerturbArith layout
(``tokens.L`` = 64 positions, ``tokens.V`` real tokens + [MASK]). ``forward(x, t)`` takes token ids (B, L) in
[0, V] (V = [MASK]) or a soft one-hot (B, L, V+1) (the differentiable path; the embedding is
``onehot @ embedding.weight``) and returns logits (B, L, V) over the real tokens. Absorbing-state diffusion needs
no time input; ``t`` is accepted and ignored. The prompt is an ordinary part of the input: it is never masked
(not in training, see ``bench.train.losses.masked_prompt``, and not by the sampler, see
``bench.diffusion.masked.MaskedFamily``), so the network reads it as the condition.
"""
from __future__ import annotations

from bench.nets import TokenTransformer


class MathDenoiser(TokenTransformer):
    """The shared MDLM transformer (``bench.nets.TokenTransformer``): (B, L) ids or (B, L, V+1) soft one-hot ->
    logits (B, L, V)."""
