"""Strict CLI input: every bad value exits 2 with the accepted form before any work; a seeded fuzz of the parser."""
from __future__ import annotations

import random

import pytest

from bench import commands, registry
from bench import validate as V
from bench.cli import main
from bench.runner import Cell


class WorkStarted(BaseException):
    """Raised by the patched runner (a BaseException: the matrix records Exceptions): this argv reached work."""


@pytest.fixture
def no_work(monkeypatch):
    """Every entry point that does work fails the test if reached by bad input; returns the cells it saw."""
    seen: list = []

    def fail(*args, **kwargs):
        seen.append(args[0] if args else kwargs)
        raise WorkStarted
    monkeypatch.setattr(commands, "execute", fail)

    def fail_cells(cells, *args, **kwargs):  # bench matrix: the executor loop, reached with its cells
        if cells:
            fail(cells[0])
        return iter(())
    import bench.executor
    monkeypatch.setattr(bench.executor, "run_cells", fail_cells)
    import bench.calibrate
    import bench.tune
    monkeypatch.setattr(bench.tune, "tune", fail)
    monkeypatch.setattr(bench.calibrate, "calibrate", fail)
    return seen


@pytest.mark.parametrize("text,want", [("4x", "4x"), ("4X", "4x"), (" 4x", "4x"), ("4", "4x"), ("4.0x", "4x"),
                                       ("1.5x", "1.5x"), ("16x ", "16x")])
def test_budget_normalised(text, want):
    assert V.budget(text) == want


@pytest.mark.parametrize("text", ["abcx", "0.5x", "-1x", "nanx", "infx", "x", "", "4xx", "1e3x", "0x"])
def test_budget_rejected(text):
    with pytest.raises(V.InputError, match="number >= 1 followed by x"):
        V.budget(text)


@pytest.mark.parametrize("text", ["2-0", "a", "", "1,", "-1", "0-", "1,1", "0-2,2"])
def test_seeds_rejected(text):
    with pytest.raises(V.InputError, match="seed"):
        V.seeds(text)


def test_seeds_accepted():
    assert V.seeds("0-2") == [0, 1, 2] and V.seeds("0,3,5-6") == [0, 3, 5, 6] and V.seeds(" 7 ") == [7]


@pytest.mark.parametrize("argv,needle", [
    (["run", "--task", "gmm", "--method", "smc", "--budget", "abcx"], "followed by x"),
    (["run", "--task", "gmm", "--method", "smc", "--seeds", "2-0"], "ascending ranges"),
    (["run", "--task", "gmm", "--method", "smc", "--n", "0"], "positive integer"),
    (["run", "--task", "gmm", "--method", "smc", "--n", "-5"], "positive integer"),
    (["run", "--task", "gmm", "--method", "smc", "--steps", "0"], "positive integer"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "k=-3"], "smc.k expects int, >= 1"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "k=1.5"], "smc.k expects int"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "lam=nan"], "smc.lam expects float, finite"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "lam=inf"], "finite"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "lam=abc"], "float"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "return_all=maybe"], "bool"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "potential=foo"], "one of diff|max|add|rt"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "ess=1.5"], "<= 1"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "k"], "KEY=VALUE"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "k=2", "--set", "k=3"], "given twice"),
    (["run", "--task", "gmm", "--method", "smc", "--set", "particles=3"], "valid: k, lam"),
    (["run", "--task", "gmm", "--method", "treeg", "--set", "A=0"], ">= 1"),
    (["run", "--task", "gmm", "--method", "treeg", "--set", "A=abc"], "expects int"),
    (["run", "--task", "gmm", "--method", "smc", "--device", "tpu"], "expected cpu, cuda"),
    (["run", "--task", "gmm", "--method", "smc", "--objective", "nosuch"], "taken by none"),
    (["run", "--task", "gmm", "--method", "smc", "--eta", "1.5"], "in [0, 1]"),
    (["run", "--task", "gmm", "--method", "smc", "--eta", "nan"], "in [0, 1]"),
    (["run", "--task", "toyseq", "--method", "smc", "--eta", "0"], "continuous"),
    (["matrix", "--tasks", "gmm,molecules", "--methods", "none", "--eta", "0"], "'molecules' has a discrete"),
    (["matrix", "--tasks", "gmm", "--objectives", "nosuch"], "taken by none of the selected tasks"),
    (["matrix", "--tasks", "molecules", "--objectives", "rings=abc"], "rings=<k>"),
    (["run", "--task", "molecules", "--method", "none", "--objective", "logp=nan"], "logp=<v>"),
    (["matrix", "--tasks", "gmm", "--budgets", "1x,abcx"], "'abcx'"),
    (["matrix", "--tasks", "gmm", "--budgets", "1x,1X"], "listed twice"),
    (["matrix", "--tasks", "gmm,", "--methods", "none"], "no empty items"),
    (["matrix", "--tasks", "gmm", "--methods", "nosuch"], "unknown method"),
    (["matrix", "--tasks", "gmm", "--methods", "smc,svdd", "--set", "k=3"], "not a config key of svdd"),
    (["matrix", "--shard", "2/2"], "0 <= i < N"),
    (["matrix", "--tasks", "gmm", "--address", "auto"], "is a Ray setting"),
    (["matrix", "--tasks", "gmm", "--cpus-per-cell", "2"], "is a Ray setting"),
    (["matrix", "--tasks", "gmm", "--executor", "ray", "--workers", "2"], "sizes the local pool"),
    (["matrix", "--tasks", "gmm", "--executor", "ray", "--device", "cuda"], "--gpus-per-cell G > 0"),
    (["matrix", "--tasks", "gmm", "--executor", "ray", "--cpus-per-cell", "0"], "at least a fraction"),
    (["matrix", "--gpus-per-cell", "-1"], "number >= 0"),
    (["matrix", "--gpus-per-cell", "nan"], "number >= 0"),
    (["matrix", "--address", "nohost"], "HOST:PORT"),
    (["matrix", "--executor", "dask"], "invalid choice"),
    (["matrix", "--workers", "0"], "positive integer"),
    (["matrix", "--retries", "-1"], "non-negative integer"),
    (["run", "--task", "gmm", "--method", "none", "--threads", "0"], "positive integer"),
    (["tune", "--task", "gmm", "--method", "smc", "--rounds", "0"], "positive integer"),
    (["calibrate", "--task", "gmm", "--repeats", "-1"], "positive integer"),
    (["pretrain", "--task", "gmm", "--seed", "x"], "non-negative integer"),
])
def test_bad_input_exits_2_before_any_work(argv, needle, no_work, capsys, tmp_path):
    assert main(argv + (["--out", str(tmp_path / "o")] if argv[0] in ("run", "matrix") else [])) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not no_work and not (tmp_path / "o").exists()


def test_out_that_is_a_file_is_rejected(no_work, capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f", tmp_path / "f" / "sub"):
        assert main(["run", "--task", "gmm", "--method", "none", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "not a file" in err or "is a file, not a folder" in err, err
    assert not no_work


def test_cuda_without_cuda_is_rejected_up_front(no_work, capsys, tmp_path, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["matrix", "--tasks", "gmm", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "CUDA is not available" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_set_values_are_typed_by_the_config():
    smc, treeg = registry.methods().get("smc"), registry.methods().get("treeg-sc")
    assert V.overrides(["lam=2"], {"smc": smc}) == V.overrides(["lam=2.0"], {"smc": smc}) == {"smc": {"lam": 2.0}}
    assert isinstance(V.overrides(["k=8"], {"smc": smc})["smc"]["k"], int)
    typed = V.overrides(["ess=none", "return_all=true", "potential=max"], {"smc": smc})["smc"]
    assert typed == {"ess": None, "return_all": True, "potential": "max"}
    assert V.overrides(["window_start=0.5"], {"smc": smc, "treeg-sc": treeg}) == {
        "smc": {"window_start": 0.5}, "treeg-sc": {"window_start": 0.5}}


def test_lam_int_and_float_hash_the_same(tmp_path):
    from bench.runner import Cell, execute
    smc = registry.methods().get("smc")
    hashes = set()
    for text in ("lam=2", "lam=2.0"):
        cell = Cell(task="gmm", method="smc", n=4, steps=4, overrides=V.overrides([text], {"smc": smc})["smc"])
        hashes.add(execute(cell, tmp_path / text, show_progress=False)["config_hash"])
    assert len(hashes) == 1


def test_budget_spelling_gives_one_cell(tmp_path, capsys):
    base = ["run", "--task", "gmm", "--method", "none", "--n", "4", "--steps", "4", "--out", str(tmp_path),
            "--no-progress"]
    assert main(base + ["--budget", "4X"]) == 0
    assert main(base + ["--budget", " 4"]) == 0
    assert "skipped gmm|linear|none|4x|0" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------- fuzz

_GOOD = {"--task": ["gmm", "toyseq"], "--method": ["none", "smc", "treeg", "svdd"],
         "--tasks": ["gmm", "toyseq", "gmm,toyseq"], "--methods": ["none", "smc", "none,svdd"],
         "--budget": ["4x", "1x", "2.5x"], "--budgets": ["1x", "1x,4x"], "--seeds": ["0", "0-2", "1,3"],
         "--n": ["4", "1"], "--steps": ["8"], "--set": ["k=2", "lam=2", "window_start=0.5"],
         "--objective": ["linear", "pattern"], "--objectives": ["linear", "pattern"], "--device": ["cpu"],
         "--shard": ["0/2", "1/2"], "--rounds": ["2"], "--beam": ["1"], "--repeats": ["3"],
         "--workers": ["1", "2"], "--retries": ["0", "2"], "--threads": ["1", "2"], "--cpus-per-cell": ["1"],
         "--gpus-per-cell": ["0", "0.5"], "--address": ["auto", "head:6379"]}
_BAD = ["", " ", "-1", "0", "abc", "nan", "inf", "1.5", "2-0", "x", "4xx", "0.5x", "k=", "=3", "k=1.5", "A=-2",
        "lam=nan", "tpu", "cuda:9", "a,b", ",", "1/0", "3/2", "--", "-", "🙂", "1e9", "gmm,,toyseq", "all"]
_CMDS = {"run": ["--task", "--method", "--objective", "--budget", "--seeds", "--n", "--steps", "--set", "--device",
                 "--threads"],
         "matrix": ["--tasks", "--methods", "--objectives", "--budgets", "--seeds", "--n", "--steps", "--set",
                    "--device", "--shard", "--workers", "--retries", "--threads", "--cpus-per-cell",
                    "--gpus-per-cell", "--address"],
         "tune": ["--task", "--method", "--budget", "--seeds", "--n", "--rounds", "--beam", "--device"],
         "calibrate": ["--task", "--repeats"]}


def _noise(rng: random.Random) -> str:
    """A random short string over the characters argument values are made of."""
    return "".join(rng.choice("0123456789xX-,./=:+ abkeinf") for _ in range(rng.randrange(0, 7)))


def _argv(rng: random.Random) -> list[str]:
    cmd = rng.choice(list(_CMDS))
    argv = [cmd]
    for flag in _CMDS[cmd]:
        if flag in ("--task", "--method") or rng.random() < 0.5:
            roll = rng.random()
            value = (rng.choice(_BAD) if roll < 0.2 else _noise(rng) if roll < 0.3
                     else rng.choice(_GOOD.get(flag, ["0"])))
            argv += [flag, value]
    if rng.random() < 0.1:
        argv.insert(rng.randrange(1, len(argv) + 1), rng.choice(_BAD + ["--nope"]))
    return argv


def test_fuzz_every_argv_parses_or_exits_2_with_a_message(no_work, capsys, tmp_path):
    rng = random.Random(20261201)
    outcomes = {"work": 0, "exit2": 0}
    for i in range(300):
        argv = _argv(rng)
        if argv[0] in ("run", "matrix", "tune"):
            argv += ["--out", str(tmp_path / str(i))]
        before = len(no_work)
        try:
            rc = main(argv)
        except WorkStarted:
            cell = no_work[-1]
            if isinstance(cell, Cell):  # run / matrix: canonical values only
                assert V.budget(cell.budget) == cell.budget and cell.seed >= 0, argv
                assert (cell.n is None or cell.n >= 1) and isinstance(cell.overrides, dict), argv
            outcomes["work"] += 1
            continue
        err = capsys.readouterr().err
        assert rc == 2 and err.strip() and "Traceback" not in err, (argv, rc, err)
        assert len(no_work) == before and not (tmp_path / str(i)).exists(), argv
        outcomes["exit2"] += 1
    assert min(outcomes.values()) >= 30, outcomes  # the generator exercises both outcomes


def test_api_overrides_int_for_float_is_the_same_config(tmp_path):
    from bench.runner import build_task, resolve
    t = build_task("gmm", False, "cpu")
    a = resolve(Cell(task="gmm", method="smc", overrides={"lam": 2}), t)[2]
    b = resolve(Cell(task="gmm", method="smc", overrides={"lam": 2.0}), t)[2]
    assert a == b and type(a.lam) is float and V.normalise(registry.methods().get("smc"), {"k": 3}) == {"k": 3}
