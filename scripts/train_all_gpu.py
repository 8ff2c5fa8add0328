"""Train every real task's models in one call on one CUDA device (bf16 autocast), each task through its own
``pretrain`` on the shared stack (``bench.train``), into one run folder; a JSON summary of wall times.

    python scripts/train_all_gpu.py                      # cuda, every task, runs/gpu-<UTC stamp>/<task>/
    python scripts/train_all_gpu.py --out DIR            # an existing DIR resumes every model from its checkpoint
    python scripts/train_all_gpu.py --quick --device cpu # the CPU test of this script (a few steps per model)
    python scripts/train_all_gpu.py --install            # afterwards copy each task's weights/ over the committed

Installing is refused for --quick. Tasks whose data is not installed fail loudly (nothing is skipped silently).
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import registry  # noqa: E402
from bench.weights import install, task_folder  # noqa: E402

TASKS = ("molecules", "music", "images")
log = logging.getLogger("train_all_gpu")


def train_task(task: str, out: Path, seed: int, quick: bool, device: str) -> dict:
    """Run one task's ``pretrain`` into ``out/<task>``; returns its weights folder and wall time."""
    cls = registry.tasks().get(task)
    module, fn = cls.pretrain_entry.split(":")
    t0 = time.time()
    weights = getattr(importlib.import_module(module), fn)(out / task, seed=seed, quick=quick, device=device)
    # the card generators add the task's committed compute calibration (bench.calibrate.write_card_section)
    return {"weights": str(weights), "wall_s": round(time.time() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--install", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if args.install and args.quick:
        print("train_all_gpu: --install is refused for --quick", file=sys.stderr)
        return 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("train_all_gpu: CUDA is not available (use --device cpu for the --quick test)", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / f"gpu-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)
    summary = {"device": args.device, "quick": args.quick, "seed": args.seed, "tasks": {}}
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        summary["tasks"][task] = train_task(task, out, args.seed, args.quick, args.device)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        log.info("%s done: %s", task, summary["tasks"][task])
    if args.install:
        for task, info in summary["tasks"].items():
            install(Path(info["weights"]), task_folder(registry.tasks().get(task)))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
