"""bench.api: run / matrix return the runner's records, load gives one row per record with metrics as columns."""
from __future__ import annotations

import json
import math

import pytest

from bench import api
from bench.cli import main
from bench.registry import UnknownName

SMALL = {"n": 8, "steps": 8}


def _lines(folder, task: str) -> list[dict]:
    return [json.loads(x) for x in (folder / "records" / f"{task}.jsonl").read_text().splitlines()]


def test_run_returns_the_written_records_and_matches_the_cli(tmp_path):
    recs = api.run("gmm", "svdd", objective="bump", budget=4, seeds=range(2), out=tmp_path / "api", **SMALL)
    assert [r["seed"] for r in recs] == [0, 1] and all(r["status"] == "ok" for r in recs)
    assert all(r["budget"]["name"] == "4x" for r in recs)  # 4 and '4X' are the budget '4x'
    assert recs == _lines(tmp_path / "api", "gmm")
    assert main(["run", "--task", "gmm", "--method", "svdd", "--objective", "bump", "--budget", "4x", "--seeds", "0-1",
                 "--n", "8", "--steps", "8", "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    cli = _lines(tmp_path / "cli", "gmm")
    assert [r["metrics"]["energy"] for r in recs] == [r["metrics"]["energy"] for r in cli]
    assert [r["config_hash"] for r in recs] == [r["config_hash"] for r in cli]


def test_run_resumes_with_the_stored_record(tmp_path):
    first = api.run("gmm", "none", budget="1x", seeds=[0], out=tmp_path, **SMALL)
    again = api.run("gmm", "none", budget="1X", seeds=[0], out=tmp_path, **SMALL)
    assert again == first and len(_lines(tmp_path, "gmm")) == 1  # nothing rerun, the stored record returned
    fresh = api.run("gmm", "none", budget="1x", seeds=[0], out=tmp_path, resume=False, **SMALL)
    assert fresh[0]["run_id"] != first[0]["run_id"] and len(_lines(tmp_path, "gmm")) == 2


def test_run_rejects_bad_input_before_running(tmp_path):
    with pytest.raises(UnknownName):
        api.run("gmm", "nosuch", out=tmp_path)
    with pytest.raises(ValueError, match="followed by x"):
        api.run("gmm", "none", budget="abc", out=tmp_path)
    with pytest.raises(ValueError, match="empty"):
        api.run("gmm", "none", seeds=[], out=tmp_path)
    assert not (tmp_path / "records").exists()


def test_run_without_out_writes_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recs = api.run("toyseq", "none", budget="1x", **SMALL)
    assert recs[0]["status"] == "ok" and not (tmp_path / "runs").exists()


def test_matrix_records_every_cell_with_its_status(tmp_path):
    recs = api.matrix(["gmm", "toyseq"], ["none", "dps"], objectives=["bump", "pattern"], budgets=["1x", "16x"],
                      out=tmp_path, **SMALL)
    got = {(r["task"], r["objective"], r["method"], r["budget"]["name"]): r["status"] for r in recs}
    assert got == {("gmm", "bump", "none", "1x"): "ok", ("gmm", "bump", "none", "16x"): "ok",
                   ("gmm", "bump", "dps", "1x"): "over_budget_min", ("gmm", "bump", "dps", "16x"): "ok",
                   ("toyseq", "pattern", "none", "1x"): "ok", ("toyseq", "pattern", "none", "16x"): "ok",
                   ("toyseq", "pattern", "dps", "1x"): "incompatible", ("toyseq", "pattern", "dps", "16x"):
                   "incompatible"}  # each task runs only the objectives it takes


def test_load_has_a_row_per_record_and_the_metrics_as_columns(tmp_path):
    recs = api.matrix(["gmm"], ["none", "svdd"], budgets=["1x", "4x"], seeds=[0, 1], out=tmp_path, **SMALL)
    df = api.load(tmp_path)
    assert len(df) == len(recs) == 8
    assert set(api.COLUMNS) <= set(df.columns) and {"energy", "mean_err", "proxy"} <= set(df.columns)
    for rec in recs:
        row = df[(df.method == rec["method"]) & (df.budget == rec["budget"]["name"]) & (df.seed == rec["seed"])]
        assert len(row) == 1 and row.iloc[0]["status"] == "ok"
        assert row.iloc[0]["energy"] == rec["metrics"]["energy"]
        assert row.iloc[0]["cost_per_sample"] == rec["usage"]["cost_per_sample"]
    api.run("gmm", "none", budget="1x", seeds=[0], out=tmp_path, resume=False, **SMALL)  # a rerun of one cell
    assert len(api.load(tmp_path)) == 8 and len(api.load(tmp_path, latest=False)) == 9
    assert len(api.load(tmp_path / "records")) == 8


def test_load_keeps_unscored_cells_and_names_clashing_metrics(tmp_path):
    recs = api.matrix(["toyseq"], ["none", "dps"], budgets=["1x"], out=tmp_path, **SMALL)
    df = api.load(tmp_path).set_index("method")
    assert df.loc["dps", "status"] == "incompatible" and math.isnan(df.loc["dps", "tv"])
    assert df.loc["none", "tv"] == next(r for r in recs if r["method"] == "none")["metrics"]["tv"]
    frame = api.frame([{**recs[0], "metrics": {"status": 1.0, "tv": 0.5}}])
    assert frame.loc[0, "metric.status"] == 1.0 and frame.loc[0, "status"] == recs[0]["status"]
    with pytest.raises(FileNotFoundError):
        api.load(tmp_path / "nope")


def test_the_module_example_runs(tmp_path, monkeypatch):
    """The notebook example in bench.api's docstring, as written (its relative out folder under tmp_path)."""
    monkeypatch.chdir(tmp_path)
    doc = api.__doc__.split("::\n", 1)[1]
    code = "\n".join(line[4:] for line in doc.splitlines() if line.startswith("    ") or not line.strip())
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the documented example itself
    table = scope["df"].pivot_table(index="method", columns="budget", values="energy")
    assert set(table.index) == {"none", "smc", "svdd"} and list(table.columns) == ["1x", "4x"]
