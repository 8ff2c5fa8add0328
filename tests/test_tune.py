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
    assert main(["tune", "--task", "toyseq", "--method", "tag", "--objective", "pattern", "--n", "32",
                 "--seeds", "1000", "--rounds", "2", "--out", str(out)]) == 0
    doc = yaml.safe_load(saved.read_text())
    assert doc["config"]["gamma"] in (0.25, 0.5, 1.0) and len(doc["trials"]) == 3
    recs = [json.loads(x) for x in (out / "records" / "toyseq.jsonl").read_text().splitlines()]
    assert len(recs) == 3 and all(r["n_samples"] == 4 for r in recs)  # 1/8 of the final sample count
    best = max(doc["trials"], key=lambda tr: tr["proxy"])
    assert doc["config"] == best["config"]
    assert main(["run", "--task", "toyseq", "--method", "tag", "--objective", "pattern", "--n", "4", "--steps", "8",
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    rec = json.loads((tmp_path / "run" / "records" / "toyseq.jsonl").read_text().splitlines()[0])
    assert rec["config"]["gamma"] == doc["config"]["gamma"]
