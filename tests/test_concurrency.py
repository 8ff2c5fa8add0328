"""Safe concurrency and idempotent reruns: claimed cells, stale claims taken over, final records written once."""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.cli import main
from bench.records import claim_cell, read_records, release

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ["matrix", "--tasks", "gmm,toyseq", "--methods", "none,svdd,smc,dps,treeg", "--budgets", "1x,4x",
          "--seeds", "0-1", "--n", "4", "--steps", "8", "--no-progress"]


def _counts(out: Path) -> collections.Counter:
    return collections.Counter((r["cell"], r["config_hash"]) for r in read_records(out))


def test_two_identical_matrices_at_once_compute_each_cell_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "bench", *MATRIX, "--out", str(tmp_path)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    counts = _counts(tmp_path)
    statuses = collections.Counter(r["status"] for r in read_records(tmp_path))
    why = (counts.most_common(3), statuses, [o[0].splitlines()[-1] for o in outs], [o[1][-1500:] for o in outs])
    assert len(counts) == 2 * 5 * 2 * 2 and set(counts.values()) == {1}, why
    assert statuses["incompatible"] and statuses["over_budget_min"], statuses  # final non-ok cells are included
    # each process either ran a cell or saw it claimed / already done: the two summaries add up to every cell
    ran = sum(int(x.split("=")[1]) for o in outs for x in o[0].splitlines()[-1][len("matrix: "):].split(", ")
              if x.split("=")[0] not in ("skipped", "claimed"))
    assert ran == len(counts), why
    assert not list((tmp_path / "claims").glob("*.json"))  # every claim released


def test_rerun_appends_nothing(tmp_path, capsys):
    args = MATRIX + ["--out", str(tmp_path)]
    assert main(args) == 0
    lines = sum(1 for p in (tmp_path / "records").glob("*.jsonl") for _ in p.open())
    assert main(args) == 0
    assert sum(1 for p in (tmp_path / "records").glob("*.jsonl") for _ in p.open()) == lines
    assert f"skipped={lines}" in capsys.readouterr().out.splitlines()[-1]


def test_claims_live_stale_and_release(tmp_path):
    ok, who = claim_cell(tmp_path, "gmm|linear|none|1x|0", "h")
    assert ok is not None and who == ""
    path = ok.path
    # a live process on this host (our parent) holds the claim: refused, holder named
    path.write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    held, who = claim_cell(tmp_path, "gmm|linear|none|1x|0", "h")
    assert held is None and str(os.getppid()) in who
    # a dead process's claim is taken over
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    taken, _ = claim_cell(tmp_path, "gmm|linear|none|1x|0", "h")
    assert taken is not None and json.loads(path.read_text())["pid"] == os.getpid()
    # another host's claim is respected (its liveness cannot be checked from here)
    path.write_text(json.dumps({"pid": dead.pid, "host": "elsewhere"}))
    assert claim_cell(tmp_path, "gmm|linear|none|1x|0", "h")[0] is None
    release(taken)  # not ours any more: left in place
    assert path.exists()
    path.unlink()
    mine, _ = claim_cell(tmp_path, "gmm|linear|none|1x|0", "h")
    release(mine)
    assert not path.exists()


def test_done_cells_of_one_task_reads_only_appended_bytes(tmp_path):
    """The incremental reader sees every final record appended since its last call, in that task's file only,
    and starts over when the file is replaced."""
    from bench.records import append_jsonl, done_cells
    rec = {"cell": "gmm|linear|none|1x|0", "config_hash": "h0", "status": "ok"}
    append_jsonl(tmp_path / "gmm.jsonl", [rec])
    append_jsonl(tmp_path / "toyseq.jsonl", [{**rec, "cell": "toyseq|x", "config_hash": "h9"}])
    assert done_cells(tmp_path, "gmm") == {("gmm|linear|none|1x|0", "h0")}
    more = [{**rec, "config_hash": "h1"}, {**rec, "config_hash": "h2", "status": "error"}]
    append_jsonl(tmp_path / "gmm.jsonl", more)
    assert done_cells(tmp_path, "gmm") == {("gmm|linear|none|1x|0", "h0"), ("gmm|linear|none|1x|0", "h1")}
    assert done_cells(tmp_path, "gmm") == done_cells(tmp_path) - {("toyseq|x", "h9")}
    (tmp_path / "gmm.jsonl").write_text("")
    assert done_cells(tmp_path, "gmm") == set()
