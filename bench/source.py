"""Which commit a checkout without ``.git`` holds: a manifest of the commit's tracked files, checked file by file.

A copy of the working tree (a GPU machine's, say) has no ``.git``, so ``git rev-parse`` cannot say which code
produced its records. ``python -m bench.source --out SOURCE.json`` writes, from a clean checkout, the commit and
the git blob id of every tracked file; where ``git`` fails, ``bench.records.git_state`` reads that file and
recomputes each blob id (sha1 of ``b"blob <size>\\0" + content``, git's own), so the records carry the commit,
and ``git_dirty`` is true when any tracked file is missing or differs. Untracked files are not looked at, as
``git status --untracked-files=no`` does not look at them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

MANIFEST = "SOURCE.json"  # at the checkout's root; ignored by git (.gitignore)


def blob_id(path: Path) -> str:
    """Git's blob id of a file (a symbolic link hashes its target, as git stores it)."""
    data = str(path.readlink()).encode() if path.is_symlink() else path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def write_manifest(root: Path, out: Path) -> dict:
    """Write the manifest of ``root``'s HEAD; refused when tracked files differ from HEAD (they would travel)."""
    if _git(root, "status", "--porcelain", "--untracked-files=no").strip():
        raise SystemExit(f"{root}: tracked files differ from HEAD; commit or stash them first")
    files = {}
    for line in _git(root, "ls-files", "-s", "-z").split("\0"):
        if line:
            meta, path = line.split("\t", 1)
            mode, blob = meta.split()[:2]
            if mode != "160000":  # a submodule has no blob here
                files[path] = blob
    manifest = {"commit": _git(root, "rev-parse", "HEAD").strip(), "files": files}
    out.write_text(json.dumps(manifest, sort_keys=True))
    return manifest


def check_manifest(root: Path) -> tuple[str, bool] | None:
    """(commit, dirty) from ``root/SOURCE.json``; None when there is none."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    dirty = any(not (root / p).is_file() or blob_id(root / p) != blob for p, blob in manifest["files"].items())
    return manifest["commit"], dirty


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write the source manifest of this checkout's HEAD")
    ap.add_argument("--out", default=MANIFEST, help="where to write it (default: SOURCE.json, ignored by git)")
    root = Path(__file__).resolve().parent.parent
    manifest = write_manifest(root, Path(ap.parse_args(argv).out))
    print(f"{manifest['commit']}: {len(manifest['files'])} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
