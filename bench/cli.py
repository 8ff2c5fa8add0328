"""The `bench` command line: run, matrix, ls, report, compare, smoke, baseline, calibrate, pretrain, tune."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from bench import validate as V
from bench.registry import UnknownName

log = logging.getLogger("bench")


def parse_seeds(text: str) -> list[int]:
    """'0-2' -> [0, 1, 2]; '0,3' -> [0, 3] (``bench.validate.seeds``: InputError on a malformed list)."""
    return V.seeds(text)


def parse_sets(items: list[str]) -> dict[str, Any]:
    """['k=8', 'lam=2.5', 'potential=max'] -> dict of YAML scalars, untyped (the CLI types ``--set`` by the
    method's config with ``bench.validate.overrides``; this is kept for callers without a method)."""
    import yaml
    return {k: yaml.safe_load(v) for k, v in V.split_sets(items).items()}


POS = V.arg_type(V.positive_int, "positive integer")
SEEDS = V.arg_type(V.seeds, "seeds")
DEVICE = V.arg_type(V.device, "device")
BUDGET = V.arg_type(V.budget, "budget")
OUT = V.arg_type(V.out_dir, "folder")
BASE = V.arg_type(V.base, "base")
NONNEG = V.arg_type(V.nonneg_float, "number")
ETA = V.arg_type(V.eta, "eta")


def _task_list(text: str) -> list[str]:
    """'music,dna' -> ['music', 'dna'] (checked against the smoke spec's tasks before any work)."""
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    if not tasks:
        raise argparse.ArgumentTypeError(f"expected a comma list of task names, e.g. music,dna; got {text!r}")
    return tasks


def _method_list(text: str) -> list[str]:
    """'treeg-g,dps' -> registry keys (aliases resolved); an unknown name is refused with the known ones."""
    from bench import registry

    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma list of method names, e.g. treeg-g,dps; got {text!r}")
    try:
        return [registry.methods().resolve(m) for m in names]
    except KeyError as err:  # registry.UnknownName: its message names the close matches and every method
        raise argparse.ArgumentTypeError(err.args[0]) from None


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown on every flag that has one (not on store_true flags or required ones)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, [], argparse.SUPPRESS) or action.required:
            return action.help or ""
        return super()._get_help_string(action)


def _common(p: argparse.ArgumentParser, device: Any = DEVICE) -> None:
    p.add_argument("--n", type=POS, default=None, help="returned samples per seed (default: the task's)")
    p.add_argument("--steps", type=POS, default=None, help="sampling steps (default: the task's)")
    p.add_argument("--out", type=OUT, default=Path("runs"),
                   help="output folder (records/, samples/, claims/); the committed results/ only when asked for")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="method config override, typed by the config field and checked against its range "
                        "(repeatable; `bench ls methods` lists the keys)")
    p.add_argument("--base", type=BASE, default=None, metavar="KIND:W[@LO-HI]",
                   help="run the method on a quality-guided base prediction (cfg, pag or autoguidance at scale W, "
                        "optionally only for LO < 1 - i/T <= HI), e.g. pag:3; its forwards count in the budget")
    p.add_argument("--device", type=device, default="cpu", help="torch device: cpu, cuda or cuda:K")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="the sampling network's precision: bf16 runs it under autocast (sampler math stays fp32)")
    p.add_argument("--eta", type=ETA, default=None,
                   help="sampler stochasticity of a continuous family in [0, 1]: 0 = deterministic (DDIM, flow "
                        "ODE), 1 = DDPM / same-marginal SDE (default: the task's, 1 for every built-in task)")
    p.add_argument("--threads", type=POS, default=1,
                   help="torch threads per process (one per worker keeps a loaded machine fast; it also fixes the "
                        "float reduction order)")
    p.add_argument("--tiny", action="store_true", help="use the task's tiny random-weight variant")
    p.add_argument("--no-progress", action="store_true", help="hide progress (bars on a terminal, lines otherwise)")
    p.add_argument("--force", action="store_true",
                   help="rerun cells that already have a final (ok, incompatible, over_budget_min) record")


def _sub(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)


def build_parser() -> argparse.ArgumentParser:
    """The ``bench`` argument parser; value checks run as argparse types or in ``bench.validate``."""
    ap = argparse.ArgumentParser(prog="bench", description="guidebench: inference-time guidance benchmark",
                                 formatter_class=_Formatter)
    ap.add_argument("-v", "--verbose", action="store_true", help="log INFO messages to stderr")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p = _sub(sub, "run", "run one task × method over seeds")
    p.add_argument("--task", required=True, help="task name (`bench ls tasks`)")
    p.add_argument("--method", required=True, help="method name or alias (`bench ls methods`)")
    p.add_argument("--objective", default=None, help="objective (default: the task's; `bench ls objectives`)")
    p.add_argument("--budget", type=BUDGET, default=None,
                   help="cost cap as a multiple of unguided sampling, e.g. 4x (default: the task's)")
    p.add_argument("--seeds", type=SEEDS, default="0", help="seeds: 0-2, 0,3 or 0,3,5-7")
    _common(p)
    p = _sub(sub, "matrix", "run tasks × objectives × methods × budgets × seeds")
    p.add_argument("--tasks", default="all", help="comma list of tasks, or all")
    p.add_argument("--methods", default="all", help="comma list of methods, or all")
    p.add_argument("--objectives", default=None,
                   help="comma list; each must be taken by a selected task (default: each task's default)")
    p.add_argument("--budgets", type=V.arg_type(V.budgets, "budgets"), default="1x,4x",
                   help="comma list of budgets, each a number >= 1 followed by x")
    p.add_argument("--seeds", type=SEEDS, default="0", help="seeds: 0-2, 0,3 or 0,3,5-7")
    p.add_argument("--shard", type=V.arg_type(V.shard, "shard"), default="0/1",
                   help="run only cells i, i+N, ... (i/N), e.g. one shard per SLURM array task")
    p.add_argument("--workers", type=POS, default=1, help="local worker processes (a process pool when > 1)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local (this process or --workers) or ray (one Ray task per cell)")
    p.add_argument("--address", type=V.arg_type(V.address, "address"), default=None,
                   help="Ray cluster to join: auto or HOST:PORT (default: start Ray on this machine)")
    p.add_argument("--cpus-per-cell", type=NONNEG, default=None,
                   help="Ray CPUs per cell, also its torch threads (default: --threads)")
    p.add_argument("--gpus-per-cell", type=NONNEG, default=0.0, help="Ray GPUs per cell (needed for --device cuda)")
    p.add_argument("--retries", type=V.arg_type(V.nonneg_int, "retries"), default=2,
                   help="reruns of a cell whose worker process died")
    p.add_argument("--protocol", type=Path, default=None,
                   help="run the cells of a protocol file (results/protocol.yaml: per task objectives, n, steps; "
                        "budgets, seeds, method configs); the grid flags are then refused")
    _common(p, device=V.arg_type(V.device_form, "device"))
    p = _sub(sub, "ls", "list tasks, methods (with their --set keys) or objectives")
    p.add_argument("what", choices=["tasks", "methods", "objectives"], help="what to list")
    p = _sub(sub, "report", "leaderboard.md, figures and a static web site from records")
    p.add_argument("--records", type=Path, default=Path("results"), help="records folder (or an --out folder)")
    p.add_argument("--out", type=Path, default=Path("report"), help="report folder")
    p.add_argument("--allow-dirty", action="store_true", help="report records from a dirty git tree")
    p.add_argument("--allow-mixed", action="store_true",
                   help="report a task whose records come from several git shas / task or method versions")
    p = _sub(sub, "compare", "check records against a baseline CSV; exit 1 on drift")
    p.add_argument("--baseline", type=Path, required=True, help="baseline CSV (bench baseline)")
    p.add_argument("--records", type=Path, default=Path("runs/smoke"), help="records of a smoke run")
    p = _sub(sub, "smoke", "run the CI smoke matrix of a spec (always reruns, one thread per process)")
    p.add_argument("--spec", type=Path, default=Path("results/baselines/smoke.yaml"), help="smoke spec (YAML)")
    p.add_argument("--out", type=OUT, default=Path("runs/smoke"), help="output folder")
    p.add_argument("--workers", type=POS, default=1,
                   help="local worker processes, one thread each (the records do not depend on it)")
    p = _sub(sub, "baseline", "run the smoke matrix under each CPU kernel and write the baseline CSV")
    p.add_argument("--spec", type=Path, default=Path("results/baselines/smoke.yaml"), help="smoke spec (YAML)")
    p.add_argument("--out", type=Path, default=Path("results/baselines/smoke.csv"), help="baseline CSV written")
    p.add_argument("--tasks", type=_task_list, default=None,
                   help="comma list: rerun only these tasks (their weights changed) and keep the other tasks' rows "
                        "of the existing --out (same n, steps, budgets, seeds, kernels)")
    p.add_argument("--methods", type=_method_list, default=None,
                   help="comma list: rerun only these methods' cells (their sizing or code changed) and keep the "
                        "other rows of the existing --out; with --tasks, only those tasks' cells of them")
    p = _sub(sub, "tune", "TFG-style beam search of a method's hyperparameters on dev seeds")
    p.add_argument("--task", required=True, help="task name")
    p.add_argument("--method", required=True, help="method name or alias")
    p.add_argument("--objective", default=None, help="objective (default: the task's)")
    p.add_argument("--budget", type=BUDGET, default=None, help="budget of the trials (default: the task's)")
    p.add_argument("--n", type=POS, default=None, help="final sample count; trials use 1/8 of it (default: task's)")
    p.add_argument("--seeds", type=SEEDS, default="1000-1001",
                   help="development seeds (keep them apart from eval seeds)")
    p.add_argument("--rounds", type=POS, default=6, help="search rounds")
    p.add_argument("--beam", type=POS, default=2, help="configs kept per round")
    p.add_argument("--out", type=OUT, default=Path("runs/tuning"), help="trial records")
    p.add_argument("--base", type=BASE, default=None, metavar="KIND:W[@LO-HI]",
                   help="run the method on a quality-guided base prediction (cfg, pag or autoguidance at scale W, "
                        "optionally only for LO < 1 - i/T <= HI), e.g. pag:3; its forwards count in the budget")
    p.add_argument("--device", type=DEVICE, default="cpu", help="torch device: cpu, cuda or cuda:K")
    p = _sub(sub, "calibrate", "measure c_b, c_r, c_rg (forward-equivalents) and write the task's file")
    p.add_argument("--task", required=True, help="task name")
    p.add_argument("--objectives", default=None, help="comma list (default: every named objective)")
    p.add_argument("--repeats", type=POS, default=7, help="timed repeats per quantity (median)")
    p = _sub(sub, "pretrain", "train a task's models into a new run folder (bench.train)")
    p.add_argument("--task", required=True, help="task name")
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default: a new runs/pretrain/<task>-<UTC stamp>/); an existing one resumes")
    p.add_argument("--resume", action="store_true", help="continue the newest run folder of the task")
    p.add_argument("--seed", type=V.arg_type(V.nonneg_int, "seed"), default=0, help="training seed")
    p.add_argument("--device", type=DEVICE, default="cpu", help="cpu or cuda[:k] (bf16 autocast)")
    p.add_argument("--quick", action="store_true", help="a few steps only (smoke test; cannot be installed)")
    p.add_argument("--install", action="store_true",
                   help="copy the run's weights/ over the task's committed weights (refused with --quick)")
    _plugin_commands(sub)
    return ap


def _plugin_commands(sub) -> None:
    """``check-task`` / ``check-method``: the contract checks (bench.contract) on any registered name."""
    for kind in ("task", "method"):
        p = _sub(sub, f"check-{kind}", f"run the {kind} contract checks on a registered or plugin {kind}")
        p.add_argument("name", help=f"a {kind} name from `bench ls {kind}s`, or module:attr")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, check it (exit 2 with the accepted form on bad input) and run the subcommand."""
    from bench.runner import MissingDependency
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # argparse's usage errors (exit 2, message on stderr) and --help (exit 0)
        return int(stop.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from bench import commands
    try:
        return getattr(commands, f"cmd_{args.cmd.replace('-', '_')}")(args)
    except UnknownName as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, MissingDependency) as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
