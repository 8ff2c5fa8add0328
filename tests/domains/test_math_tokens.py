"""math task: vocabulary, layout, encode/decode round trip and malformed decoding."""
from __future__ import annotations

import pytest
import torch

from tasks.math import tokens as T
from tasks.math.records import SPLITS, load_split


def test_vocabulary_and_layout_sizes():
    assert T.L <= 64 and 0 < T.P < T.L and len(set(T.VOCAB)) == T.V and T.MASK_ID == T.V and T.PAD_ID == 0
    assert T.V <= 64


@pytest.mark.parametrize("split", SPLITS)
def test_round_trip_on_committed_split(split):
    recs = load_split(split)
    x = T.encode_batch([p.problem for p in recs], [p.solution for p in recs])  # (N, L)
    assert x.shape == (len(recs), T.L) and x.max() < T.V
    for row, p in zip(x.tolist(), recs):
        d = T.decode(row)
        assert (d.problem, d.solution, d.masked, d.ok) == (p.problem, p.solution, 0, True)
        assert T.encode(d.problem, d.solution) == row
        assert row[T.P - 1] == T.A_ID  # the answer region always starts at P


def test_prompt_batch_masks_the_answer_region_only():
    x = T.encode_batch(["3*x+5=20", "SUM 3..9 STEP 2"])
    fixed = T.prompt_mask()
    assert (x[:, ~fixed] == T.MASK_ID).all() and (x[:, fixed] != T.MASK_ID).all()
    d = T.decode(x[0].tolist())
    assert d.problem == "3*x+5=20" and d.solution is None and d.masked == T.ANSWER_LEN and d.ok


def test_canonical_spacing():
    for text in ["ANA has 12 buys 3 packs of 5", "7^23 MOD 11", "min x^2+6*|x|+20", "56 MOD 9=2", "x/4+13=45"]:
        assert T.detokenize(T.tokenize(text)) == text
    assert T.tokenize("SUM 3..17") == ["SUM", "3", "..", "1", "7"]


@pytest.mark.parametrize("bad", ["3*y=2", "3 % 4", "SUMX 3..4"])
def test_unknown_text_raises_token_error(bad):
    with pytest.raises(T.TokenError):
        T.tokenize(bad)


def test_overlong_problem_or_solution_raises():
    with pytest.raises(T.TokenError):
        T.encode("1" * T.P, "1#1")
    with pytest.raises(T.TokenError):
        T.encode("1", "1" * (T.ANSWER_LEN + 1))


def test_malformed_rows_decode_without_raising():
    good = T.encode("3*x+5=20", "20-5=15;15/3=5#5")
    assert not T.decode(good[:-1]).ok  # wrong length
    assert not T.decode([T.V + 3] + good[1:]).ok  # out of range
    broken_prompt = list(good)
    broken_prompt[T.P - 1] = T.TOKEN_ID["+"]
    assert T.decode(broken_prompt).problem is None and not T.decode(broken_prompt).ok
    pad_inside = list(good)
    pad_inside[T.P + 2] = T.PAD_ID
    assert not T.decode(pad_inside).ok
    masked = list(good)
    masked[T.P + 4] = T.MASK_ID
    d = T.decode(masked)
    assert d.masked == 1 and d.solution is None and "_" in T.render(torch.tensor(masked))
