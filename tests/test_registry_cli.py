"""Registry behaviour and the CLI surface."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from bench import registry
from bench.cli import main, parse_seeds, parse_sets
from bench.registry import Registry, UnknownName


def test_unknown_method_exits_2_with_suggestion(capsys):
    assert main(["run", "--task", "gmm", "--method", "tree", "--out", "/nonexistent-never-written"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean" in err and "treeg" in err and "Available:" in err


def test_unknown_task_exits_2(capsys):
    assert main(["run", "--task", "gmn", "--method", "none"]) == 2
    assert "gmm" in capsys.readouterr().err


def test_duplicate_names_raise():
    reg = Registry("method")
    reg.register("a", "x:y")
    with pytest.raises(ValueError, match="duplicate"):
        reg.register("a", "x:z")
    with pytest.raises(ValueError, match="duplicate"):
        reg.alias("a", "b")


def test_alias_resolves():
    assert registry.methods().resolve("treeg") == "treeg-sc"
    with pytest.raises(UnknownName):
        registry.methods().resolve("nope")


def test_ls_imports_no_heavy_deps():
    code = ("import sys; from bench.cli import main; main(['ls','tasks']); main(['ls','objectives']); "
            "main(['ls','methods']); heavy={'rdkit','music21','pretty_midi','matplotlib','pandas'}&set(sys.modules);"
            "assert not heavy, heavy")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "gmm" in res.stdout and "treeg-sc" in res.stdout


def test_parsers():
    assert parse_seeds("0-2") == [0, 1, 2] and parse_seeds("0,3") == [0, 3]
    assert parse_sets(["k=8", "lam=2.5", "potential=max", "ess=null"]) == {"k": 8, "lam": 2.5, "potential": "max",
                                                                          "ess": None}


def test_run_and_report(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", "--task", "gmm", "--method", "treeg", "--budget", "4x", "--seeds", "0-1", "--n", "8",
                 "--steps", "12", "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.count("status=ok") == 2 and "records:" in stdout
    recs = [json.loads(x) for x in (out / "records" / "gmm.jsonl").read_text().splitlines()]
    assert len(recs) == 2
    keys = {"schema_version", "run_id", "git_sha", "git_dirty", "task", "task_version", "objective", "method",
            "method_version", "config", "config_hash", "seed", "budget", "usage", "n_samples", "status", "error",
            "metrics", "env"}
    assert keys <= set(recs[0]) and recs[0]["usage"]["nfe"] <= recs[0]["budget"]["nfe_total"]
    assert (out / "samples" / "gmm").is_dir()
    # resume: a rerun skips cells with an ok record and the same config hash
    assert main(["run", "--task", "gmm", "--method", "treeg", "--budget", "4x", "--seeds", "0-1", "--n", "8",
                 "--steps", "12", "--out", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.count("skipped") == 2
    rep = tmp_path / "report"
    assert main(["report", "--records", str(out), "--out", str(rep), "--allow-dirty"]) == 0
    text = (rep / "leaderboard.md").read_text()
    assert "generated" in text and "treeg-sc" in text
    assert (rep / "figures" / "gmm_linear.png").stat().st_size > 1000


def test_matrix_records_incompatible(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["matrix", "--tasks", "toyseq", "--methods", "none,dps", "--budgets", "1x", "--n", "4", "--steps", "8",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    recs = [json.loads(x) for x in (out / "records" / "toyseq.jsonl").read_text().splitlines()]
    assert {r["method"]: r["status"] for r in recs} == {"none": "ok", "dps": "incompatible"}


def test_set_override_unknown_key_is_an_error(tmp_path, capsys):
    rc = main(["run", "--task", "gmm", "--method", "smc", "--set", "particles=3", "--out", str(tmp_path)])
    assert rc == 2 and "valid" in capsys.readouterr().err


def test_default_out_is_not_the_committed_results(tmp_path):
    from pathlib import Path

    from bench.cli import build_parser
    for argv in (["run", "--task", "gmm", "--method", "none"], ["matrix"], ["smoke"]):
        out = build_parser().parse_args(argv).out
        assert out.parts[0] == "runs", argv
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/x.jsonl"], cwd=Path(__file__).parent.parent)
    assert ignored.returncode == 0  # runs/ is git-ignored
    kept = subprocess.run(["git", "check-ignore", "-q", "results/samples/gmm/x.jsonl.gz"],
                          cwd=Path(__file__).parent.parent)
    assert kept.returncode == 1  # committed per-sample files are not ignored


def test_matrix_turns_a_failing_task_build_or_objective_into_error_records(tmp_path, monkeypatch, capsys):
    gmm, toyseq = registry.tasks().get("gmm"), registry.tasks().get("toyseq")

    def broken(self, spec):
        raise RuntimeError("objective exploded")
    monkeypatch.setattr(gmm, "objective", broken)
    monkeypatch.setattr(toyseq, "__init__", lambda self, **kw: (_ for _ in ()).throw(OSError("weights gone")))
    rc = main(["matrix", "--tasks", "gmm,toyseq", "--methods", "none,svdd", "--budgets", "1x", "--seeds", "0-1",
               "--n", "4", "--steps", "8", "--out", str(tmp_path), "--no-progress"])
    assert rc == 1
    assert "matrix: error=8" in capsys.readouterr().out  # every cell recorded, none crashed the matrix
    for task, msg in (("gmm", "objective exploded"), ("toyseq", "weights gone")):
        recs = [json.loads(x) for x in (tmp_path / "records" / f"{task}.jsonl").read_text().splitlines()]
        assert len(recs) == 4 and all(r["status"] == "error" and msg in r["error"] for r in recs)
        assert {(r["task"], r["method"], r["budget"]["name"], r["seed"], r["n"], r["steps"]) for r in recs} == {
            (task, m, "1x", s, 4, 8) for m in ("none", "svdd") for s in (0, 1)}
        assert all(r["metrics"] == {} and r["cell"].startswith(task + "|") for r in recs)


def test_nan_proxy_stays_nan_and_is_counted(tmp_path, monkeypatch):
    import gzip

    import torch
    gmm = registry.tasks().get("gmm")
    build = gmm.objective

    def half_nan(self, spec):
        obj = build(self, spec)
        fn = lambda x, i: torch.where(x[:, 0] > 0, torch.nan, obj.proxy.fn(x, i))  # noqa: E731
        return dataclasses.replace(obj, proxy=dataclasses.replace(obj.proxy, fn=fn))
    monkeypatch.setattr(gmm, "objective", half_nan)
    assert main(["run", "--task", "gmm", "--method", "none", "--objective", "region", "--n", "16", "--steps", "8",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    rec = json.loads((tmp_path / "records" / "gmm.jsonl").read_text().splitlines()[0])
    rows = [json.loads(x) for x in gzip.decompress((tmp_path / rec["samples_path"]).read_bytes()).splitlines()]
    invalid = sum(r["x"][0] > 0 for r in rows)
    assert 0 < invalid < 16 and rec["metrics"]["proxy"] is None and rec["metrics"]["proxy_invalid"] == invalid


def test_records_are_strict_json():
    from bench.records import dumps
    assert json.loads(dumps({"m": float("nan"), "v": [1.0, float("inf")]})) == {"m": None, "v": [1.0, None]}


def test_matrix_shards_match_a_single_worker(tmp_path, capsys):
    base = ["matrix", "--tasks", "gmm", "--methods", "none,svdd,smc", "--budgets", "1x,4x", "--n", "4", "--steps",
            "8", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "one")]) == 0
    for i in (0, 1):
        assert main(base + ["--out", str(tmp_path / "two"), "--shard", f"{i}/2"]) == 0

    def metrics(folder):
        recs = [json.loads(x) for x in (folder / "records" / "gmm.jsonl").read_text().splitlines()]
        return {r["cell"]: r["metrics"]["reward"] for r in recs}
    assert metrics(tmp_path / "one") == metrics(tmp_path / "two")
    assert main(base + ["--out", str(tmp_path / "x"), "--shard", "2/2"]) == 2


def test_objective_patterns_accepted():
    from bench.commands import accepts
    assert accepts("label=3", ["label=<k>", "compress"]) and accepts("compress", ["label=<k>", "compress"])
    assert not accepts("label=", ["label=<k>"]) and not accepts("rings", ["rings=<k>"])


def test_budget_mapping_sees_overrides(tmp_path):
    from bench.runner import Cell, build_task, calibration, resolve
    t = build_task("toyseq", False, "cpu")
    _, m, cfg, steps, _ = resolve(Cell(task="toyseq", method="treeg-sc", budget="8x",
                                       overrides={"window_start": 0.5}), t)
    cal = calibration(t, t.objective(t.default_objective))
    assert cfg.window_start == 0.5 and m.cost(cfg, steps, cal) > 0.85 * 8 * steps  # the width fills the budget
    _, m, cfg, steps, _ = resolve(Cell(task="toyseq", method="treeg-sc", budget="8x", overrides={"A": 1}), t)
    assert cfg.A == 1  # an explicit width knob wins
