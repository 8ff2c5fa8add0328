"""Plugins end to end: the example package's entry points (guidebench.tasks / guidebench.methods) are listed without
import, pass the contract checks and run in a matrix; a broken plugin fails the named check; a second top-level
``tasks`` package hides nothing. The fast tests install the example as an in-process ``importlib.metadata``
distribution (a ``*.dist-info`` folder on sys.path); the slow one pip-installs it into a temporary venv."""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import registry
from bench.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "guidebench-example"
ENTRY_POINTS = """[guidebench.tasks]
gmm1d = guidebench_example.task:Mixture1D

[guidebench.methods]
sir = guidebench_example.method:SIR
"""


def _dist_info(site: Path, name: str, entry_points: str, version: str = "0.1.0") -> None:
    """A minimal installed distribution: METADATA and entry_points.txt in ``<name>-<version>.dist-info``."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)


def _forget_example() -> None:
    for mod in [m for m in sys.modules if m.split(".")[0] in ("guidebench_example", "broken_plugin")]:
        del sys.modules[mod]
    registry.reset()
    importlib.invalidate_caches()


@pytest.fixture
def example(tmp_path, monkeypatch):
    """The example plugin as an installed distribution of this process (its package on sys.path)."""
    site = tmp_path / "site"
    _dist_info(site, "guidebench-example", ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(site))
    _forget_example()
    yield site
    _forget_example()


def test_entry_points_are_read_from_the_distribution(example):
    assert registry.entry_points("task") == [("gmm1d", "guidebench_example.task:Mixture1D",
                                              "guidebench-example 0.1.0")]
    assert registry.tasks().plugins() == ["gmm1d"] and registry.methods().plugins() == ["sir"]
    assert registry.tasks().origins["gmm"] == registry.BUILTIN


def test_ls_lists_plugins_without_importing_them(example, capsys):
    assert main(["ls", "tasks"]) == 0 and main(["ls", "methods"]) == 0 and main(["ls", "objectives"]) == 0
    out = capsys.readouterr().out
    assert "gmm1d      plugin guidebench_example.task:Mixture1D (guidebench-example 0.1.0)" in out
    assert "sir        plugin guidebench_example.method:SIR (guidebench-example 0.1.0)" in out
    assert "gmm " in out and "treeg-sc" in out  # the built-ins are still there
    assert not [m for m in sys.modules if m.startswith("guidebench_example")]


def test_example_plugin_passes_the_contract_checks(example, capsys):
    assert main(["check-task", "gmm1d"]) == 0
    assert main(["check-method", "sir"]) == 0
    out = capsys.readouterr().out
    assert "check-task: 6 passed, 0 failed" in out and "check-method: 7 passed, 0 failed" in out


def test_example_plugin_runs_in_a_matrix(example, tmp_path, capsys):
    rc = main(["matrix", "--tasks", "gmm1d,gmm", "--methods", "none,sir", "--budgets", "1x,4x", "--n", "8",
               "--steps", "8", "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc == 0 and "matrix: ok=8" in capsys.readouterr().out
    recs = [json.loads(x) for x in (tmp_path / "out" / "records" / "gmm1d.jsonl").read_text().splitlines()]
    assert {(r["method"], r["budget"]["name"]) for r in recs} == {(m, b) for m in ("none", "sir") for b in ("1x", "4x")}
    assert all(r["status"] == "ok" and r["main_metric"] == "mean_err" for r in recs)
    sir4 = next(r for r in recs if r["method"] == "sir" and r["budget"]["name"] == "4x")
    assert sir4["config"]["K"] > 1 and sir4["usage"]["cost_per_sample"] <= 4 * 8  # the width filled the budget
    gmm = [json.loads(x) for x in (tmp_path / "out" / "records" / "gmm.jsonl").read_text().splitlines()]
    assert {r["method"] for r in gmm} == {"none", "sir"}  # a plugin method runs on a built-in task


def test_module_attr_spelling_on_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    _forget_example()
    try:
        rc = main(["run", "--task", "guidebench_example.task:Mixture1D", "--method", "guidebench_example.method:SIR",
                   "--budget", "4x", "--n", "8", "--steps", "8", "--out", str(tmp_path), "--no-progress"])
        assert rc == 0 and "task=gmm1d" in capsys.readouterr().out
        assert (tmp_path / "records" / "gmm1d.jsonl").exists()
        assert registry.tasks().origins["gmm1d"] == registry.ADHOC
        assert main(["run", "--task", "no_such_module.x:Y", "--method", "none"]) == 2
        assert "cannot load task 'no_such_module.x:Y'" in capsys.readouterr().err
        assert main(["run", "--task", "gmm", "--method", "guidebench_example.task:Mixture1D"]) == 2
        assert "not a bench.method.Method" in capsys.readouterr().err
    finally:
        _forget_example()


BROKEN = '''
"""A broken plugin for the contract tests (update rule: as sir)."""
import torch
from guidebench_example.method import SIR
from guidebench_example.task import Mixture1D


class CheapLiar(SIR):
    key = "cheap-liar"

    def counts(self, cfg, steps):  # claims twice the rows it spends (the run stays under its cap)
        return super().counts(cfg, steps).scale(2.0)


class Undeclared(Mixture1D):
    name = "undeclared"

    def evaluate(self, objective, x0, instance):
        metrics, rows = super().evaluate(objective, x0, instance)
        return {**metrics, "secret": 1.0}, rows
'''


def test_a_broken_plugin_fails_the_named_check(example, tmp_path, monkeypatch, capsys):
    (tmp_path / "broken_plugin.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check-method", "broken_plugin:CheapLiar"]) == 1
    out = capsys.readouterr().out
    assert "FAIL method.budget: AssertionError: gmm: metered" in out and "PASS method.seeds" in out
    assert "check-method: 6 passed, 1 failed (budget)" in out
    assert main(["check-task", "broken_plugin:Undeclared"]) == 1
    out = capsys.readouterr().out
    assert "FAIL task.metrics" in out and "secret" in out and "PASS task.rewards" in out


def test_a_plugin_that_does_not_load_is_named(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    _dist_info(site, "wrongly", "[guidebench.tasks]\nwrong = guidebench_example.task:NoSuchClass\n"
               "[guidebench.methods]\nmissing = no_such_module_xyz:METHOD\n")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(site))
    _forget_example()
    try:
        assert main(["run", "--task", "wrong", "--method", "none"]) == 2
        assert "task 'wrong' (guidebench_example.task:NoSuchClass, wrongly 0.1.0) cannot be loaded" in \
            capsys.readouterr().err
        with pytest.raises(ImportError, match="method 'missing' .*no_such_module_xyz"):
            registry.methods().get("missing")
        assert main(["check-method", "missing"]) == 1
        assert "FAIL method.metadata: ImportError" in capsys.readouterr().out
    finally:
        _forget_example()


def test_a_plugin_never_replaces_a_builtin_name(tmp_path, monkeypatch, caplog):
    site = tmp_path / "site"
    _dist_info(site, "squatter", "[guidebench.tasks]\ngmm = squatter:Task\n")
    monkeypatch.syspath_prepend(str(site))
    _forget_example()
    try:
        assert registry.tasks().entries["gmm"] == "tasks.gmm.task:GMMTask" and registry.tasks().plugins() == []
        assert "ignored: the name is a built-in" in caplog.text
    finally:
        _forget_example()


def _bench(args: list[str], cwd: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([python, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_second_tasks_package_on_the_path_hides_no_builtin(tmp_path):
    for pkg in ("tasks", "methods"):  # the user's own project, first on sys.path (python -m puts the cwd first)
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text('TASK = "nothing:Here"\n')
    ls = _bench(["ls", "tasks"], tmp_path)
    assert ls.returncode == 0 and "gmm " in ls.stdout and "toyseq" in ls.stdout, ls.stderr
    run = _bench(["run", "--task", "gmm", "--method", "svdd", "--budget", "4x", "--n", "4", "--steps", "4", "--out",
                  str(tmp_path / "out"), "--no-progress"], tmp_path)
    assert run.returncode == 0 and "status=ok" in run.stdout, run.stderr
    assert "another 'tasks' package" in run.stderr  # the shadowing is said, not silent


@pytest.mark.slow
def test_pip_installed_example_plugin_end_to_end(tmp_path):
    """A real ``pip install`` of examples/guidebench-example into a fresh venv that sees this environment."""
    src, venv = tmp_path / "src", tmp_path / "venv"
    shutil.copytree(EXAMPLE, src)  # the build writes build/ and *.egg-info beside the sources
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(src)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    work = tmp_path / "work"
    work.mkdir()
    ls = _bench(["ls", "tasks"], work, python)
    assert "gmm1d      plugin guidebench_example.task:Mixture1D (guidebench-example 0.1.0)" in ls.stdout, ls.stderr
    assert _bench(["check-task", "gmm1d"], work, python).returncode == 0
    assert _bench(["check-method", "sir"], work, python).returncode == 0
    res = _bench(["matrix", "--tasks", "gmm1d", "--methods", "none,sir", "--budgets", "1x,4x", "--n", "8", "--steps",
                  "8", "--out", str(work / "out"), "--no-progress"], work, python)
    assert res.returncode == 0 and "matrix: ok=4" in res.stdout, res.stderr
    assert len((work / "out" / "records" / "gmm1d.jsonl").read_text().splitlines()) == 4
    # the plugin lives in the venv only: the test's own interpreter does not see it
    assert "gmm1d" not in _bench(["ls", "tasks"], work).stdout
