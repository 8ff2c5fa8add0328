"""Committed weights: a sha256 manifest beside the files, checked on every load."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

MANIFEST = "manifest.json"


class CorruptWeightsError(RuntimeError):
    """A weight file is missing or does not match its manifest entry."""


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Write ``folder/manifest.json`` listing every other file with its sha256 and size."""
    folder = Path(folder)
    entries = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size}
               for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST and not p.name.endswith(".md")}
    (folder / MANIFEST).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries


def checked_path(folder: Path, name: str) -> Path:
    """Return ``folder/name`` after verifying it against the manifest; raise CorruptWeightsError naming the file."""
    folder = Path(folder)
    path = folder / name
    man = folder / MANIFEST
    if not man.exists():
        raise CorruptWeightsError(f"{man} is missing; run `bench pretrain` for this task")
    entry = json.loads(man.read_text()).get(name)
    if entry is None:
        raise CorruptWeightsError(f"{path} is not listed in {man}")
    if not path.exists():
        raise CorruptWeightsError(f"{path} is missing (listed in {man}); run `bench pretrain` for this task")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise CorruptWeightsError(f"{path} is corrupt: sha256 {digest[:12]}… != manifest {entry['sha256'][:12]}…")
    return path


def load_state(folder: Path, name: str, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checked ``torch.save`` file (state dict plus config) onto ``device``."""
    return torch.load(checked_path(folder, name), map_location=device, weights_only=True)
