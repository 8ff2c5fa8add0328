"""Issue 11's "sampling schedule" route for molecules validity: the committed denoiser under sampler variants.

Each variant samples the card's 1000 unguided molecules (64 steps, seed 0) with the committed `denoiser.pt` and
is scored as the card scores the base model (validity, uniqueness of the valid, novelty of the unique valid,
diversity, FCD to the test split):
- `ancestral`: the MDLM ancestral sampler every molecules record uses (it must reproduce the card's row);
- `margin`: top-probability-margin unmasking (`MaskedFamily.margin_proposal`, Kim et al. 2025; the `top-margin`
  method at 1x), the same reveal counts put where the model is surest;
- `T<τ>`: logits divided by τ < 1 before the softmax (a sharper p_θ), alone or with `margin`.
Writes a markdown section into the card (outside the manifest: no record changes). No variant is the task's
sampler: adopting one would change every molecules record, so it is decided on the section's numbers.
Usage: python scripts/molecules_sampler_routes.py [--variants ancestral,margin,T0.9,T0.8,margin-T0.9]
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from bench.diffusion.ancestral import sample_unguided
from bench.diffusion.masked import MaskedFamily
from bench.weights import put_card_section
from tasks.molecules import chem
from tasks.molecules.card import DEFAULT_STEPS
from tasks.molecules.data import LENGTH, V, decode_tokens
from tasks.molecules.models import load_models

BEGIN, END = "<!-- sampler-routes: written by scripts/molecules_sampler_routes.py -->", "<!-- /sampler-routes -->"
COLS = ("validity", "uniqueness", "novelty", "diversity", "fcd")
BARS = {"validity": (">= 0.90", lambda v: v >= 0.90), "uniqueness": (">= 0.95", lambda v: v >= 0.95),
        "novelty": (">= 0.50", lambda v: v >= 0.50), "fcd": ("<= 1.00", lambda v: v <= 1.00)}  # issue 11
N, SEED = 1000, 0


class Sharpened(torch.nn.Module):
    """The denoiser with its logits divided by ``tau`` (tau < 1 sharpens p_θ)."""

    def __init__(self, net: torch.nn.Module, tau: float) -> None:
        super().__init__()
        self.net, self.tau = net, float(tau)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x, t) / self.tau  # (B, L, V)


def parse(variant: str) -> tuple[bool, float]:
    """'margin-T0.9' -> (margin unmasking?, tau); SystemExit naming the accepted forms otherwise."""
    parts = variant.split("-")
    margin = parts[0] == "margin"
    rest = parts[1:] if margin or parts[0] == "ancestral" else parts
    if len(rest) > 1 or (rest and not rest[0].startswith("T")):
        raise SystemExit(f"variant {variant!r}: use ancestral, margin, T<tau> or margin-T<tau> (e.g. margin-T0.9)")
    return margin, float(rest[0][1:]) if rest else 1.0


class MarginFamily(MaskedFamily):
    """The masked family with top-probability-margin unmasking as its step (``MaskedFamily.margin_proposal``)."""

    proposal = MaskedFamily.margin_proposal


def sample(net: torch.nn.Module, variant: str, n: int = N, steps: int = DEFAULT_STEPS,
           seed: int = SEED) -> torch.Tensor:
    """n molecules' token ids (n, L) under one sampler variant: the card's own loop (``sample_unguided``)."""
    margin, tau = parse(variant)
    family = (MarginFamily if margin else MaskedFamily)(Sharpened(copy.deepcopy(net), tau), LENGTH, V)
    with torch.inference_mode():
        return sample_unguided(family, n, steps, seed)  # (n, L)


def section(rows: dict[str, dict]) -> str:
    """The card section: one row per variant beside the bars."""
    body = "\n".join(f"| `{v}` | " + " | ".join(f"{q[c]:.3f}" for c in COLS) + " |" for v, q in rows.items())
    met = {v: sum(ok(q[c]) for c, (_, ok) in BARS.items()) for v, q in rows.items()}
    best = max(rows, key=lambda v: rows[v]["validity"])
    verdict = "meets" if BARS["validity"][1](rows[best]["validity"]) else "stays under"
    return f"""{BEGIN}
## Sampler variants of the committed denoiser (issue 11's sampling-schedule route)

{N} unguided samples, {DEFAULT_STEPS} steps, seed {SEED}, scored as above (`T<τ>`: logits / τ; `margin`:
top-probability-margin unmasking, the `top-margin` method at 1x):

| variant | {' | '.join(COLS)} |
|---|{'---|' * len(COLS)}
| bar | {' | '.join(BARS[c][0] if c in BARS else '-' for c in COLS)} |
{body}

Bars met (of 4): {', '.join(f'`{v}` {k}' for v, k in met.items())}. The highest validity, `{best}`
({rows[best]['validity']:.3f}), {verdict} the validity bar with FCD {rows[best]['fcd']:.3f}. No variant is the task's
sampler: adopting one would change every molecules record, decided on all four bars.
{END}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=Path("tasks/molecules/weights"))
    ap.add_argument("--variants", default="ancestral,margin,T0.9,T0.8,margin-T0.9")
    args = ap.parse_args()
    variants = args.variants.split(",")
    for v in variants:
        parse(v)  # every name checked before any sampling
    torch.set_num_threads(1)
    models = load_models(args.weights)
    rows = {}
    for v in variants:
        smiles = chem.canonical_or_none(decode_tokens(sample(models.denoiser, v)))
        rows[v] = chem.set_quality(smiles, models.train_smiles, models.fcd)
        print(v, {c: round(float(rows[v][c]), 3) for c in COLS}, flush=True)
    text = section(rows)
    put_card_section(args.weights / "MODEL_CARD.md", BEGIN, END, text)
    print(text)


if __name__ == "__main__":
    main()
