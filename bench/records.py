"""Records: one JSON line per task × objective × method × budget × seed, appended atomically.

``<out>/records/<task>.jsonl`` holds the records (the source of truth for the report); per-sample outputs
(decoded object, proxy, oracle) go to ``<out>/samples/<task>/<run_id>.jsonl``.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import torch

SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def git_state() -> tuple[str, bool]:
    """(sha, dirty) of the checkout holding this package; ("unknown", False) outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return sha or "unknown", dirty


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


def write_samples(out: Path, task: str, run_id: str, rows: list[dict[str, Any]]) -> Path:
    """Write the per-sample file (replaced atomically) and return its path."""
    path = out / "samples" / task / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)
    return path


def read_records(folder: Path) -> list[dict[str, Any]]:
    """Every record under ``folder`` (a records dir or an out dir); malformed lines are reported and skipped."""
    folder = Path(folder)
    if (folder / "records").is_dir():
        folder = folder / "records"
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{i}: malformed record ({err})") from err
    return out


def done_cells(folder: Path) -> set[tuple[str, str]]:
    """(run cell key, config hash) of every ok record: the cells a rerun skips."""
    return {(r["cell"], r["config_hash"]) for r in read_records(folder) if r.get("status") == "ok"} \
        if Path(folder).exists() else set()
