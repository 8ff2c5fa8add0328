"""The README's quick start is exactly two commands, and CI runs its test command."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n+```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert block, "README has no Quick start code block"
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


def test_two_commands():
    cmds = _quickstart()
    assert len(cmds) == 2, cmds
    assert "bench run" in cmds[0] and "pytest" in cmds[1]
    assert "torch==2.13.0" in cmds[0] and "torch==2.13.0" in cmds[1]


def test_ci_runs_the_readme_test_command():
    test_cmd = _quickstart()[1].split("&&")[-1].strip()
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
