"""Executors: a local process pool and Ray give the serial run's records, retry a cell whose worker died, and
share a folder with another matrix without computing a cell twice."""
from __future__ import annotations

import collections
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.records import read_records

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ["matrix", "--tasks", "gmm,toyseq", "--methods", "none,svdd,smc,dps", "--budgets", "1x,4x",
          "--n", "4", "--steps", "8", "--no-progress"]

# A method that kills its own worker process the first time it runs (the marker file says it has died once), and
# then samples like `none`: the executor must retry its cell and write it once.
KILLER = '''
import os
from pathlib import Path

from methods.none import NoGuidance


class DieOnce(NoGuidance):
    key = "dieonce"
    paper = "test helper: kills its worker process on its first run"

    def run(self, ctx, cfg):
        marker = Path(os.environ["DIEONCE_MARKER"])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(17)
        return super().run(ctx, cfg)


METHOD = DieOnce()
'''


def _bench(args: list[str], extra: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """``python -m bench ARGS`` in a subprocess; ``extra`` environment variables (a PYTHONPATH is prepended);
    ``popen``: more Popen arguments."""
    extra = dict(extra or {})
    path = [str(ROOT)] + ([extra.pop("PYTHONPATH")] if "PYTHONPATH" in extra else [])
    env = {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _finish(proc: subprocess.Popen, timeout: int = 300) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def _metrics(out: Path) -> dict[tuple[str, str], tuple[str, dict]]:
    """(cell, config hash) -> (status, metrics without wall times); every cell must appear once."""
    recs = read_records(out)
    counts = collections.Counter((r["cell"], r["config_hash"]) for r in recs)
    assert set(counts.values()) == {1}, counts.most_common(3)
    return {(r["cell"], r["config_hash"]): (r["status"], {k: v for k, v in r["metrics"].items() if k != "sample_s"})
            for r in recs}


def _killer(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "dieonce.py").write_text(KILLER)
    return {"PYTHONPATH": str(tmp_path / "plug"), "DIEONCE_MARKER": str(tmp_path / "died")}


def _check_killed_cell(out: Path, marker: Path) -> None:
    assert marker.exists(), "the killer method never ran"
    died = [r for r in read_records(out) if r["method"] == "dieonce"]
    # one record per dieonce cell (2 tasks x 2 budgets), all ok: the one whose worker died was retried
    assert sorted(r["status"] for r in died) == ["ok"] * 4 and len({r["cell"] for r in died}) == 4, died
    assert not list((out / "claims").glob("*.json"))  # every claim released


def test_pool_matches_serial_and_retries_a_dead_worker(tmp_path):
    serial, pool = tmp_path / "serial", tmp_path / "pool"
    _finish(_bench(MATRIX + ["--out", str(serial)]))
    env = _killer(tmp_path)
    methods = MATRIX.index("--methods") + 1
    argv = MATRIX[:methods] + [MATRIX[methods] + ",dieonce:METHOD"] + MATRIX[methods + 1:]
    out, err = _finish(_bench(argv + ["--out", str(pool), "--workers", "2"], env))
    assert "a worker died" in err
    _check_killed_cell(pool, tmp_path / "died")
    got = _metrics(pool)
    want = _metrics(serial)
    assert {k: v for k, v in got.items() if "|dieonce|" not in k[0]} == want


def test_pool_and_serial_matrices_share_a_folder(tmp_path):
    """A serial and a pooled matrix started together into one folder: each cell computed and written once."""
    procs = [_bench(MATRIX + ["--out", str(tmp_path)]), _bench(MATRIX + ["--out", str(tmp_path), "--workers", "2"])]
    outs = [_finish(p) for p in procs]
    got = _metrics(tmp_path)
    assert len(got) == 2 * 4 * 2, len(got)
    ran = sum(int(x.split("=")[1]) for o, _ in outs for x in o.splitlines()[-1][len("matrix: "):].split(", ")
              if x.split("=")[0] not in ("skipped", "claimed"))
    assert ran == len(got)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason='needs Ray: pip install "guidebench[ray]"')
def test_ray_matches_serial_and_retries_a_killed_worker(tmp_path):
    """A real local Ray instance (this machine's CPUs): the matrix completes, the cell whose worker died is
    retried and written once, and every other record equals the serial run's."""
    serial, distributed = tmp_path / "serial", tmp_path / "ray"
    _finish(_bench(MATRIX + ["--out", str(serial)]))
    env = _killer(tmp_path)
    methods = MATRIX.index("--methods") + 1
    argv = MATRIX[:methods] + [MATRIX[methods] + ",dieonce:METHOD"] + MATRIX[methods + 1:]
    _finish(_bench(argv + ["--out", str(distributed), "--executor", "ray", "--cpus-per-cell", "1"], env), 600)
    _check_killed_cell(distributed, tmp_path / "died")
    got = _metrics(distributed)
    assert {k: v for k, v in got.items() if "|dieonce|" not in k[0]} == _metrics(serial)


def test_api_matrix_on_a_pool_equals_serial(tmp_path):
    from bench import api
    from bench.executor import Pool
    args = dict(tasks=["gmm"], methods=["none", "svdd", "smc"], budgets=["1x", "4x"], n=4, steps=8)
    serial = api.matrix(**args, out=tmp_path / "a")
    pooled = api.matrix(**args, out=tmp_path / "b", executor=Pool(2))
    assert len(serial) == len(pooled) == 6
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    again = api.matrix(**args, out=tmp_path / "b", executor=Pool(2))  # a rerun computes nothing, returns the records
    assert sorted(r["run_id"] for r in again) == sorted(r["run_id"] for r in pooled)


def test_a_cell_submitted_to_a_pool_that_just_broke_is_retried_not_raised(monkeypatch):
    """A worker can die between two rounds, so the driver's next submit meets a broken pool: the cell must join
    the recovery (new pool, resubmitted) instead of ending the matrix with BrokenProcessPool (a CI flake once)."""
    from concurrent.futures.process import BrokenProcessPool

    from bench.executor import Pool
    from bench.runner import Cell

    pool = Pool(1, retries=1)
    broken = pool.pool
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise BrokenProcessPool("a child process terminated abruptly")

    monkeypatch.setattr(broken, "submit", refuse)
    try:
        pool.submit(0, Cell(task="gmm", method="none", n=2, steps=4))
        got = list(pool.completed(block=True))
    finally:
        pool.close()
    assert calls and pool.pool is not broken
    assert [key for key, _ in got] == [0] and got[0][1].rec["status"] == "ok"


SLOW = '''
import time

from methods.none import NoGuidance


class Slow(NoGuidance):
    key = "slow"
    paper = "test helper: unguided sampling after half a second"

    def run(self, ctx, cfg):
        time.sleep(0.5)
        return super().run(ctx, cfg)


METHOD = Slow()
'''


def test_an_interrupted_pool_matrix_leaves_whole_records_and_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group) during a pooled matrix: exit 130 with a message, every written record
    whole, every claim released; the same command then runs the rest, each cell once."""
    import signal
    import time
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "slow.py").write_text(SLOW)
    argv = ["matrix", "--tasks", "gmm", "--methods", "slow:METHOD", "--budgets", "1x", "--seeds", "0-19", "--n", "4",
            "--steps", "8", "--no-progress", "--workers", "2", "--out", str(tmp_path / "out")]
    env = {"PYTHONPATH": str(tmp_path / "plug")}
    # its own process group, as a terminal's Ctrl-C reaches, with SIGINT at its default even when pytest itself
    # runs where it is ignored (a shell's background job)
    proc = _bench(argv, env, start_new_session=True,
                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    records = tmp_path / "out" / "records" / "gmm.jsonl"
    deadline = time.monotonic() + 240
    while not (records.exists() and records.read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "the matrix ended before it was interrupted"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted after" in err and "Traceback" not in err, err[-3000:]
    first = read_records(tmp_path / "out")  # parses: no torn line
    assert 2 <= len(first) < 20 and not list((tmp_path / "out" / "claims").glob("*.json"))
    _finish(_bench(argv, env))
    recs = read_records(tmp_path / "out")
    assert sorted(r["seed"] for r in recs) == list(range(20)) and {r["status"] for r in recs} == {"ok"}
