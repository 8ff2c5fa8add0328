"""scripts/molecules_phase_curve.py: the committed denoiser's phase table is its pretrain_info, at cumulative steps,
and writing the section twice leaves one copy in the card."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "tasks" / "molecules" / "weights"
_spec = importlib.util.spec_from_file_location("molecules_phase_curve", ROOT / "scripts" / "molecules_phase_curve.py")
curve = importlib.util.module_from_spec(_spec)
sys.modules["molecules_phase_curve"] = curve
_spec.loader.exec_module(curve)


def test_phase_points_and_one_section(tmp_path, monkeypatch):
    info = json.loads((WEIGHTS / "pretrain_info.json").read_text())
    pts = curve.points(info)
    phases = info["denoiser"]["phases"]
    assert [s for s, _ in pts][-1] == sum(p["steps"] for p in phases)
    assert [p["val_loss"] for _, p in pts] == [p["val_loss"] for p in phases]
    for name in ("pretrain_info.json", "MODEL_CARD.md"):
        shutil.copyfile(WEIGHTS / name, tmp_path / name)
    argv = ["x", "--weights", str(tmp_path), "--figure", str(tmp_path / "fig.png")]
    for _ in range(2):
        monkeypatch.setattr(sys, "argv", argv)
        curve.main()
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert card.count(curve.BEGIN) == 1 and card.count(curve.END) == 1
    assert f"| {pts[-1][0]:,} | {len(phases)} |" in card and (tmp_path / "fig.png").stat().st_size > 0
    assert card == (WEIGHTS / "MODEL_CARD.md").read_text().replace("docs/figures/molecules_denoiser_curve.png",
                                                                    (tmp_path / "fig.png").as_posix())
