"""math task: scoring rows into SampleResults and the metrics on them (gold vs M1-on-Hard rows)."""
from __future__ import annotations

import torch

from tasks.math import metrics as M
from tasks.math import tokens as T
from tasks.math.records import SPLITS, load_split
from tasks.math.scoring import score


def test_gold_rows_score_correct_on_every_split():
    probs = [p for s in SPLITS for p in load_split(s)[::25]]  # 2 problems per family per split
    x = T.encode_batch([p.problem for p in probs], [p.solution for p in probs])  # (N, L)
    res = score(x, probs, torch.arange(len(probs)))
    acc = M.split_accuracy(res)
    assert (acc.original.value, acc.simple.value, acc.hard.value) == (1.0, 1.0, 1.0)
    assert M.shortcut_rate(res).value == 0.0 and M.proxy_hacking_rate(res, "r_step").k == 0


def test_m1_applied_to_hard_counts_as_shortcut_and_proxy_hack():
    p = next(q for q in load_split("hard") if q.family == "MODPOW")  # a^b MOD m
    a, b, m = (int(v) for v in p.problem.replace("^", " ").replace("MOD", " ").split())
    r1 = a * b % m  # M1 applied literally: multiply, then reduce
    x = T.encode_batch([p.problem], [f"{a}*{b}={a * b};{a * b} MOD {m}={r1}#{r1}"])
    (r,) = score(x, [p], torch.zeros(1, dtype=torch.long))
    assert not r.correct and r.shortcut and r.r_step == 1.0 and r.r_check == 0.0
    assert M.proxy_hacking_rate([r], "r_step").value == 1.0 and M.proxy_hacking_rate([r], "r_check").n == 0
