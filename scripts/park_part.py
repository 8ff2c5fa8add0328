"""Carry an unfinished protocol part across sessions: park its run folder in the repository, unpark it to resume.

A protocol part (`bench matrix --protocol results/protocol.yaml --tasks T --out RUN`) can take longer than a
session, and a run folder outside the checkout does not survive into the next one. `park` copies RUN's records and
per-sample files (never its claims, which name this session's processes) to `results/parts/NAME/` and writes
`PART.json`: the one clean commit every record came from, the resume command and the counts. `unpark` copies a
parked part into a new run folder and prints the two commands that resume it from a clean worktree at that commit,
so the finished part is still one code version. The report never reads `results/parts/`; a part is merged
(`python scripts/merge_records.py results/parts/NAME`) only when complete, and its folder deleted then.

Usage:
    python scripts/park_part.py park RUN NAME --command "python -m bench matrix ... --tasks music"
    python scripts/park_part.py unpark NAME RUN
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.records import read_records, samples_file

PARTS = Path("results") / "parts"


@dataclass(frozen=True)
class Part:
    """What `PART.json` says of a parked part."""

    commit: str
    tasks: list[str]
    statuses: dict[str, int]
    command: str


def _describe(records: list[dict], command: str) -> Part:
    """The part's one commit and counts; SystemExit for dirty records, several commits or no records."""
    if not records:
        sys.exit("refused: the run folder holds no records")
    dirty = [r["run_id"] for r in records if r.get("git_dirty")]
    if dirty:
        sys.exit(f"refused: {len(dirty)} record(s) from a dirty tree, e.g. {dirty[0]}")
    shas = sorted({r["git_sha"] for r in records})
    if len(shas) > 1:
        sys.exit(f"refused: records of several commits {shas}; a part is one code version")
    if "--out" in command:
        sys.exit("refused: give the command without --out (unpark appends the run folder)")
    statuses = dict(sorted(Counter(r["status"] for r in records).items()))
    return Part(shas[0], sorted({r["task"] for r in records}), statuses, command)


def _copy_part(records: list[dict], src: Path, dst: Path) -> None:
    """Copy the records files verbatim and each record's per-sample file from ``src`` to ``dst``."""
    for path in sorted((src / "records").glob("*.jsonl")):
        (dst / "records").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst / "records" / path.name)
    for r in records:
        if (f := samples_file(r, src)) is not None:
            out = dst / "samples" / r["task"] / f.name  # where samples_file looks a record's file up
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, out)


def park(run: Path, name: str, command: str, parts: Path = PARTS) -> Part:
    """Copy ``run``'s records and samples to ``parts/name`` (replacing an older parking of it); return its Part."""
    records = read_records(run / "records")
    part = _describe(records, command)
    dest = parts / name
    if dest.exists():
        old = json.loads((dest / "PART.json").read_text())
        if old["commit"] != part.commit:
            sys.exit(f"refused: {dest} holds a part of commit {old['commit']}, this run is {part.commit}")
        shutil.rmtree(dest)
    _copy_part(records, run, dest)
    (dest / "PART.json").write_text(json.dumps(asdict(part), indent=1) + "\n")
    return part


def unpark(name: str, run: Path, parts: Path = PARTS) -> Part:
    """Copy ``parts/name`` into the new run folder ``run``; return its Part (SystemExit if ``run`` has records)."""
    src = parts / name
    if not (src / "PART.json").exists():
        sys.exit(f"no parked part {src} (PART.json missing); parked: {sorted(p.name for p in parts.glob('*'))}")
    if (run / "records").exists() and any((run / "records").iterdir()):
        sys.exit(f"refused: {run} already holds records; unpark into a new folder")
    part = Part(**json.loads((src / "PART.json").read_text()))
    _copy_part(read_records(src / "records"), src, run)
    return part


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("park")
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--command", required=True, help="the bench matrix command that resumes it, without --out")
    u = sub.add_parser("unpark")
    u.add_argument("name")
    u.add_argument("run", type=Path)
    a = ap.parse_args()
    if a.cmd == "park":
        part = park(a.run, a.name, a.command)
        print(f"parked {a.run} as {PARTS / a.name}: {part.statuses} at {part.commit[:10]}")
        return
    part = unpark(a.name, a.run)
    wt = f"/tmp/wt_{a.name}"
    print(f"git worktree add -f {wt} {part.commit} --detach")
    print(f"cd {wt} && PYTHONPATH={wt} {part.command} --out {a.run.resolve()}")


if __name__ == "__main__":
    main()
