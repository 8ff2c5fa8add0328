"""The SELFIES route (tasks/molecules/selfies_route.py): tokenisation round trip, the PAD rule, the quick run."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from tasks.molecules import data, models

sf = pytest.importorskip("selfies", reason='selfies: pip install -e ".[molecules]"')
from tasks.molecules.selfies_route import LENGTH, SelfiesVocab, corpus, run  # noqa: E402


@pytest.fixture(scope="module")
def some_smiles() -> list[str]:
    return data.read_smiles_gz(data.WEIGHTS_DIR / models.TRAIN_SMILES)[::97]  # ~1,000 committed QM9 SMILES


def test_round_trip_gives_back_the_canonical_smiles(some_smiles):
    vocab, x = corpus(some_smiles)  # (N, LENGTH)
    assert x.shape == (len(some_smiles), LENGTH) and vocab.symbols[0] == "[PAD]"
    assert int(x.max()) < vocab.size and vocab.mask_id == vocab.size
    assert vocab.decode(x) == some_smiles


def test_pad_inside_a_sample_or_an_empty_sample_is_invalid(some_smiles):
    longest = max(some_smiles, key=len)
    vocab, x = corpus([longest])
    row = x[0].clone()
    assert int((row != 0).sum()) >= 3
    hole = row.clone()
    hole[1] = 0  # PAD inside: not a suffix
    assert vocab.decode(torch.stack([hole, torch.zeros_like(row), row])) == [None, None, longest]


def test_any_symbol_string_decodes_to_a_molecule():
    """SELFIES' promise, which is the route's reason: random symbol rows with a PAD suffix all decode."""
    vocab = SelfiesVocab(("[PAD]", "[C]", "[N]", "[O]", "[=C]", "[Ring1]", "[Branch1]", "[#C]"))
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(1, vocab.size, (64, LENGTH), generator=gen)  # (64, L) no PAD
    x[:, 12:] = 0
    assert all(s is not None for s in vocab.decode(x))


def test_too_long_and_out_of_range_are_refused():
    vocab = SelfiesVocab(("[PAD]", "[C]"))
    with pytest.raises(ValueError, match="longer than 3"):
        vocab.encode(["[C][C][C][C]"], length=3)
    assert vocab.decode(torch.tensor([[1, 2, 0]])) == [None]  # id 2 is [MASK]/out of range


@pytest.mark.slow
def test_quick_run_writes_its_report_and_never_the_committed_weights(tmp_path):
    if importlib.util.find_spec("qm9pack") is None:
        pytest.skip('qm9pack: pip install -e ".[molecules]"')
    before = (data.WEIGHTS_DIR / "manifest.json").read_text()
    report = run(tmp_path / "run", steps=2, quick=True)
    saved = json.loads((tmp_path / "run" / "selfies_route.json").read_text())
    assert saved["quick"] and saved["train"]["steps"] == 2 and report["n"] == saved["n"]
    assert (tmp_path / "run" / "training_curves_selfies.png").exists()
    assert (data.WEIGHTS_DIR / "manifest.json").read_text() == before


def test_card_section_shows_bars_and_every_row_and_refuses_a_quick_run(tmp_path):
    from tasks.molecules.selfies_route import CARD_BEGIN, CARD_END, card_section, write_section

    q = {"validity": 0.97, "uniqueness": 0.96, "novelty": 0.81, "diversity": 0.92, "fcd": 2.5}
    report = {"steps": 64, "train": {"steps": 6000, "wall_s": 2700.0}, "quality": q, "vocab": ["[PAD]"] * 28}
    text = card_section(report, {**q, "validity": 0.523}, {**q, "novelty": 0.0, "fcd": 0.05})
    assert text.startswith(CARD_BEGIN) and text.rstrip().endswith(CARD_END)
    assert ">= 0.90" in text and "<= 1.00" in text and "| 0.523 |" in text and "| 2.500 |" in text
    assert "6,000 steps (45 min" in text and "28 SELFIES tokens" in text
    (tmp_path / "selfies_route.json").write_text(json.dumps({**report, "quick": True}))
    with pytest.raises(ValueError, match="quick"):
        write_section(tmp_path, data.WEIGHTS_DIR)
