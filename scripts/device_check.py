"""Device check (not a test): one small matrix on two devices, metrics compared cell by cell, wall-time speed-up.

The streams are device-independent (seeded per returned sample), so every metric of a cell must agree between
the devices within float tolerance (``--rtol``, default 1e-3 relative, for kernel rounding over the trajectory).
A cell whose status differs, or a metric outside the tolerance, is listed and the script exits 1.
Usage: python scripts/device_check.py [--devices cpu,cuda] [--tasks gmm,toyseq] [--methods none,svdd,smc]
       [--budgets 4x] [--n 16] [--steps 20] [--out runs/device_check]
With ``--devices cpu,cuda`` on a machine without CUDA it stops at once (exit 2: ``bench`` rejects the device).
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

from bench import validate
from bench.cli import main as bench
from bench.records import read_records


def run(device: str, args: argparse.Namespace) -> tuple[dict[str, dict], float]:
    """(cell -> record, wall seconds) of the matrix on ``device`` (a fresh folder: every cell computed)."""
    out = Path(args.out) / device.replace(":", "_")
    shutil.rmtree(out, ignore_errors=True)
    argv = ["matrix", "--tasks", args.tasks, "--methods", args.methods, "--budgets", args.budgets, "--seeds",
            args.seeds, "--n", str(args.n), "--steps", str(args.steps), "--device", device, "--out", str(out),
            "--no-progress"]
    t0 = time.perf_counter()
    rc = bench(argv)
    wall = time.perf_counter() - t0
    if rc == 2:
        raise SystemExit(2)
    return {r["cell"]: r for r in read_records(out)}, wall


def differences(a: dict[str, dict], b: dict[str, dict], rtol: float) -> list[str]:
    """Lines naming every cell whose status or a metric (beyond ``rtol``, relative) differs."""
    lines = []
    for cell in sorted(set(a) | set(b)):
        ra, rb = a.get(cell), b.get(cell)
        if ra is None or rb is None or ra["status"] != rb["status"]:
            lines.append(f"{cell}: status {ra and ra['status']} vs {rb and rb['status']}")
            continue
        for k, va in ra["metrics"].items():
            vb = rb["metrics"].get(k)
            if k == "sample_s" or not isinstance(va, (int, float)) or not isinstance(vb, (int, float)):
                continue
            if not math.isclose(va, vb, rel_tol=rtol, abs_tol=rtol):
                lines.append(f"{cell}: {k} {va:.6g} vs {vb:.6g}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--devices", default="cpu,cuda", help="two devices, reference first")
    ap.add_argument("--tasks", default="gmm,toyseq", help="comma list of tasks")
    ap.add_argument("--methods", default="none,best-of-n,svdd,smc,treeg-sc,dps", help="comma list of methods")
    ap.add_argument("--budgets", default="4x", help="comma list of budgets")
    ap.add_argument("--seeds", default="0-1", help="seeds")
    ap.add_argument("--n", type=int, default=16, help="returned samples per seed")
    ap.add_argument("--steps", type=int, default=20, help="sampling steps")
    ap.add_argument("--rtol", type=float, default=1e-3, help="relative (and absolute) tolerance per metric")
    ap.add_argument("--out", default="runs/device_check", help="records of both runs")
    args = ap.parse_args(argv)
    ref, other = args.devices.split(",")
    try:
        ref, other = validate.device(ref), validate.device(other)  # before either run (no CUDA: stop at once)
    except validate.InputError as err:
        print(f"device_check: {err}", file=sys.stderr)
        return 2
    a, wall_a = run(ref, args)
    b, wall_b = run(other, args)
    diffs = differences(a, b, args.rtol)
    print("\n".join(diffs))
    print(f"device_check: {len(a)} cells; {len(diffs)} differ (rtol {args.rtol:g}); wall {ref} {wall_a:.1f} s, "
          f"{other} {wall_b:.1f} s, speed-up {wall_a / max(wall_b, 1e-9):.2f}x")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
