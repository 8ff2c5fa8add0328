"""Help shows defaults and a line per flag; `ls methods` lists --set keys; progress lines without a terminal;
a missing task dependency fails at once with the install line."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from bench import registry
from bench.cli import build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    ap = build_parser()
    action = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    return {"bench": ap, **action.choices}


@pytest.mark.parametrize("name", list(_subparsers()))
def test_every_flag_has_help_and_defaults_are_shown(name, capsys):
    parser = _subparsers()[name]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help, (name, action.dest)
        shown = action.default not in (None, False, [], argparse.SUPPRESS) and not action.required
        assert ("%(default)s" in parser.formatter_class("bench")._get_help_string(action)) == shown, action.dest
    assert main(([] if name == "bench" else [name]) + ["--help"]) == 0
    text = capsys.readouterr().out
    if name in ("run", "matrix"):
        assert "(default: runs)" in text and "(default: cpu)" in text and "(default: 0)" in text


def test_ls_methods_lists_set_keys_with_types_and_defaults(capsys):
    assert main(["ls", "methods"]) == 0
    out = capsys.readouterr().out
    assert "k: int = 4 (>= 1)" in out and "potential: str = 'diff' (one of diff|max|add|rt)" in out
    assert "ess: float | None = None (> 0 and <= 1)" in out
    for key in registry.methods().names():
        m = registry.methods().get(key)
        assert all(f"{f.name}: " in out for f in dataclasses.fields(m.Config)), key


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    import bench.progress
    monkeypatch.setattr(bench.progress, "PROGRESS_EVERY_S", 0.0)
    assert main(["matrix", "--tasks", "gmm", "--methods", "none,svdd", "--budgets", "4x", "--n", "4", "--steps", "6",
                 "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [x for x in err if x.startswith("bench: [")] == ["bench: [1/2] gmm|<default>|none|4x|0",
                                                              "bench: [2/2] gmm|<default>|svdd|4x|0"]
    steps = [x for x in err if x.startswith("bench:   ")]
    assert len(steps) >= 2 * 5 and any("/6 (" in x for x in steps), err  # one line per step at interval 0
    assert main(["run", "--task", "gmm", "--method", "none", "--n", "4", "--steps", "6", "--out", str(tmp_path / "q"),
                 "--no-progress"]) == 0
    assert not [x for x in capsys.readouterr().err.splitlines() if x.startswith("bench:")]


def test_missing_task_dependency_fails_at_once_with_the_install_line(tmp_path, capsys, monkeypatch):
    music = registry.tasks().get("music")
    monkeypatch.setattr(music, "requires", {"music21_not_installed_here": "music"})
    assert main(["run", "--task", "music", "--method", "none", "--out", str(tmp_path)]) == 2
    assert 'pip install "guidebench[music]"' in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing sampled, no record
    from bench.runner import MissingDependency, build_task
    with pytest.raises(MissingDependency, match="music21_not_installed_here"):
        build_task("music", True, "cpu")  # the API path (tune, smoke) checks too


def test_every_task_declared_requirement_is_in_an_extra_and_installed():
    """The README's first command installs ``.``: every module a task requires is importable here, and its
    extra exists in pyproject.toml."""
    import importlib.util
    from pathlib import Path
    tomllib = pytest.importorskip("tomllib", reason="needs Python >= 3.11 (tomllib) to read pyproject.toml")
    extras = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name in registry.tasks().names():
        for module, extra in getattr(registry.tasks().get(name), "requires", {}).items():
            assert extra in extras, (name, extra)
            assert importlib.util.find_spec(module) is not None, (name, module)
