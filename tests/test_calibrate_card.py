"""The model card shows the committed compute calibration; rewriting the section is idempotent."""
from __future__ import annotations

from bench.calibrate import CARD_BEGIN, CARD_END, card_lines, write_card_section


def test_card_section_written_once_and_replaced(tmp_path):
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# Model\n\nbody\n")
    write_card_section("molecules", card)
    first = card.read_text()
    assert first.count(CARD_BEGIN) == 1 and first.count(CARD_END) == 1 and card_lines("molecules") in first
    write_card_section("molecules", card)
    assert card.read_text() == first  # idempotent: the old section is replaced, never appended twice
    assert first.startswith("# Model\n\nbody\n")


def test_committed_cards_show_their_calibration():
    from pathlib import Path

    import tasks
    root = Path(tasks.__file__).parent
    for task in ("molecules", "music", "images"):
        text = (root / task / "weights" / "MODEL_CARD.md").read_text()
        assert card_lines(task) in text, task  # rerun `bench calibrate --task T` after changing the JSON


def test_calibrating_named_objectives_merges_into_the_committed_file(tmp_path):
    import json
    import shutil

    from bench.calibrate import calibrate, calibration_path
    path = tmp_path / "calibration.json"
    shutil.copy(calibration_path("gmm"), path)
    before = json.loads(path.read_text())
    calibrate("gmm", ["region"], repeats=1, out=path)
    after = json.loads(path.read_text())
    assert after["c_b"] == before["c_b"] and after["objectives"]["linear"] == before["objectives"]["linear"]
    assert after["objectives"]["region"]["date"] and after["objectives"]["region"]["c_r"] > 0
