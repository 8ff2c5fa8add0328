"""The math task's calibration set, the --hard-exposure forms and the label-free answer key."""
from __future__ import annotations

import argparse
from fractions import Fraction

import pytest
import torch

from tasks.math import instances, rewards, tokens
from tasks.math.pretrain import parse_exposure


def test_calibration_set_is_paired_and_shares_no_text_with_the_committed_splits():
    cal = instances.calibration_problems()
    committed = {p.problem for p in instances.problems()}
    assert cal and len(cal) % 3 == 0
    assert not {p.problem for p in cal} & committed
    for o, s, h in zip(cal[0::3], cal[1::3], cal[2::3]):
        assert (o.split, s.split, h.split) == ("original", "simple", "hard")
        assert o.problem_id == s.problem_id == h.problem_id
    assert {p.family for p in cal} == {p.family for p in instances.problems()}  # every family is calibrated


def test_hard_exposure_forms():
    assert parse_exposure("0.02") == 0.02
    assert parse_exposure("LIN=0.02, MINSQ=0") == {"LIN": 0.02, "MINSQ": 0.0}
    with pytest.raises(argparse.ArgumentTypeError, match="families: "):
        parse_exposure("LINEAR=0.1")


def test_answer_key_reads_the_final_answer_only_and_gives_none_when_it_does_not_parse():
    rows = tokens.encode_batch(["4*x+13=45"] * 3, ["45-13=32;32/4=8#8", "45-13=30;30/4=8#8", "9+=2332#"])
    keys = rewards.answer_key(rows)
    assert keys[0] == keys[1] == (Fraction(8),)  # different (wrong) steps, same final answer: one vote
    assert keys[2] is None
    masked = rows[:1].clone()
    hash_at = masked[0].tolist().index(tokens.VOCAB.index("#"))
    masked[0, hash_at + 1] = tokens.MASK_ID  # the answer digit still masked
    assert rewards.answer_key(masked) == [None]
    assert rewards.answer_key(torch.full((1, tokens.L), tokens.MASK_ID)) == [None]


class _Stop(Exception):
    """Raised by the stubbed ``fit`` to hand back the network it was given."""


def test_init_continues_from_the_given_solver_and_refuses_another_architecture(tmp_path, monkeypatch):
    from bench.train import RunDirs
    from bench.weights import write_manifest
    from tasks.math import models, pretrain
    from tasks.math.net import MathDenoiser

    start = MathDenoiser(tokens.V, tokens.L, **pretrain.BASE_CONFIG)
    (tmp_path / "w").mkdir()
    (tmp_path / "tiny").mkdir()
    models.save_denoiser(start, tmp_path / "w")
    write_manifest(tmp_path / "w")

    def stub_fit(name, net, loss, batcher, cfg, folder, probe):
        raise _Stop(net, cfg)
    monkeypatch.setattr(pretrain, "fit", stub_fit)
    with pytest.raises(_Stop) as got:
        pretrain.stage_denoiser(RunDirs(tmp_path / "run"), 0, True, "cpu", None, 0.02, init=tmp_path / "w")
    net, cfg = got.value.args
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), start.state_dict().values()))
    assert cfg.lr == pretrain.FINETUNE.lr  # the continuation recipe, not the from-scratch one

    models.save_denoiser(models.tiny_denoiser(), tmp_path / "tiny")
    write_manifest(tmp_path / "tiny")
    with pytest.raises(ValueError, match="solver config"):
        pretrain.stage_denoiser(RunDirs(tmp_path / "run2"), 0, True, "cpu", None, 0.02, init=tmp_path / "tiny")


def test_continuation_recipe_and_provenance(tmp_path):
    from bench.weights import sha256
    from tasks.math import models, pretrain

    assert pretrain.continuation(None) == (pretrain.DENOISER, {})
    (tmp_path / "w").mkdir()
    models.save_denoiser(models.tiny_denoiser(), tmp_path / "w")
    recipe, meta = pretrain.continuation(tmp_path / "w")
    assert recipe == pretrain.FINETUNE
    assert meta == {"init_from": str(tmp_path / "w"), "init_sha256": sha256(tmp_path / "w" / models.DENOISER)}
