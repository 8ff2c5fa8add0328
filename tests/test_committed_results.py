"""The committed results are honest and self-contained: every ok cell within its cap, clean single-version
records, per-sample files present, and the committed report rebuilt from them byte for byte."""
from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from bench.records import read_records, samples_file
from bench.report import write_report

ROOT = Path(__file__).resolve().parent.parent
RESULTS, REPORT = ROOT / "results", ROOT / "report"
RECORDS = read_records(RESULTS / "records") if (RESULTS / "records").exists() else []


def test_there_are_committed_records():
    assert RECORDS, "results/records holds no records"


@pytest.mark.parametrize("rec", [r for r in RECORDS if r["status"] == "ok"], ids=lambda r: r["run_id"][:60])
def test_no_ok_cell_above_its_cap(rec):
    assert rec["usage"]["cost"] <= rec["budget"]["cost_cap"] * (1 + 1e-9), (rec["usage"], rec["budget"])


def test_records_are_clean_and_one_code_version_per_table():
    """Every committed record is from a clean tree, and each leaderboard table (task x objective) from one commit
    (the report's hygiene rule, ``bench.report.hygiene``)."""
    shas: dict[tuple[str, str], set[str]] = {}
    for r in RECORDS:
        assert not r["git_dirty"], r["run_id"]
        shas.setdefault((r["task"], r["objective"]), set()).add(r["git_sha"])
    assert all(len(s) == 1 for s in shas.values()), shas


def test_every_ok_record_has_its_committed_samples_file():
    missing = [r["run_id"] for r in RECORDS if r["status"] == "ok" and samples_file(r, RESULTS) is None]
    assert not missing, missing[:5]


@pytest.mark.slow
def test_committed_report_rebuilds_byte_for_byte(tmp_path):
    write_report(RESULTS / "records", tmp_path)
    ours = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(REPORT) for p in REPORT.rglob("*") if p.is_file())
    assert ours == committed
    _, mismatch, errors = filecmp.cmpfiles(REPORT, tmp_path, [str(p) for p in ours], shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
