"""FID of the images DDPM against training step, from the snapshots the weights folder keeps (issue 11's curve).

The committed folder holds two EMA snapshots of one run: ``weak.pt`` (autoguidance's weak model, step
``weak_step``) and ``unet.pt`` (the last step). Each is scored as the card scores the base model (1000 unguided
samples, 50 steps, seed 0, FID on oracle features against all test images); the final model's number is the
card's own (``quality.json``), not recomputed. A unet continued from an earlier run (``--init``) adds that run's
final point, read from its weights folder (``--earlier DIR``, e.g. a worktree of the commit before the install).
A power law through the last two points, FID ~ a * step^b, gives a rough step count for the bar when it is not
met; it is a two-point extrapolation, printed as such. Writes a markdown section into the card (outside the
manifest: no record changes). Usage: python scripts/images_fid_curve.py [--weights DIR] [--earlier DIR]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from bench.weights import put_card_section
from tasks.images.card import FID_BAR, N_SAMPLES, STEPS, Scorer, sample_quality, total_steps

BEGIN, END = "<!-- fid-curve: written by scripts/images_fid_curve.py -->", "<!-- /fid-curve -->"


def _estimate(points: list[tuple[int, float]], wall_h: float) -> str:
    """The verdict: met at the last point, or the two-point power-law step count for the bar."""
    (s0, f0), (s1, f1) = points[-2], points[-1]
    if f1 <= FID_BAR:
        return f"The bar (FID <= {FID_BAR:g}) is met at step {s1:,}."
    b = math.log(f1 / f0) / math.log(s1 / s0)
    need = s1 * (FID_BAR / f1) ** (1 / b) if b < 0 else math.inf
    return (f"A power law through the last two points (FID ∝ step^{b:.2f}) reaches the bar (FID <= {FID_BAR:g}) "
            f"near {need:,.0f} steps, {need / s1:.1f}x this model's (about {need / s1 * wall_h:.0f} CPU-hours at "
            f"its {wall_h:.2f} h per {s1:,} steps on one thread). Two points fix a slope only roughly, and FID "
            "curves flatten: the estimate says how far, not exactly when.")


def section(points: list[tuple[int, float]], floor: float, wall_h: float) -> str:
    """The card section: FID per step and the verdict on the bar."""
    rows = "\n".join(f"| {s:,} | {f:.1f} |" for s, f in points)
    return f"""{BEGIN}
## FID against training step (issue 11)

The DDPM's EMA snapshots, scored like the base model ({N_SAMPLES} samples, {STEPS} steps, seed 0; real-data floor
{floor:.1f}):

| step | FID |
|---|---|
{rows}

{_estimate(points, wall_h)}
{END}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=Path("tasks/images/weights"))
    ap.add_argument("--earlier", type=Path, default=None,
                    help="weights folder of the run this unet continued (its final FID becomes a point)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    logs = json.loads((args.weights / "train_log.json").read_text())["unet"]
    quality = json.loads((args.weights / "quality.json").read_text())
    weak = sample_quality(args.weights, "weak", N_SAMPLES, STEPS, Scorer.load(args.weights))
    points = [(int(logs["weak_step"]), float(weak["fid_all"]))]
    if "init_steps" in logs:
        if args.earlier is None:
            ap.error(f"{args.weights}: the unet continued a {logs['init_steps']}-step run; pass that run as --earlier")
        before = json.loads((args.earlier / "train_log.json").read_text())["unet"]
        if int(before["steps"]) != int(logs["init_steps"]):
            ap.error(f"--earlier {args.earlier}: {before['steps']} steps, but the unet continued {logs['init_steps']}")
        points.append((int(before["steps"]), float(json.loads((args.earlier / "quality.json").read_text())
                                                    ["unet"]["fid_all"])))
    points.append((total_steps(logs), float(quality["unet"]["fid_all"])))  # to the picked snapshot, if one was
    own = total_steps(logs) - int(logs.get("init_steps", 0))  # this run's steps in the shipped unet
    wall_h = (float(logs.get("init_wall_s", 0)) + float(logs["wall_s"]) * own / int(logs["steps"])) / 3600
    text = section(points, float(quality["real"]["fid_all"]), wall_h)
    put_card_section(args.weights / "MODEL_CARD.md", BEGIN, END, text)
    print(text)


if __name__ == "__main__":
    main()
