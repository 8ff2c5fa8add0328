"""The committed evaluation protocol (`results/protocol.yaml`, `bench matrix --protocol`): checked in full before
any work, its grid fixed (the grid flags are refused), its cells exactly the file's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import registry
from bench import validate as V
from bench.cli import build_parser, main
from bench.protocol import GRID_DEFAULTS, MIN_N, cells, load_protocol

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "protocol.yaml"

TINY = """
name: tiny
methods: [none, best-of-n]
budgets: [1x, 2x]
seeds: [0]
tasks:
  gmm: {objectives: [linear], n: 32, steps: 4}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_the_committed_protocol_covers_every_task_at_three_budgets_and_seeds():
    p = load_protocol(COMMITTED)
    assert set(p.tasks) == set(registry.tasks().names())
    assert p.budgets == ["1x", "4x", "16x"] and p.seeds == [0, 1, 2]
    assert set(p.methods) == set(registry.methods().names())
    for name, tp in p.tasks.items():
        assert tp.n >= MIN_N and registry.tasks().get(name).default_objective in tp.objectives, name
    assert "none yet" in p.tuning and not any(tp.settings for tp in p.tasks.values())
    assert f"{len(cells(p)):,} cells" in (ROOT / "results" / "PROTOCOL.md").read_text()


def test_grid_defaults_are_the_parsers():
    """A protocol refuses any grid flag that differs from its default, so the defaults must be the parser's."""
    args = build_parser().parse_args(["matrix"])
    assert {k: getattr(args, k) for k in GRID_DEFAULTS} == GRID_DEFAULTS


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t + "extra: 1\n", "unknown key(s) ['extra']"),
    (lambda t: t.replace("gmm:", "nosuch:"), "tasks.nosuch: not a task"),
    (lambda t: t.replace("[linear]", "[rings=3]"), "'rings=3' is not taken by gmm"),
    (lambda t: t.replace("n: 32", "n: 8"), f"expected an integer >= {MIN_N}"),
    (lambda t: t.replace("steps: 4", "steps: 0"), "expected a positive integer"),
    (lambda t: t.replace("[1x, 2x]", "[1x, 0.5x]"), "budget '0.5x'"),
    (lambda t: t.replace("seeds: [0]", "seeds: [-1]"), "seeds"),
    (lambda t: t.replace("[none, best-of-n]", "[none, nosuch]"), "methods"),
    (lambda t: t.replace("steps: 4}", "steps: 4, settings: {best-of-n: {M: 3}}}"), "settings.best-of-n"),
    (lambda t: t.replace("steps: 4}", "steps: 4, settings: {best-of-n: {N: 0}}}"), "settings.best-of-n"),
    (lambda t: t.replace("steps: 4}", "steps: 4, settings: {smc: {k: 2}}}"), "'smc' is not a method of the"),
    (lambda t: t.replace("n: 32, ", "n: 32, seedz: 1, "), "unknown key(s) ['seedz']"),
])
def test_a_bad_protocol_is_refused_with_the_key_and_the_accepted_form(tmp_path, edit, needle):
    with pytest.raises(V.InputError) as err:
        load_protocol(_write(tmp_path, edit(TINY)))
    assert needle in str(err.value)


def test_settings_are_typed_by_the_method_config(tmp_path):
    p = load_protocol(_write(tmp_path, TINY.replace("steps: 4}", "steps: 4, settings: {best-of-n: {N: 3}}}")))
    got = {(c.method, c.budget): c.overrides for c in cells(p)}
    assert got[("best-of-n", "1x")] == {"N": 3} and got[("none", "2x")] == {}


def test_matrix_runs_exactly_the_protocol_cells(tmp_path, capsys):
    path, out = _write(tmp_path, TINY), tmp_path / "out"
    assert main(["matrix", "--protocol", str(path), "--out", str(out), "--no-progress"]) == 0
    recs = [json.loads(line) for line in (out / "records" / "gmm.jsonl").read_text().splitlines()]
    assert sorted((r["method"], r["budget"]["name"]) for r in recs) == [
        ("best-of-n", "1x"), ("best-of-n", "2x"), ("none", "1x"), ("none", "2x")]
    assert {(r["n"], r["steps"], r["objective"], r["seed"]) for r in recs} == {(32, 4, "linear", 0)}
    assert main(["matrix", "--protocol", str(path), "--methods", "none", "--out", str(tmp_path / "part"),
                 "--no-progress"]) == 0
    assert {json.loads(line)["method"] for line in (tmp_path / "part" / "records" / "gmm.jsonl").open()} == {"none"}


@pytest.mark.parametrize("flags,needle", [
    (["--n", "8"], "--protocol fixes --n"), (["--budgets", "16x"], "--protocol fixes --budgets"),
    (["--seeds", "0-2"], "--protocol fixes --seeds"), (["--set", "N=2"], "--protocol fixes --set"),
    (["--tasks", "toyseq"], "--tasks toyseq: not in protocol tiny"),
    (["--methods", "smc"], "--methods smc: not in protocol tiny"),
])
def test_grid_flags_and_parts_outside_the_protocol_are_refused_before_any_work(tmp_path, capsys, flags, needle):
    out = tmp_path / "out"
    assert main(["matrix", "--protocol", str(_write(tmp_path, TINY)), "--out", str(out), *flags]) == 2
    assert needle in capsys.readouterr().err and not (out / "records").exists()


def test_a_missing_protocol_file_names_the_committed_one(tmp_path, capsys):
    assert main(["matrix", "--protocol", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]) == 2
    assert "results/protocol.yaml" in capsys.readouterr().err
