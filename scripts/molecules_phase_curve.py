"""The committed molecules denoiser's validation ELBO against training step, from its phases (issue 11's curve).

The committed `denoiser.pt` was trained in three phases before `bench.train` logged per-step curves; its
`pretrain_info.json` keeps each phase's steps, peak lr, wall time and val ELBO at the phase's end, and the card's
unguided quality at the last step. This script plots those points (val ELBO, left axis; validity with its bar,
right axis) to `docs/figures/molecules_denoiser_curve.png` and writes the table into the card (a markdown section
outside the manifest: no record changes). A fresh `bench pretrain --task molecules` logs the whole curve itself
(`training_curves.png`). Usage: python scripts/molecules_phase_curve.py [--weights DIR] [--figure PATH]
"""
from __future__ import annotations

import argparse
import json
from itertools import accumulate
from pathlib import Path

from bench import plots
from bench.weights import put_card_section

BEGIN, END = "<!-- phase-curve: written by scripts/molecules_phase_curve.py -->", "<!-- /phase-curve -->"
VALIDITY_BAR = 0.90  # issue 11


def points(info: dict) -> list[tuple[int, dict]]:
    """(cumulative step at the phase's end, phase) for each phase of the committed denoiser."""
    phases = info["denoiser"]["phases"]
    return list(zip(accumulate(int(p["steps"]) for p in phases), phases))


def figure(pts: list[tuple[int, dict]], validity: float, path: Path) -> Path:
    """Val ELBO per phase end (left) and the final validity against its bar (right)."""
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    ax.plot([s for s, _ in pts], [p["val_loss"] for _, p in pts], "-o", markersize=4, color="C1", label="val ELBO")
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("val ELBO (nats/token)", fontsize=8)
    qax = ax.twinx()
    qax.plot([pts[-1][0]], [validity], "s", color="C2", label="validity (1000 samples)")
    qax.axhline(VALIDITY_BAR, ls=":", color="C2", label=f"validity bar {VALIDITY_BAR:g}")
    qax.set_ylim(0, 1)
    handles = ax.get_lines() + qax.get_lines()
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="lower left")
    return plots.save(fig, path, title="molecules denoiser.pt (committed), by phase")


def section(pts: list[tuple[int, dict]], quality: dict, fig: Path) -> str:
    """The card section: one row per phase end, the final quality, the figure's path."""
    rows = "\n".join(f"| {s:,} | {i + 1} | {p['steps']:,} | {p['lr']:g} | {p['val_loss']:.4f} | "
                     f"{p['wall_s'] / 60:.1f} |" for i, (s, p) in enumerate(pts))
    return f"""{BEGIN}
## Validation ELBO against training step (issue 11)

The committed denoiser's phases (each from the previous phase's EMA weights; no per-step log was kept then):

| step | phase | steps | peak lr | val ELBO | wall (min) |
|---|---|---|---|---|---|
{rows}

At step {pts[-1][0]:,}: validity {quality['validity']:.3f} against the bar {VALIDITY_BAR:.2f}, FCD \
{quality['fcd']:.3f} against 1.00 ({quality['n']} samples, {quality['steps']} steps). Phase 3 lowered the ELBO by \
{pts[-2][1]['val_loss'] - pts[-1][1]['val_loss']:.3f} over {pts[-1][1]['steps']:,} steps; the card's Notes give \
the slope at its end and the validity after phase 2 (their 0.85 was the bar when they were written). \
Figure: `{fig.as_posix()}`.
{END}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=Path("tasks/molecules/weights"))
    ap.add_argument("--figure", type=Path, default=Path("docs/figures/molecules_denoiser_curve.png"))
    args = ap.parse_args()
    info = json.loads((args.weights / "pretrain_info.json").read_text())
    pts = points(info)
    figure(pts, float(info["quality"]["validity"]), args.figure)
    text = section(pts, info["quality"], args.figure)
    put_card_section(args.weights / "MODEL_CARD.md", BEGIN, END, text)
    print(text)


if __name__ == "__main__":
    main()
