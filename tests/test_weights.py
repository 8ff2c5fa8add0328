"""bench/weights.py: manifest checks (missing / corrupt named), one check per process, record hash, install."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench import weights as W
from bench.registry import tasks


def _folder(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save({"state": {"w": torch.ones(3)}, "config": {}}, tmp / "net.pt")
    (tmp / "extra.txt").write_text("x")
    W.write_manifest(tmp)
    return tmp


def test_load_checks_and_names_missing_and_corrupt_files(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "w")
    assert torch.equal(W.load_state(folder, "net.pt")["state"]["w"], torch.ones(3))
    with pytest.raises(W.CorruptWeightsError, match="not listed"):
        W.checked_path(folder, "other.pt")
    (folder / "extra.txt").write_text("y")  # same size, new content (and mtime)
    with pytest.raises(W.CorruptWeightsError, match=r"extra\.txt is corrupt"):
        W.checked_path(folder, "extra.txt")
    (folder / "net.pt").unlink()
    with pytest.raises(W.CorruptWeightsError, match=r"net\.pt is missing"):
        W.load_state(folder, "net.pt")
    (folder / W.MANIFEST).unlink()
    with pytest.raises(W.CorruptWeightsError, match=r"manifest\.json is missing"):
        W.checked_path(folder, "extra.txt")


def test_each_file_hashed_once_per_process(tmp_path: Path, monkeypatch) -> None:
    folder = _folder(tmp_path / "w")
    calls: list[Path] = []
    real = W.sha256
    monkeypatch.setattr(W, "sha256", lambda p: calls.append(Path(p)) or real(p))
    for _ in range(3):
        W.load_state(folder, "net.pt")
    assert calls == [folder / "net.pt"]


def test_weights_sha256_identifies_the_weight_set(tmp_path: Path, monkeypatch) -> None:
    images, gmm = tasks().get("images"), tasks().get("gmm")
    assert W.weights_sha256(gmm(tiny=False)) == ""
    folder = _folder(tmp_path / "w")
    monkeypatch.setenv("GUIDEBENCH_IMAGES_WEIGHTS", str(folder))
    assert W.task_folder(images) == folder
    fake = type("T", (images,), {"__init__": lambda self, tiny=False: setattr(self, "tiny", tiny)})
    first = W.weights_sha256(fake())
    assert len(first) == 64 and W.weights_sha256(fake(tiny=True)) == ""
    (folder / "extra.txt").write_text("other weights")
    W.write_manifest(folder)
    assert W.weights_sha256(fake()) not in ("", first)


def test_install_replaces_the_folder_after_checking_the_source(tmp_path: Path) -> None:
    src, dst = _folder(tmp_path / "src"), tmp_path / "dst"
    dst.mkdir()
    (dst / "stale.pt").write_text("old")
    (src / "README.md").write_text("card")
    W.install(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == ["README.md", "extra.txt", W.MANIFEST, "net.pt"]
    assert (dst / "net.pt").read_bytes() == (src / "net.pt").read_bytes()
    (src / "net.pt").write_bytes(b"broken")
    with pytest.raises(W.CorruptWeightsError, match="net.pt"):
        W.install(src, tmp_path / "dst2")
    assert not (tmp_path / "dst2").exists()


def test_card_sections_rewrite_in_place(tmp_path):
    """Appending two sections, then rewriting each (same text, then new text), gives the card the appends would:
    a rewritten section keeps its place and the blank line before the next one."""
    put_card_section = W.put_card_section
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# card\n\nbody\n")
    a, b = ("<!-- a -->", "<!-- /a -->"), ("<!-- b -->", "<!-- /b -->")
    put_card_section(card, *a, "<!-- a -->\nA1\n<!-- /a -->\n")
    put_card_section(card, *b, "<!-- b -->\nB1\n<!-- /b -->\n")
    once = card.read_text()
    assert once == "# card\n\nbody\n\n<!-- a -->\nA1\n<!-- /a -->\n\n<!-- b -->\nB1\n<!-- /b -->\n"
    put_card_section(card, *a, "<!-- a -->\nA1\n<!-- /a -->\n")
    put_card_section(card, *b, "<!-- b -->\nB1\n<!-- /b -->\n")
    assert card.read_text() == once
    put_card_section(card, *a, "<!-- a -->\nA2\n<!-- /a -->\n")
    assert card.read_text() == once.replace("A1", "A2")
