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


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Commands\n+((?:    .*\n|\n)+)", text)
    assert block, "README has no Commands block"
    return [ln.strip() for ln in block.group(1).splitlines() if ln.strip().startswith("bench ")]


def _argv(line: str) -> list[str]:
    """The README line as argv, with its optional [--flag value] parts filled in and comments dropped."""
    line = line.split("  #")[0].replace("[", "").replace("]", "")
    return line.split()[1:]


def test_compare_works_as_the_readme_shows():
    """`bench smoke` then `bench compare --baseline ...` (README) read and write the same folder, and the
    baseline the README and CI name is committed, written by `bench baseline` and covers every task and method."""
    from bench import registry
    from bench.cli import build_parser
    from bench.compare import read_baseline
    lines = {ln.split()[1]: ln for ln in _commands()}
    parser = build_parser()
    full = _argv(lines["compare"])  # compare --baseline B --records R
    bare, smoke = parser.parse_args(full[:3]), parser.parse_args(_argv(lines["smoke"])[:1])
    assert bare.records == smoke.out == parser.parse_args(full).records  # the default folder is smoke's output
    assert str(bare.baseline) in (ROOT / ".ci" / "run").read_text()
    assert parser.parse_args(["baseline"]).out == bare.baseline
    meta, df = read_baseline(ROOT / bare.baseline)
    assert meta["written_by"].startswith("bench baseline")
    assert {"n", "steps", "budgets", "seeds", "git_sha", "kernels"} <= set(meta)
    assert set(df["task"]) == set(registry.tasks().names())
    assert set(df["method"]) == set(registry.methods().names())
