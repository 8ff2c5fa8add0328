"""Committed weights, one way for every task: a sha256 manifest beside the files, each file checked once per
process (lazily, on first load), errors naming the file; the folder of a task, its hash for records, and the
explicit install of a pretraining run over the committed files.

A task's weights folder is ``<task package>/weights`` unless the setting ``GUIDEBENCH_<TASK>_WEIGHTS`` (env)
names another one.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

MANIFEST = "manifest.json"
_VERIFIED: dict[tuple[str, int, int], str] = {}  # (resolved path, size, mtime_ns) -> verified sha256


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
    """Write ``folder/manifest.json`` listing every other file (not ``*.md``) with its sha256 and size."""
    folder = Path(folder)
    entries = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size}
               for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST and not p.name.endswith(".md")}
    (folder / MANIFEST).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries


def checked_path(folder: Path, name: str) -> Path:
    """``folder/name`` after verifying it against the manifest (once per process while the file is unchanged);
    raises CorruptWeightsError naming the missing or corrupt file."""
    folder = Path(folder)
    path, man = folder / name, folder / MANIFEST
    if not man.exists():
        raise CorruptWeightsError(f"{man} is missing; run `bench pretrain` for this task")
    entry = json.loads(man.read_text()).get(name)
    if entry is None:
        raise CorruptWeightsError(f"{path} is not listed in {man}")
    if not path.exists():
        raise CorruptWeightsError(f"{path} is missing (listed in {man}); run `bench pretrain` for this task")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _VERIFIED.get(key) or sha256(path)
    if digest != entry["sha256"]:
        raise CorruptWeightsError(f"{path} is corrupt: sha256 {digest[:12]}… != manifest {entry['sha256'][:12]}…")
    _VERIFIED[key] = digest
    return path


def load_state(folder: Path, name: str, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checked ``torch.save`` file (state dict plus config) onto ``device``."""
    return torch.load(checked_path(folder, name), map_location=device, weights_only=True)


def task_folder(task_cls: type) -> Path | None:
    """The weights folder of a task class (None for analytic tasks, which have no ``pretrain_entry``); a twin task
    that shares another task's models names that task class as ``weights_owner`` (``images_flow`` → ``images``)."""
    if not getattr(task_cls, "pretrain_entry", None):
        return None
    owner = getattr(task_cls, "weights_owner", None) or task_cls  # a twin task reading another task's folder
    env = os.environ.get(f"GUIDEBENCH_{owner.name.upper()}_WEIGHTS")
    if env:
        return Path(env)
    return Path(importlib.import_module(owner.__module__).__file__).resolve().parent / "weights"


def weights_sha256(task: Any) -> str:
    """sha256 of the task's weight manifest ("" for analytic tasks and tiny random-weight variants).

    The manifest lists every file's sha256, so this one hash identifies the whole set of weights a record used.
    """
    folder = None if getattr(task, "tiny", False) else task_folder(type(task))
    if folder is None:
        return ""
    man = folder / MANIFEST
    return sha256(man) if man.exists() else "missing"


def install(src: Path, dst: Path) -> list[str]:
    """Replace the files of ``dst`` by those of ``src`` (a finished pretraining run's weights folder, manifest
    checked first); returns the names installed. Files of ``dst`` that ``src`` lacks are removed."""
    src, dst = Path(src), Path(dst)
    names = sorted(json.loads((src / MANIFEST).read_text()))
    for name in names:
        checked_path(src, name)
    dst.mkdir(parents=True, exist_ok=True)
    keep = {*names, MANIFEST, *(p.name for p in src.glob("*.md"))}
    for p in dst.iterdir():
        if p.is_file() and p.name not in keep:
            p.unlink()
    for name in sorted(keep):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    return sorted(keep)


def put_card_section(card: Path, begin: str, end: str, section: str) -> None:
    """Write ``section`` (which starts with the marker ``begin`` and ends with ``end``) into a model card,
    replacing the card's earlier section between the same markers, else appending it."""
    text = card.read_text()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")  # a section followed by another keeps its blank line
    else:
        text = text.rstrip("\n") + "\n\n" + section
    card.write_text(text)
