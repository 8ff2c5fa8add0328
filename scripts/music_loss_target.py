"""The music recipe under another loss space: one route to issue 11's bars, tried and compared (a card section).

The denoiser is a v-network; under the ε-MSE (task version 2's recipe) the weight on the x0 error is the SNR: the
high and middle noise levels, where a piano roll's cells are decided, count for little. The v-MSE (weight SNR + 1)
won that comparison and is the committed recipe since version 3 (DESIGN_NOTES 44). This script trains the same
network, data, seed and recipe under ``--target`` for ``--steps`` steps into ``--out`` (resumable: the shared
stack's checkpoints), with the quality probe (128 unguided samples, 100 steps: OA and note-density loss) every 1000
steps, and writes a card section comparing its probes with the committed run's curve (``train_stats.json``). The
weights are not installed: a different model changes every music record.
Usage: python scripts/music_loss_target.py --out DIR [--target x0] [--steps 6000] [--no-card]
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from bench.diffusion.training import GAUSSIAN_TARGETS
from bench.train import RunDirs
from bench.weights import put_card_section
from tasks.music import pretrain as P
from tasks.music.card import OA_BAR, curve_rows

BEGIN, END = "<!-- loss-target: written by scripts/music_loss_target.py -->", "<!-- /loss-target -->"
PROBE_EVERY = 1000


def train(out: Path, target: str, steps: int) -> Path:
    """Train (or resume) the experiment's run with the task's own training function; returns its log.csv."""
    runs = RunDirs(out)
    P.train(runs, seed=0, target=target, steps=steps, oa_every=PROBE_EVERY)
    return runs.train("denoiser") / "log.csv"


def _verdict(oa: float) -> str:
    if oa < OA_BAR:
        return (f"The OA bar ({OA_BAR:.2f}) is not reached on the probe, so the weights are not installed (new weights "
                "also change every music record).")
    return (f"The probe reaches the OA bar ({OA_BAR:.2f}): measure it on the card's samples (`bench pretrain` with "
            "this target) before installing.")


def section(target: str, steps: int, ours: list[dict], committed: list[dict], committed_steps: int,
            base: str = "v") -> str:
    """The card section: both runs' probes by step (``base``: the committed run's loss space)."""
    base = {r["step"]: r for r in committed}
    rows = "\n".join(
        f"| {r['step']} | {r['q_oa']:.3f} | {r['q_nd_loss']:.2f} | "
        + (f"{base[r['step']]['q_oa']:.3f} | {base[r['step']]['q_nd_loss']:.2f} |" if r["step"] in base else "– | – |")
        for r in ours)
    last = committed[-1]
    return f"""{BEGIN}
## Route tried: the {target}-MSE instead of the {base}-MSE

The same network, data, seed and recipe under the {target}-space error, {steps} steps (its cosine LR schedule ends at
{steps}; the committed run's at {committed_steps}), `python scripts/music_loss_target.py --target {target} --steps
{steps} --out DIR`. Quality probe: 128 unguided samples, 100 steps, seed 0.

| step | OA, {target}-MSE | note-density loss, {target}-MSE | OA, committed {base}-MSE | note-density loss, committed |
|---|---|---|---|---|
{rows}

The committed run ends at OA {last['q_oa']:.3f} and note-density loss {last['q_nd_loss']:.2f} after
{committed_steps} steps; this run ends at {ours[-1]['q_oa']:.3f} and {ours[-1]['q_nd_loss']:.2f} after {steps}.
{_verdict(ours[-1]['q_oa'])}
{END}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="the experiment's run folder (never the committed one)")
    ap.add_argument("--target", default="x0", choices=[t for t in GAUSSIAN_TARGETS if t != P.TARGET])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--weights", type=Path, default=Path("tasks/music/weights"), help="the committed model's folder")
    ap.add_argument("--no-card", action="store_true", help="print the section, leave the card alone")
    args = ap.parse_args()
    if args.steps < PROBE_EVERY:
        ap.error(f"--steps {args.steps}: the probe runs every {PROBE_EVERY} steps; use at least {PROBE_EVERY}")
    if args.out.resolve() == args.weights.resolve().parent:
        ap.error(f"--out {args.out}: that is the committed model's folder; give a new one")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    ours = curve_rows(train(args.out, args.target, args.steps))
    stats = json.loads((args.weights / P.STATS_FILE).read_text())
    text = section(args.target, args.steps, ours, stats["curve"], int(stats["steps"]), stats.get("target", "eps"))
    if not args.no_card:
        put_card_section(args.weights / "MODEL_CARD.md", BEGIN, END, text)
    print(text)


if __name__ == "__main__":
    main()
