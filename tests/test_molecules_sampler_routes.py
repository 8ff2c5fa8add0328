"""scripts/molecules_sampler_routes.py: its `ancestral` variant is the card's sampler bit for bit, `T1` is
`ancestral`, margin unmasking differs, bad variant names are refused, and the section counts the bars met."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from bench.diffusion.ancestral import sample_unguided
from bench.diffusion.masked import MaskedFamily
from tasks.molecules.data import LENGTH, V
from tasks.molecules.models import load_models

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("molecules_sampler_routes",
                                               ROOT / "scripts" / "molecules_sampler_routes.py")
routes = importlib.util.module_from_spec(_spec)
sys.modules["molecules_sampler_routes"] = routes
_spec.loader.exec_module(routes)


def test_ancestral_is_the_cards_sampler():
    net = load_models(ROOT / "tasks" / "molecules" / "weights").denoiser
    card = sample_unguided(MaskedFamily(net, LENGTH, V), 6, 8, seed=3)  # (6, L)
    assert torch.equal(routes.sample(net, "ancestral", n=6, steps=8, seed=3), card)
    assert torch.equal(routes.sample(net, "T1", n=6, steps=8, seed=3), card)
    assert not torch.equal(routes.sample(net, "margin", n=6, steps=8, seed=3), card)


@pytest.mark.parametrize("bad", ["foo", "margin-x", "T0.9-margin", "margin-T0.9-T0.8"])
def test_bad_variants_are_refused(bad):
    with pytest.raises(SystemExit, match="use ancestral, margin"):
        routes.parse(bad)


def test_section_counts_bars():
    good = dict(validity=0.95, uniqueness=0.99, novelty=0.6, diversity=0.9, fcd=0.8)
    poor = dict(validity=0.5, uniqueness=0.99, novelty=0.6, diversity=0.9, fcd=1.3)
    text = routes.section({"a": poor, "b": good})
    assert "`a` 2, `b` 4" in text and "`b`\n(0.950), meets the validity bar" in text
