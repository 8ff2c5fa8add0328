"""`bench tune`: beam search over one knob at a time, every trial recorded, the winner saved and used."""
from __future__ import annotations

import json

import yaml

import bench.tune as tune_mod
import bench.tuning as tuning
from bench.cli import main
from bench.tune import candidates


def test_candidates_multiply_one_knob_capped():
    space = {"a": (0.25, 2.0, 1.0), "b": (0.001, 10.0, 1.0)}
    got = candidates({"a": 1.0, "b": 0.01}, space)
    assert got == [{"a": 1.0, "b": 0.1}]  # a is at its cap


def test_tune_records_trials_and_saved_config_is_used(tmp_path, monkeypatch, capsys):
    saved = tmp_path / "tuned" / "tag.yaml"
    monkeypatch.setattr(tune_mod, "tuned_path", lambda task, method: saved)
    monkeypatch.setattr(tuning, "tuned_path", lambda task, method: saved)
    out = tmp_path / "trials"
    assert main(["tune", "--task", "toyseq", "--method", "tag", "--objective", "pattern", "--n", "32", "--budget", "8x",
                 "--seeds", "1000", "--rounds", "2", "--out", str(out)]) == 0
    doc = yaml.safe_load(saved.read_text())
    assert doc["config"]["gamma"] in (0.25, 0.5, 1.0) and len(doc["trials"]) == 3
    recs = [json.loads(x) for x in (out / "records" / "toyseq.jsonl").read_text().splitlines()]
    assert len(recs) == 3 and all(r["n_samples"] == 4 for r in recs)  # 1/8 of the final sample count
    best = max(doc["trials"], key=lambda tr: tr["proxy"])
    assert doc["config"] == best["config"]
    assert main(["run", "--task", "toyseq", "--method", "tag", "--objective", "pattern", "--n", "4", "--steps", "8",
                 "--budget", "8x",
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    rec = json.loads((tmp_path / "run" / "records" / "toyseq.jsonl").read_text().splitlines()[0])
    assert rec["config"]["gamma"] == doc["config"]["gamma"]


def test_tune_saves_nothing_and_exits_1_when_every_trial_fails(tmp_path, monkeypatch, capsys):
    from bench import registry
    saved = tmp_path / "tuned" / "tag.yaml"
    monkeypatch.setattr(tune_mod, "tuned_path", lambda task, method: saved)
    method = registry.methods().get("tag")

    def crash(ctx, cfg):
        raise RuntimeError("every trial crashes")
    monkeypatch.setattr(method, "run", crash)
    out = tmp_path / "trials"
    assert main(["tune", "--task", "toyseq", "--method", "tag", "--objective", "pattern", "--n", "32", "--budget", "8x",
                 "--seeds", "1000", "--rounds", "2", "--out", str(out)]) == 1
    assert not saved.exists() and "nothing saved" in capsys.readouterr().err
    recs = [json.loads(x) for x in (out / "records" / "toyseq.jsonl").read_text().splitlines()]
    assert recs and all(r["status"] == "error" for r in recs)  # the failed trials are still recorded


def test_tune_ranks_a_nan_proxy_last(monkeypatch, tmp_path):
    """A trial whose proxy is NaN (records keep NaN) is a failed trial, never the winner."""
    import math

    from bench import registry
    saved = tmp_path / "tag.yaml"
    monkeypatch.setattr(tune_mod, "tuned_path", lambda task, method: saved)
    real = tune_mod.execute

    def nan_for_the_start_value(cell, *a, **kw):
        rec = real(cell, *a, **kw)
        if cell.overrides["gamma"] < 0.3:
            rec["metrics"]["proxy"] = math.nan
        return rec
    monkeypatch.setattr(tune_mod, "execute", nan_for_the_start_value)
    doc = tune_mod.tune("toyseq", "tag", "pattern", "8x", 32, [1000], 2, 2, tmp_path / "trials")
    assert registry.methods().get("tag").tunable["gamma"][0] < 0.3  # the start value is the NaN trial
    assert doc["config"]["gamma"] > 0.3 and len(doc["trials"]) == 3
