"""`bench pretrain --task math`: the MDLM solver on the on-the-fly PerturbArith stream, into a run folder.

One model (``denoiser.pt``): a ~0.8M-parameter bidirectional transformer (``net.MathDenoiser``) trained with the
masked-diffusion ELBO over the answer region only (``bench.train.losses.masked_prompt``: the prompt is never
masked, it is the condition), on batches drawn from ``stream.TrainStream`` (fresh problems every step; the test
problems are excluded by the stream). A probe logs ``val_loss`` on fixed held-out stream rows and the unguided
accuracy on 36 problems per split (``q_acc_original`` / ``q_acc_simple`` / ``q_acc_hard``), so the training-length
calibration can be read off ``train/denoiser/log.csv``. Then the card (``card.py``) scores the EMA weights on the
committed splits. ``quick=True`` trains 3 steps and scores a few problems (a smoke test; never installed).
Run directly: ``python3 -m tasks.math.pretrain --out DIR [--steps N] [--hard-exposure P]``.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from bench.train import RunDirs, TrainConfig, fit, plot_curves, seeded, summary, val_loss_probe
from bench.train.losses import masked_prompt
from bench.weights import write_manifest
from tasks.math import instances, models, scoring, stream, tokens
from tasks.math.net import MathDenoiser
from tasks.math.sampling import sample_prompts

log = logging.getLogger(__name__)

BASE_CONFIG = dict(d=128, layers=4, heads=4, ff=4)
HARD_EXPOSURE = 0.02  # share of Hard-form items in the stream (issue 13's calibration knob)
SKILL_RATE = 0.2
DENOISER = TrainConfig(steps=3000, batch=128, lr=1e-3, warmup=200, lr_floor=0.05, weight_decay=0.01,
                       betas=(0.9, 0.98), clip=1.0, ema=0.999, ema_warmup=True, ckpt_every=250, log_every=50,
                       probe_every=500)
PROBE_PER_SPLIT, PROBE_STEPS, VAL_ROWS, VAL_SEED = 36, 32, 512, 999
QUICK_STEPS = 3


class StreamBatcher:
    """``fit``'s batcher over an infinite ``TrainStream``: ``draw`` gives ``(ids (batch, L),)``; the stream's
    ``random.Random`` state is the checkpointed position (exact resume). ``gen`` is unused: the stream is seeded
    by its own ``TrainConfig``."""

    def __init__(self, data: stream.TrainStream, batch: int) -> None:
        self.data, self.batch = data, batch

    def draw(self, gen: torch.Generator) -> tuple[torch.Tensor]:
        return (self.data.batch(self.batch),)  # (batch, L)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.data.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.data.rng.setstate(state["rng"])


def accuracy_probe(per_split: int, steps: int):
    """``q_acc_<split>``: unguided accuracy (r_exact) of one sample per problem on the first ``per_split``
    problems of each split (families balanced)."""
    idx = torch.tensor(instances.subset(per_split))  # (3·per_split,)
    probs = instances.problems()

    def probe(net: torch.nn.Module, step: int) -> dict[str, float]:
        x0 = sample_prompts(net, instances.prompt_table()[idx], steps, seed=0)  # (n, L)
        res = scoring.score(x0, probs, idx)
        out = {}
        for split in ("original", "simple", "hard"):
            hits = [r.correct for r in res if r.split == split]
            out[f"q_acc_{split}"] = sum(hits) / max(1, len(hits))
        return out
    return probe


def stage_denoiser(runs: RunDirs, seed: int, quick: bool, device: str, steps: int | None,
                   hard_exposure: float) -> tuple[Any, dict[str, Any]]:
    """Train the solver; save its EMA weights as ``denoiser.pt``."""
    cfg = DENOISER.with_(seed=seed, device=device, **({"steps": steps} if steps else {}))
    if quick:
        cfg = cfg.with_(steps=QUICK_STEPS, warmup=1, log_every=1, batch=16)
    scfg = stream.TrainConfig(seed=seed, hard_exposure=hard_exposure, skill_rate=SKILL_RATE)
    with seeded(cfg.seed):
        net = MathDenoiser(tokens.V, tokens.L, **BASE_CONFIG)
    loss = masked_prompt(tokens.MASK_ID, ~tokens.prompt_mask())
    val = stream.TrainStream(stream.TrainConfig(seed=VAL_SEED, hard_exposure=hard_exposure, skill_rate=SKILL_RATE))
    per_split = 3 if quick else PROBE_PER_SPLIT
    probe = val_loss_probe(loss, (val.batch(32 if quick else VAL_ROWS),),
                           extra=accuracy_probe(per_split, 4 if quick else PROBE_STEPS))
    res = fit("denoiser", net, loss, StreamBatcher(stream.TrainStream(scfg), cfg.batch), cfg,
              runs.train("denoiser"), probe)
    meta = {"hard_exposure": hard_exposure, "skill_rate": SKILL_RATE, "stream_seed": seed}
    models.save_denoiser(res.net, runs.weights, **meta)
    return res, {**summary(res, cfg), **meta, "base_config": BASE_CONFIG}


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False, device: str = "cpu", steps: int | None = None,
             hard_exposure: float = HARD_EXPOSURE) -> Path:
    """Train the task's model into the run folder ``out_dir``, score it, write the card; returns ``out/weights``."""
    torch.set_num_threads(1)
    runs, t0 = RunDirs(Path(out_dir)), time.time()
    den, info = stage_denoiser(runs, seed, quick, device, steps, hard_exposure)
    info = {"seed": seed, "quick": quick, "device": device, "denoiser": info}
    plot_curves({"denoiser": den}, runs.weights / "training_curves.png")
    finish(runs.weights, info, t0, quick, device)
    return runs.weights


def finish(out: Path, info: dict, t0: float, quick: bool, device: str = "cpu") -> None:
    """Quality numbers of the unguided model, pretrain_info.json, manifest and model card."""
    from tasks.math.card import quality_report, write_card

    write_manifest(out)
    info["quality"] = quality_report(out, quick=quick, device=device)
    info["total_wall_s"] = round(time.time() - t0, 1)
    (out / "pretrain_info.json").write_text(json.dumps(info, indent=2) + "\n")
    write_manifest(out)
    write_card(out, info)


def main() -> None:
    """CLI: ``python3 -m tasks.math.pretrain --out DIR [--steps N] [--hard-exposure P] [--quick]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--hard-exposure", type=float, default=HARD_EXPOSURE)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(pretrain(a.out, a.seed, a.quick, a.device, a.steps, a.hard_exposure))


if __name__ == "__main__":
    main()
