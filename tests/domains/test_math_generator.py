"""math task: the generator's assertions on the committed splits and on the training stream; determinism."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tasks.math import generator as G
from tasks.math import tokens
from tasks.math.families import FAMILIES, Triple, Variant
from tasks.math.records import DATA_DIR, SPLITS, Problem, dumps, load_split, split_path
from tasks.math.stream import TrainConfig, TrainStream

ROOT = Path(__file__).resolve().parents[2]
HARD_EDIT_MAX = 4  # design bound: ≤ 2 method tokens + at most 2–3 digits of the one number that moves


@pytest.fixture(scope="module")
def committed() -> G.Splits:
    return G.Splits(*(load_split(s) for s in SPLITS))


@pytest.fixture(scope="module")
def regenerated() -> G.Splits:
    return G.generate_splits(G.EVAL_SEED)


def _variant(p: Problem) -> Variant:
    return Variant(p.form, p.problem, p.solution, p.answer, p.shortcut_answer)


def test_regeneration_is_byte_identical(committed, regenerated):
    for s in SPLITS:
        assert split_path(s).read_text() == dumps(regenerated.by_name(s))


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_fresh_process_regenerates_the_same_bytes(hash_seed):
    """`--check` in a new interpreter (another PYTHONHASHSEED) finds the committed files identical."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "tasks.math.generator", "--check"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_other_seed_differs_and_repeats():
    a, b = G.generate_splits(5, per_family=4), G.generate_splits(5, per_family=4)
    assert dumps(a.hard) == dumps(b.hard)
    assert dumps(a.hard) != dumps(G.generate_splits(6, per_family=4).hard)


def test_manifest_matches_files(committed):
    man = json.loads((DATA_DIR / "manifest.json").read_text())
    assert (man["seed"], man["L"], man["P"], man["vocab_size"]) == (G.EVAL_SEED, tokens.L, tokens.P, tokens.V)
    for s in SPLITS:
        entry = man["files"][split_path(s).name]
        assert entry["sha256"] == hashlib.sha256(split_path(s).read_bytes()).hexdigest()
        assert entry["n"] == len(committed.by_name(s)) == G.PER_FAMILY * len(FAMILIES)
        assert entry["per_family"] == {f: G.PER_FAMILY for f in FAMILIES}


def test_splits_are_paired_and_assertions_hold(committed):
    for o, s, h in zip(committed.original, committed.simple, committed.hard):
        assert o.problem_id == s.problem_id == h.problem_id and o.family == s.family == h.family
        assert o.seed_in_train == s.seed_in_train == h.seed_in_train
        assert G.violations(Triple(_variant(o), _variant(s), _variant(h))) == []
        assert o.shortcut_answer is None and s.shortcut_answer is None and h.shortcut_answer is not None
        assert o.edit_ratio == 0.0 and 0 < h.edit_ratio
    texts = [p.problem for sp in SPLITS for p in committed.by_name(sp)]
    assert len(set(texts)) == len(texts)


def test_seed_in_train_is_half_of_each_family(committed):
    seen = Counter(p.family for p in committed.original if p.seed_in_train)
    assert seen == {f: G.PER_FAMILY // 2 for f in FAMILIES}


def test_hard_edits_are_small(committed):
    for o, h in zip(committed.original, committed.hard):
        dist = round(h.edit_ratio * tokens.n_tokens(o.problem))
        assert 1 <= dist <= HARD_EDIT_MAX, (o.problem, h.problem)


def test_violations_catch_broken_triples(committed):
    o, s, h = (_variant(p) for p in (committed.original[0], committed.simple[0], committed.hard[0]))
    same = Variant(h.form, h.problem, h.solution.split("#")[0] + "#" + o.answer, o.answer, h.shortcut)
    assert any("answer" in m for m in G.violations(Triple(o, s, same)))
    short = Variant(h.form, h.problem, h.solution, h.answer, h.answer)
    assert any("shortcut" in m for m in G.violations(Triple(o, s, short)))
    frac = Variant(o.form, o.problem, "7/2=3#3", "3")
    assert any("step" in m for m in G.solution_violations(frac))
    long = Variant(o.form, o.problem, ";".join(["11+11=22"] * 6) + "#22", "22")
    assert any("tokens" in m for m in G.solution_violations(long))


def test_training_stream_obeys_the_assertions(committed):
    stream = TrainStream(TrainConfig(seed=3, hard_exposure=0.2, skill_rate=0.3), committed)
    recs = stream.take(600)
    texts = committed.texts()
    for p in recs:
        v = _variant(p)
        assert (G.hard_violations(v) if p.problem_id == "train-hard" else G.solution_violations(v)) == []
        assert p.problem not in texts and not p.seed_in_train
    kinds = Counter(p.problem_id for p in recs)
    assert set(kinds) == {"train-hard", "train-skill", "train-original"}
    assert {p.family for p in recs} == set(FAMILIES)
    assert stream.batch(8).shape == (8, tokens.L)


def test_training_stream_is_deterministic(committed):
    a = TrainStream(TrainConfig(seed=9), committed).take(50)
    assert a == TrainStream(TrainConfig(seed=9), committed).take(50)
    assert a != TrainStream(TrainConfig(seed=10), committed).take(50)


def test_hard_exposure_rate_and_per_family_mapping(committed):
    n, p = 400, 0.5
    recs = TrainStream(TrainConfig(seed=1, hard_exposure=p, skill_rate=0.0), committed).take(n)
    frac = sum(r.problem_id == "train-hard" for r in recs) / n
    assert abs(frac - p) < 4 * (p * (1 - p) / n) ** 0.5  # 4 binomial standard deviations
    cfg = TrainConfig(seed=1, hard_exposure={"LIN": 1.0}, skill_rate=0.0)
    for r in TrainStream(cfg, committed).take(120):
        assert (r.problem_id == "train-hard") == (r.family == "LIN")


def test_contamination_puts_seen_originals_verbatim(committed):
    seen = {p.problem: p for p in committed.original if p.seed_in_train}
    recs = TrainStream(TrainConfig(seed=2, contamination=1.0), committed).take(60)
    for r in recs:
        assert r.seed_in_train and r.problem in seen and r.solution == seen[r.problem].solution
    with pytest.raises(ValueError):
        TrainStream(TrainConfig(contamination=1.5), committed)
