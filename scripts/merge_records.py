"""Merge a run folder's records into the committed results (not a test; the step before `bench report`).

Every table (task x objective) the run touches is replaced whole: its old records and their per-sample files are
removed and the run's are added, so each table stays one code version (the report's hygiene rule). Refuses a run
with records from a dirty tree, or from more than one commit per task. Usage:
    python scripts/merge_records.py RUN_OUT [--results results]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from bench.records import read_records, samples_file


def _table(rec: dict) -> tuple[str, str]:
    return rec["task"], str(rec.get("objective") or "")


def check_run(new: list[dict]) -> None:
    """Raise SystemExit when the run's records are not clean single-commit-per-task records."""
    dirty = [r["run_id"] for r in new if r.get("git_dirty")]
    if dirty:
        sys.exit(f"refused: {len(dirty)} record(s) from a dirty tree, e.g. {dirty[0]}")
    shas: dict[str, set[str]] = defaultdict(set)
    for r in new:
        shas[r["task"]].add(r["git_sha"])
    mixed = {t: sorted(s) for t, s in shas.items() if len(s) > 1}
    if mixed:
        sys.exit(f"refused: tasks with records of several commits: {mixed}")


def merge(run: Path, results: Path) -> dict[str, int]:
    """Replace the tables ``run`` touches in ``results``; returns counts of removed and added records."""
    new = read_records(run / "records")
    check_run(new)
    touched = {_table(r) for r in new}
    counts = {"removed": 0, "added": len(new)}
    for task in sorted({t for t, _ in touched}):
        path = results / "records" / f"{task}.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        old = [json.loads(line) for line in lines]
        keep = [line for line, r in zip(lines, old) if _table(r) not in touched]
        for r in old:
            if _table(r) in touched and (f := samples_file(r, results)) is not None:
                f.unlink()
        counts["removed"] += len(old) - len(keep)
        added = (run / "records" / f"{task}.jsonl").read_text().splitlines()  # the run's lines, verbatim
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in keep + added))
        for r in new:
            if r["task"] == task and (f := samples_file(r, run)) is not None:
                dst = results / "samples" / task / f.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dst)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--results", type=Path, default=Path("results"))
    a = ap.parse_args()
    print(merge(a.run, a.results))


if __name__ == "__main__":
    main()
