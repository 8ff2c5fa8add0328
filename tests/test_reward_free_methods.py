"""The reward-free baselines: majority vote (answer key, no reward call) and top-margin unmasking."""
from __future__ import annotations

import pytest
import torch
from conftest import run_method

from bench.diffusion.masked import MaskedFamily, MaskPrediction
from bench.method import Incompatible
from bench.registry import methods
from bench.rng import Streams
from methods.majority import vote


def test_vote_picks_the_first_member_of_the_largest_group_and_ignores_missing_answers():
    assert vote(["a", "b", "b", "a", "b"]) == 1
    assert vote([None, "x", None, None]) == 1  # three missing answers are no group
    assert vote(["a", "b"]) == 0  # a tie goes to the group drawn first
    assert vote([None, None]) == 0


def test_majority_needs_an_answer_key():
    m = methods().get("majority")
    m.check("discrete", False, True)
    with pytest.raises(Incompatible, match="answer key"):
        m.check("continuous", True, False)


def test_majority_returns_a_member_of_the_largest_answer_group():
    """Key = first token of a toyseq sequence: every returned sample's key is the most frequent of its N draws."""
    from collections import Counter

    from bench.method import Context
    from bench.runner import build_task
    from methods.majority import METHOD, Config

    seen: list[int] = []

    def answer(x0: torch.Tensor, owner: torch.Tensor) -> list[int]:
        seen.extend(int(r[0]) for r in x0.tolist())
        return [int(r[0]) for r in x0.tolist()]

    n, k = 12, 8
    ctx = Context(family=build_task("toyseq", False, "cpu").build_family(), reward=None, streams=Streams(0, range(n)),
                  n=n, steps=8, answer=answer)
    out = METHOD.run(ctx, Config(N=k))
    for j in range(n):
        counts = Counter(seen[j * k:(j + 1) * k])
        assert counts[int(out.x0[j, 0])] == max(counts.values())
    assert out.owner.tolist() == list(range(n))


def test_majority_calls_no_reward():
    out, meter, cfg, _ = run_method("toyseq", "majority", "pattern", budget="4x", n=8, steps=8)
    assert cfg.N == 4 and meter.reward_calls == 0 and meter.nfe == 8 * 4 * 8
    assert methods().get("majority").reward_free


def _family(probs: torch.Tensor) -> tuple[MaskedFamily, MaskPrediction]:
    fam = MaskedFamily(torch.nn.Identity(), probs.shape[1], probs.shape[2])
    x = torch.full(probs.shape[:2], fam.mask_id)
    x[0, 0] = 1  # one revealed position
    return fam, MaskPrediction(x, 1.0, probs.log())


def test_margin_proposal_reveals_the_scheduled_count_at_the_widest_margins():
    probs = torch.tensor([[[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.1, 0.8, 0.1],
                           [0.34, 0.33, 0.33]]])  # (1, 5, 3) margins 0, .85, .05, .7, .01
    fam, pred = _family(probs)
    t, s = 0.8, 0.4
    q = fam.margin_proposal(pred.x_t, t, s, pred).probs  # (1, 5, 4)
    n = round(4 * (fam.m(t) - fam.m(s)) / fam.m(t))
    opened = (q[0, :, fam.mask_id] == 0) & (pred.x_t[0] == fam.mask_id)
    assert int(opened.sum()) == n == 2
    assert opened.tolist() == [False, True, False, True, False]  # the two widest margins among the masked
    assert torch.equal(q[0, 0], fam.onehot(torch.tensor(1))[:])  # revealed: copied
    assert torch.allclose(q[0, 1, :3], probs[0, 1])  # chosen: p_theta's tokens
    last = fam.margin_proposal(pred.x_t, 0.2, 0.0, pred).sample(Streams(0, [0]), torch.tensor([0]))
    assert (last != fam.mask_id).all()  # the clean end reveals everything


def test_top_margin_costs_what_none_costs_and_finishes_every_row():
    out, meter, _, task = run_method("toyseq", "top-margin", "pattern", budget="1x", n=16, steps=8)
    assert meter.nfe == 16 * 8 and meter.reward_calls == 0
    assert (out.x0 != task.build_family().mask_id).all()
