"""math task: r_exact / r_check / r_step / shortcut detection on hand cases, malformed and partial rows."""
from __future__ import annotations

import pytest
import torch

from tasks.math import rewards as R
from tasks.math import tokens as T
from tasks.math.records import load_split


def _x(*pairs: tuple[str, str]) -> torch.Tensor:
    return T.encode_batch([p for p, _ in pairs], [s for _, s in pairs])  # (N, L)


def _mask(x: torch.Tensor, cols: list[int]) -> torch.Tensor:
    y = x.clone()
    y[:, [T.P + c for c in cols]] = T.MASK_ID
    return y


def test_gold_solutions_score_one_on_every_reward():
    recs = load_split("hard")
    x = _x(*[(p.problem, p.solution) for p in recs])
    inst = torch.arange(len(recs))
    assert R.r_exact(x, [p.answer for p in recs], inst).eq(1).all()
    assert R.r_step(x).eq(1).all()
    avail = torch.tensor([R.CHECK_AVAILABLE[p.family] for p in recs])
    assert R.r_check(x)[avail].eq(1).all() and R.r_check(x)[~avail].eq(0).all()
    assert R.ShortcutDetector([p.shortcut_answer for p in recs])(x, inst).eq(0).all()


@pytest.mark.parametrize("problem,solution,exact,check,step", [
    ("3*x+5=20", "20-5=15;15/3=5#5", 1, 1, 1.0),
    ("3*x+5=20", "20-5=15;15/3=4#4", 0, 0, 1 / 3),  # wrong division; the answer is no *valid* step's result
    ("3*x+5=20", "20-5=15;15/3=5#6", 0, 0, 2 / 3),  # steps fine, answer dangling
    ("3*x+5=20", "9+=2332", 0, 0, 0.0),  # malformed step, no answer
    ("3*x+5=20", "9+=2332#5", 1, 1, 0.0),  # malformed step: the oracle grades the final answer only
    ("3*x+5=20", "#5", 1, 1, 0.0),  # bare answer: right, but nothing to check except consistency (fails)
    ("3*x+5=20", "7+8=15;15/3=5#5", 1, 1, 0.0),  # valid steps, ungrounded first step
    ("3*x+5=20", "20-5=15;15/3=5#5,5", 0, 0, 1.0),  # repeated root: not an answer, r_step still 1
    ("3*x+5=20", "20-5=15;15/3=5#5;", 0, 0, 2 / 3),  # garbage after the answer
    ("3*x+5=20", "20-5=15;;15/3=5#5", 1, 1, 0.75),  # empty step
])
def test_hand_cases(problem, solution, exact, check, step):
    x = _x((problem, solution))
    assert R.r_exact(x, ["5"], torch.zeros(1, dtype=torch.long)).item() == exact
    assert R.r_check(x).item() == check
    assert R.r_step(x).item() == pytest.approx(step)


def test_abs_checker_is_sound_not_complete_and_shortcut_is_detected():
    x = _x(("4*|x-21|=12", "12/4=3;21-3=18;21+3=24#18,24"), ("4*|x-21|=12", "12/4=3;3+21=24#24"),
           ("4*|x-21|=12", "12/4=3;21-3=18;21+3=24#18,25"))
    inst = torch.zeros(3, dtype=torch.long)
    assert R.r_exact(x, ["18,24"], inst).tolist() == [1, 0, 0]
    assert R.r_check(x).tolist() == [1, 1, 0]  # the single root passes substitution: the documented blind spot
    assert R.r_step(x).tolist() == [1, 1, pytest.approx(0.75)]  # M1 on Hard is valid arithmetic
    assert R.ShortcutDetector(["24"])(x, inst).tolist() == [0, 1, 0]


@pytest.mark.parametrize("problem,m1", [
    ("4^25 MOD 7", "4*25=100;100 MOD 7=2#2"), ("SUM 9..21 STEP 2", "21-9=12;12+1=13;9+21=30;13*30=390;390/2=195#195"),
    ("DIA has 65 gives 8 packs of 8", "8*8=64;65+64=129#129"), ("min x^2+12*|x|+59", "12/2=6;6*6=36;59-36=23#23"),
])
def test_m1_applied_to_hard_is_the_step_checkers_blind_spot(problem, m1):
    x = _x((problem, m1))
    short = m1.split("#")[1]
    assert R.r_step(x).item() == 1.0 and R.r_check(x).item() == 0.0
    assert R.ShortcutDetector([short])(x, torch.zeros(1, dtype=torch.long)).item() == 1.0


@pytest.mark.parametrize("problem,right,wrong", [
    ("SUM 3..9 STEP 2", "24", "42"), ("COUNT 3..9 STEP 2", "4", "7"), ("4^25 MOD 7", "4", "2"),
    ("4*25 MOD 7", "2", "4"), ("min x^2+12*|x|+59", "59", "23"), ("min x^2-12*x+52", "16", "52"),
    ("x/4+13=45", "128", "8"), ("4*(x+19)=80", "1", "61/4"),
])
def test_label_free_checker_per_family(problem, right, wrong):
    x = _x((problem, "#" + right), (problem, "#" + wrong))
    assert R.r_check(x).tolist() == [1, 0]


def test_rate_has_no_checker():
    x = _x(("ANA has 12 buys 3 packs of 5", "3*5=15;12+15=27#27"))
    assert R.r_check(x).item() == 0 and R.r_step(x).item() == 1


def test_fraction_answers_compare_exactly():
    x = _x(("3*x+5=20", "#10/2"), ("3*x+5=20", "#5/1"), ("3*x+5=20", "#5/0"), ("3*x+5=20", "#-5"))
    assert R.r_exact(x, ["5"], torch.zeros(4, dtype=torch.long)).tolist() == [1, 1, 0, 0]


def test_partial_rows_score_only_unmasked_steps():
    x = _x(("3*x+5=20", "20-5=15;15/3=5#5"), ("3*x+5=20", "20-5=14;15/3=5#5"))
    partial = _mask(x, list(range(8, T.ANSWER_LEN)))  # first step and ';' visible
    assert R.r_step(partial).tolist() == [1.0, 0.0]
    assert R.r_exact(partial, ["5"], torch.zeros(2, dtype=torch.long)).eq(0).all()
    assert R.r_check(partial).eq(0).all()
    hidden_digit = _mask(x[:1], [6])  # the '5' of 15: the first step is not checkable, the second is
    assert R.r_step(hidden_digit).item() == 1.0
    assert R.r_step(_mask(x, list(range(T.ANSWER_LEN)))).eq(R.EMPTY).all()
    assert R.answer_state(partial) == ["masked", "masked"]


def test_never_raises_on_random_and_soft_rows():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, T.V + 1, (256, T.L), generator=gen)  # (256, L) with MASK
    x[:, :T.P] = torch.tensor(T.encode_prompt("3*x+5=20"))
    for fn in (R.r_step, R.r_check):
        out = fn(x)
        assert out.shape == (256,) and torch.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()
    soft = torch.nn.functional.one_hot(_x(("3*x+5=20", "20-5=15;15/3=5#5")), T.V + 1).float()  # (1, L, V+1)
    assert R.r_step(soft).item() == 1.0
    garbage = torch.full((2, T.L), T.V + 7)
    assert R.r_step(garbage).tolist() == [0.0, 0.0]  # no answer: the consistency check fails
    assert R.r_exact(garbage, ["5"], torch.zeros(2, dtype=torch.long)).eq(0).all()


def test_roles_are_explicit():
    assert R.ROLES == {"r_exact": "oracle", "r_check": "proxy", "r_step": "proxy"}
    assert R.ExactOracle.role == "oracle" and set(R.CHECKS) == set(R.CHECK_AVAILABLE)


@pytest.mark.parametrize("text,x,value", [
    ("2+3*4", 0, 14), ("2*x^2-3", 3, 15), ("4*|x-21|", 18, 12), ("x/4+13", 128, 45), ("2^3^2", 0, 512),
    ("(1+2)*3", 0, 9), ("1/0", 0, None), ("3+", 0, None), ("(1+2", 0, None), ("05+1", 0, None), ("2^99", 0, None),
])
def test_expression_evaluator(text, x, value):
    from tasks.math import expr
    out = expr.evaluate(T.tokenize(text), x)
    assert out == value


@pytest.mark.parametrize("text,ok", [
    ("3+4=7", True), ("15/3=5", True), ("7/2=3", False), ("100 MOD 7=2", True), ("4^3=64", True),
    ("9+=2332", False), ("3+4=07", False), ("3+4", False), ("3+4=7=7", False), ("3+-4=1", False), ("0 MOD 0=0", False),
])
def test_step_parser(text, ok):
    from tasks.math import expr
    step = expr.parse_step(T.tokenize(text))
    assert (step is not None and expr.step_holds(step)) == ok
