"""A content-keyed disk cache for expensive, deterministic references that every process of a run recomputes
(the DNA objectives' oracle thresholds over 47,872 real sequences take about 40 s per process).

Setting: env ``GUIDEBENCH_CACHE`` = a folder (default ``~/.cache/guidebench``) or ``off``. The key is a digest of
what the value depends on: the caller's key (weights sha256, task version, objective, subsample), the source code
of the function that builds it, the torch version and the CPU kernel capability (a value computed under one
kernel is never served to another, so results stay the same as without the cache). Writes go to a temporary file
renamed into place, so concurrent processes never read a partial file; an unreadable file is rebuilt.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

log = logging.getLogger(__name__)
T = TypeVar("T")
ENV = "GUIDEBENCH_CACHE"


def cache_dir() -> Path | None:
    """The cache folder, or None when the setting is ``off``."""
    value = os.environ.get(ENV, str(Path.home() / ".cache" / "guidebench"))
    return None if value.strip().lower() == "off" else Path(value)


def digest(key: dict[str, Any], build: Callable[[], Any]) -> str:
    """sha256 of the key, the builder's source, the torch version and the CPU capability."""
    blob = {**key, "_source": inspect.getsource(build), "_torch": torch.__version__,
            "_cpu": torch.backends.cpu.get_cpu_capability()}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def cached(name: str, key: dict[str, Any], build: Callable[[], T]) -> T:
    """``build()``, read from / written to ``<cache>/<name>-<digest>.pt`` (tensors, floats, tuples, dicts)."""
    folder = cache_dir()
    if folder is None:
        return build()
    path = folder / f"{name}-{digest(key, build)[:32]}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
            log.warning("disk cache %s unreadable (%s): rebuilding it", path, err)
    value = build()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(value, tmp)
    os.replace(tmp, path)
    return value
