"""Tuned method configs: ``tasks/<task>/tuned/<method>.yaml`` (written by ``bench tune``), read by run/matrix."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml


def tuned_path(task: str, method: str) -> Path | None:
    spec = importlib.util.find_spec("tasks")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / task / "tuned" / f"{method}.yaml"


def tuned_config(task: str, method: str) -> dict[str, Any]:
    """The saved config overrides for (task, method), or {} when none was tuned."""
    path = tuned_path(task, method)
    if path is None or not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return dict(data.get("config", {}))
