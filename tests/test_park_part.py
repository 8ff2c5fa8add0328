"""scripts/park_part.py: an unfinished protocol part parked in the repository resumes in a new run folder to the
same records a run that was never parked writes, each cell once; dirty or mixed-commit parts are refused."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from bench import api
from bench.records import read_records

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("park_part", ROOT / "scripts" / "park_part.py")
park_part = importlib.util.module_from_spec(_spec)
sys.modules["park_part"] = park_part  # dataclasses look their module up
_spec.loader.exec_module(park_part)
GRID = dict(tasks=["gmm"], methods=["none", "best-of-n"], objectives=["bump"], budgets=["1x", "4x"], n=8, steps=8)
CMD = "python -m bench matrix --tasks gmm"


def _clean(folder: Path) -> None:
    """Mark a test run's records clean and of one commit (a test runs in whatever tree pytest has)."""
    path = folder / "records" / "gmm.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**r, "git_dirty": False, "git_sha": "c0ffee"}) + "\n" for r in recs))


def _key(r: dict) -> tuple:
    return r["method"], r["budget"]["name"], r["seed"]


def _scores(r: dict) -> dict:
    return {k: v for k, v in r["metrics"].items() if not k.endswith("_s")}  # wall times differ run to run


def test_a_parked_part_resumes_to_the_unparked_result(tmp_path):
    whole = api.matrix(seeds=[0, 1], out=tmp_path / "whole", **GRID)
    done = api.matrix(seeds=[0], out=tmp_path / "first", **GRID)  # the part a session got through
    _clean(tmp_path / "first")
    part = park_part.park(tmp_path / "first", "gmm", CMD, parts=tmp_path / "parts")
    assert part.commit == "c0ffee" and part.statuses == {"ok": 4} and part.tasks == ["gmm"]
    assert not (tmp_path / "parts" / "gmm" / "claims").exists()
    assert len(list((tmp_path / "parts" / "gmm" / "samples" / "gmm").glob("*"))) == 4
    back = park_part.unpark("gmm", tmp_path / "next", parts=tmp_path / "parts")
    assert back == part
    rest = api.matrix(seeds=[0, 1], out=tmp_path / "next", **GRID)  # the next session resumes
    recs = read_records(tmp_path / "next")
    assert sorted(map(_key, recs)) == sorted(map(_key, whole))  # each cell once
    assert {r["run_id"] for r in done} <= {r["run_id"] for r in recs}  # the parked cells were not rerun
    by_key = {_key(r): _scores(r) for r in rest}
    assert all(by_key[_key(r)] == _scores(r) for r in whole)


def test_refusals(tmp_path):
    api.matrix(seeds=[0], out=tmp_path / "run", **GRID)
    path = tmp_path / "run" / "records" / "gmm.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**r, "git_dirty": True}) + "\n" for r in recs))
    with pytest.raises(SystemExit, match="dirty tree"):
        park_part.park(tmp_path / "run", "p", CMD, parts=tmp_path / "parts")
    path.write_text("".join(json.dumps({**r, "git_dirty": False, "git_sha": f"s{i % 2}"}) + "\n"
                            for i, r in enumerate(recs)))
    with pytest.raises(SystemExit, match="several commits"):
        park_part.park(tmp_path / "run", "p", CMD, parts=tmp_path / "parts")
    _clean(tmp_path / "run")
    with pytest.raises(SystemExit, match="without --out"):
        park_part.park(tmp_path / "run", "p", CMD + " --out x", parts=tmp_path / "parts")
    park_part.park(tmp_path / "run", "p", CMD, parts=tmp_path / "parts")
    with pytest.raises(SystemExit, match="already holds records"):
        park_part.unpark("p", tmp_path / "run", parts=tmp_path / "parts")
    with pytest.raises(SystemExit, match="no parked part"):
        park_part.unpark("q", tmp_path / "new", parts=tmp_path / "parts")
    assert not (tmp_path / "parts" / "q").exists() and not (tmp_path / "new").exists()
