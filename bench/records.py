"""Records: one JSON line per task × objective × method × budget × seed, appended atomically.

``<out>/records/<task>.jsonl`` holds the records (the source of truth for the report); per-sample outputs
(decoded object, proxy, oracle) go to ``<out>/samples/<task>/<run_id>.jsonl.gz`` (path stored relative to ``<out>``).
"""
from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import math
import os
import platform
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from bench.source import check_manifest

SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def git_state() -> tuple[str, bool]:
    """(sha, dirty) of the checkout holding this package. Without git (a copy of the tree), its source manifest
    says (``bench.source``); with neither, ("unknown", True): nothing shows the code is a clean commit."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        sha, dirty = "", True
    if sha:
        return sha, dirty
    return check_manifest(root) or ("unknown", True)


def environment(device: str) -> dict[str, Any]:
    return {"torch": torch.__version__, "python": platform.python_version(), "device": device,
            "threads": torch.get_num_threads(), "platform": platform.platform()}


def config_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of everything that determines a cell's result."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def clean(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (standard JSON has no NaN), tensors become lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return clean(obj.tolist())
    return obj


def dumps(row: dict[str, Any]) -> str:
    return json.dumps(clean(row), default=str, allow_nan=False)


def append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows as JSON lines under an exclusive lock, in one write (atomic against other writers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(dumps(r) + "\n" for r in rows).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_samples(out: Path, task: str, run_id: str, rows: list[dict[str, Any]]) -> str:
    """Write the per-sample file ``<out>/samples/<task>/<run_id>.jsonl.gz`` (gzip, replaced atomically) and return
    its path relative to ``out`` (records store it so that a moved or cloned results folder still finds it)."""
    rel = Path("samples") / task / f"{run_id}.jsonl.gz"
    path = Path(out) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = "".join(dumps(r) + "\n" for r in rows).encode()
    with open(tmp, "wb") as fh:  # mtime=0: the same rows give the same bytes (committed files rebuild exactly)
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(data)
    os.replace(tmp, path)
    return rel.as_posix()


def samples_file(rec: dict[str, Any], root: Path) -> Path | None:
    """The record's per-sample file under the results folder ``root`` (relative path as stored; older records
    stored an absolute path, looked up by name under ``root/samples/<task>/`` when it is gone)."""
    stored = rec.get("samples_path")
    if not stored:
        return None
    path = Path(stored)
    if not path.is_absolute():
        path = Path(root) / path
    if not path.exists():
        path = Path(root) / "samples" / rec["task"] / path.name
    return path if path.exists() else None


def read_samples(rec: dict[str, Any], root: Path) -> list[dict[str, Any]] | None:
    """The per-sample rows of a record (gzip or plain JSON lines), or None when the file is missing."""
    path = samples_file(rec, root)
    if path is None:
        return None
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def _read_locked(path: Path) -> str:
    """The file's text under a shared flock: never a half-written line of a concurrent ``append_jsonl``."""
    with open(path, "rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        try:
            return fh.read().decode()
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_records(folder: Path) -> list[dict[str, Any]]:
    """Every record under ``folder`` (a records dir or an out dir); malformed lines are reported and skipped."""
    folder = Path(folder)
    if (folder / "records").is_dir():
        folder = folder / "records"
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        for i, line in enumerate(_read_locked(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{i}: malformed record ({err})") from err
    return out


FINAL_STATUSES = ("ok", "incompatible", "over_budget_min")  # a rerun never writes these cells again


_DONE: dict[Path, tuple[int, set[tuple[str, str]]]] = {}  # records file -> (bytes parsed, final cells so far)


def done_cells(folder: Path, task: str | None = None) -> set[tuple[str, str]]:
    """(run cell key, config hash) of every final record (ok, incompatible, over_budget_min): the cells a rerun
    skips. Errors and budget_exceeded cells are retried. With ``task`` only ``<task>.jsonl`` is read, and only the
    bytes appended since this process last read it (record files are append-only), so a matrix does not re-parse
    every record before every cell."""
    folder = Path(folder)
    if task is None:
        return {(r["cell"], r["config_hash"]) for r in read_records(folder) if r.get("status") in FINAL_STATUSES} \
            if folder.exists() else set()
    path = (folder / f"{task}.jsonl").resolve()
    if not path.exists():
        return set()
    seen, cells = _DONE.get(path, (0, set()))
    if path.stat().st_size < seen:  # the file was replaced or truncated: start over
        seen, cells = 0, set()
    with open(path, "rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        try:
            fh.seek(seen)
            new = fh.read()
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    cells = set(cells)
    for line in new.decode().splitlines():
        if line.strip():
            r = json.loads(line)
            if r.get("status") in FINAL_STATUSES:
                cells.add((r["cell"], r["config_hash"]))
    _DONE[path] = (seen + len(new), cells)
    return cells


@dataclass(frozen=True)
class Claim:
    """A held claim on one (cell, config hash) under ``<out>/claims/``: ``path`` holds this process's pid."""

    path: Path
    pid: int


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (created) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def claim_cell(out: Path, cell: str, chash: str) -> tuple[Claim | None, str]:
    """Claim (cell, config hash) for this process: (Claim, "") or (None, who holds it). Claims are files
    ``<out>/claims/<sha>.json`` written under ``<out>/claims/.lock``; a claim of a process that is no longer alive
    on this host (a killed run) is taken over, a claim from another host is respected."""
    folder = Path(out) / "claims"
    path = folder / (hashlib.sha256(f"{cell}|{chash}".encode()).hexdigest()[:24] + ".json")
    me = {"pid": os.getpid(), "host": platform.node(), "cell": cell, "config_hash": chash}
    with _locked(folder / ".lock"):
        if path.exists():
            try:
                held = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                held = {}
            stale = held.get("host") == me["host"] and not _alive(int(held.get("pid", 0)))
            if held and not stale and held.get("pid") != me["pid"]:
                return None, f"pid {held.get('pid')} on {held.get('host')}"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(me))
        os.replace(tmp, path)
    return Claim(path, me["pid"]), ""


def release(claim: Claim) -> None:
    """Remove a claim this process holds (a claim taken over by another process stays)."""
    with _locked(claim.path.parent / ".lock"):
        try:
            if json.loads(claim.path.read_text()).get("pid") == claim.pid:
                claim.path.unlink()
        except (OSError, json.JSONDecodeError):
            pass
