"""The source manifest (`bench.source`): a copy of the tree without .git still names its commit, and any changed
or missing tracked file marks it dirty."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench import records, source

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("x = 1\n")
    (root / "b.bin").write_bytes(bytes(range(256)) * 3)
    (root / "link").symlink_to("pkg/a.py")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    return root


def test_blob_ids_are_gits_own(repo: Path):
    for name in ("pkg/a.py", "b.bin"):
        assert source.blob_id(repo / name) == _git(repo, "hash-object", name).strip()
    assert source.blob_id(repo / "link") == _git(repo, "rev-parse", "HEAD:link").strip()


def test_a_copy_without_git_names_its_commit_and_sees_any_change(repo: Path, tmp_path: Path):
    head = _git(repo, "rev-parse", "HEAD").strip()
    source.write_manifest(repo, repo / source.MANIFEST)
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    assert source.check_manifest(copy) == (head, False)
    (copy / "untracked.txt").write_text("not looked at")
    assert source.check_manifest(copy) == (head, False)
    (copy / "pkg" / "a.py").write_text("x = 2\n")
    assert source.check_manifest(copy) == (head, True)
    (copy / "pkg" / "a.py").write_text("x = 1\n")
    (copy / "b.bin").unlink()
    assert source.check_manifest(copy) == (head, True)
    assert source.check_manifest(tmp_path) is None  # no manifest: nothing to say


def test_a_manifest_is_refused_for_a_tree_that_differs_from_head(repo: Path):
    (repo / "pkg" / "a.py").write_text("x = 3\n")
    with pytest.raises(SystemExit, match="differ from HEAD"):
        source.write_manifest(repo, repo / source.MANIFEST)


def test_git_state_falls_back_to_the_manifest_then_to_unknown_and_dirty(monkeypatch, tmp_path: Path):
    """Without git: the manifest's answer when there is one, else ("unknown", dirty): nothing shows the code
    is a clean commit."""
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(records.subprocess, "run", no_git)
    monkeypatch.setattr(records, "check_manifest", lambda root: None)
    records.git_state.cache_clear()
    try:
        assert records.git_state() == ("unknown", True)
        records.git_state.cache_clear()
        monkeypatch.setattr(records, "check_manifest", lambda root: ("abc123", False))
        assert records.git_state() == ("abc123", False)
    finally:
        records.git_state.cache_clear()
