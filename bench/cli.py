"""The `bench` command line: run, matrix, ls, report, compare, smoke, baseline, calibrate, pretrain, tune."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from bench.registry import UnknownName

log = logging.getLogger("bench")


def parse_seeds(text: str) -> list[int]:
    """'0-2' -> [0, 1, 2]; '0,3' -> [0, 3]."""
    seeds: list[int] = []
    for part in str(text).split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    return seeds


def parse_sets(items: list[str]) -> dict[str, Any]:
    """['k=8', 'lam=2.5', 'potential=max'] -> typed dict (YAML scalars)."""
    import yaml
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=None, help="returned samples per seed (default: the task's)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the task's)")
    p.add_argument("--out", type=Path, default=Path("runs"),
                   help="output folder (records/, samples/); the committed results/ only when asked for")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="method config override (repeatable)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--tiny", action="store_true", help="use the task's tiny random-weight variant")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--force", action="store_true", help="rerun cells that already have an ok record")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bench", description="guidebench: inference-time guidance benchmark")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="run one task × method over seeds")
    p.add_argument("--task", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--objective", default=None)
    p.add_argument("--budget", default=None, help="NFE budget as a multiple of unguided sampling, e.g. 4x")
    p.add_argument("--seeds", default="0")
    _common(p)
    p = sub.add_parser("matrix", help="run tasks × methods × budgets × seeds")
    p.add_argument("--tasks", default="all")
    p.add_argument("--methods", default="all")
    p.add_argument("--objectives", default=None, help="comma list (default: each task's default)")
    p.add_argument("--budgets", default="1x,4x")
    p.add_argument("--seeds", default="0")
    p.add_argument("--shard", default="0/1", help="run only cells i, i+N, ... (i/N) to split work across processes")
    _common(p)
    p = sub.add_parser("ls", help="list tasks, methods or objectives")
    p.add_argument("what", choices=["tasks", "methods", "objectives"])
    p = sub.add_parser("report", help="leaderboard.md, figures and a static web site from records")
    p.add_argument("--records", type=Path, default=Path("results"))
    p.add_argument("--out", type=Path, default=Path("report"))
    p.add_argument("--allow-dirty", action="store_true", help="report records from a dirty git tree")
    p.add_argument("--allow-mixed", action="store_true",
                   help="report a task whose records come from several git shas / task or method versions")
    p = sub.add_parser("compare", help="check records against a baseline CSV; exit 1 on drift")
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--records", type=Path, default=Path("runs/smoke"), help="records of a smoke run")
    p = sub.add_parser("smoke", help="run the CI smoke matrix of a spec (always reruns, one thread)")
    p.add_argument("--spec", type=Path, default=Path("results/baselines/smoke.yaml"))
    p.add_argument("--out", type=Path, default=Path("runs/smoke"))
    p = sub.add_parser("baseline", help="run the smoke matrix under each CPU kernel and write the baseline CSV")
    p.add_argument("--spec", type=Path, default=Path("results/baselines/smoke.yaml"))
    p.add_argument("--out", type=Path, default=Path("results/baselines/smoke.csv"))
    p = sub.add_parser("tune", help="TFG-style beam search of a method's hyperparameters on dev seeds")
    p.add_argument("--task", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--objective", default=None)
    p.add_argument("--budget", default=None, help="budget of the trials (default: the task's default budget)")
    p.add_argument("--n", type=int, default=None, help="final sample count; trials use 1/8 of it")
    p.add_argument("--seeds", default="1000-1001", help="development seeds (keep them apart from eval seeds)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--beam", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/tuning"), help="trial records")
    p.add_argument("--device", default="cpu")
    p = sub.add_parser("calibrate", help="measure c_b, c_r, c_rg (forward-equivalents) and write the task's file")
    p.add_argument("--task", required=True)
    p.add_argument("--objectives", default=None, help="comma list (default: every named objective)")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats per quantity (median)")
    p = sub.add_parser("pretrain", help="train a task's models into a new run folder (bench.train)")
    p.add_argument("--task", required=True)
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default: a new runs/pretrain/<task>-<UTC stamp>/); an existing one resumes")
    p.add_argument("--resume", action="store_true", help="continue the newest run folder of the task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:k] (bf16 autocast)")
    p.add_argument("--quick", action="store_true", help="a few steps only (smoke test; cannot be installed)")
    p.add_argument("--install", action="store_true",
                   help="copy the run's weights/ over the task's committed weights (refused with --quick)")
    _plugin_commands(sub)
    return ap


def _plugin_commands(sub) -> None:
    """``check-task`` / ``check-method``: the contract checks (bench.contract) on any registered name."""
    for kind in ("task", "method"):
        p = sub.add_parser(f"check-{kind}", help=f"run the {kind} contract checks on a registered or plugin {kind}")
        p.add_argument("name", help=f"a {kind} name from `bench ls {kind}s`, or module:attr")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from bench import commands
    try:
        return getattr(commands, f"cmd_{args.cmd.replace('-', '_')}")(args)
    except UnknownName as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
