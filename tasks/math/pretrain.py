"""`bench pretrain --task math`: the MDLM solver on the on-the-fly PerturbArith stream, into a run folder.

One model (``denoiser.pt``): a ~0.8M-parameter bidirectional transformer (``net.MathDenoiser``) trained with the
masked-diffusion ELBO over the answer region only (``bench.train.losses.masked_prompt``: the prompt is never
masked, it is the condition), on batches drawn from ``stream.TrainStream`` (fresh problems every step; the test
problems are excluded by the stream). A probe logs ``val_loss`` on fixed held-out stream rows and the unguided
accuracy on 36 problems per split (``q_acc_original`` / ``q_acc_simple`` / ``q_acc_hard``), so the training-length
calibration can be read off ``train/denoiser/log.csv``. Then the card (``card.py``) scores the EMA weights on the
committed splits. ``quick=True`` trains 3 steps and scores a few problems (a smoke test; never installed).
Run directly: ``python3 -m tasks.math.pretrain --out DIR [--steps N] [--hard-exposure P] [--init FOLDER]``.
``--init`` continues from a committed solver (its weights folder, sha256-checked) under the short ``FINETUNE``
recipe: the calibration step that changes ``hard_exposure`` without a full retrain.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import torch

from bench.train import RunDirs, TrainConfig, fit, plot_curves, seeded, summary, val_loss_probe
from bench.train.losses import masked_prompt
from bench.weights import sha256, write_manifest
from tasks.math import instances, metrics, models, scoring, stream, tokens
from tasks.math.net import MathDenoiser
from tasks.math.sampling import sample_prompts
from tasks.math.value import train_value

log = logging.getLogger(__name__)

BASE_CONFIG = dict(d=128, layers=4, heads=4, ff=4)
# Share of Hard-form items per family (issue 13's calibration knob). MINSQ's Hard form copies c and RATE's swaps
# one operator: seen at all, they are easier than their Originals (v1, uniform 0.02: MINSQ Hard 0.70), so they
# get none or a trace; the long chains (ABS two roots, SUM STEP 2) get a little more.
HARD_EXPOSURE = {"LIN": 0.02, "ABS": 0.03, "SUM": 0.03, "MODPOW": 0.02, "RATE": 0.005, "MINSQ": 0.0}
SKILL_RATE = 0.2
DENOISER = TrainConfig(steps=10000, batch=128, lr=1e-3, warmup=200, lr_floor=0.05, weight_decay=0.01,
                       betas=(0.9, 0.98), clip=1.0, ema=0.999, ema_warmup=True, ckpt_every=250, log_every=50,
                       probe_every=1000)
# Continuing from a trained solver with a new exposure: lower peak LR, short warmup, probes every 500 steps.
FINETUNE = DENOISER.with_(steps=2500, lr=3e-4, warmup=100, probe_every=500)
# v4 (committed): phase 1 trains HARD_EXPOSURE from scratch (= v3), phase 2 continues it under FINETUNE with this
# exposure: a trace of MINSQ and more RATE / ABS / SUM Hard, for Hard pass@32 >= 0.5 (v3: 0.333, ABS / MINSQ / SUM
# Hard at 0) while Acc_S - Acc_H stays >= 0.25.
FINETUNE_EXPOSURE = {"LIN": 0.03, "ABS": 0.08, "SUM": 0.04, "MODPOW": 0.02, "RATE": 0.01, "MINSQ": 0.002}
PROBE_STEPS, PROBE_PASS_K, VAL_ROWS, VAL_SEED = 32, 8, 512, 999
QUICK_STEPS = 3


Exposure = float | Mapping[str, float]


def parse_exposure(text: str) -> Exposure:
    """``0.02`` or ``LIN=0.02,ABS=0.03``: the ``--hard-exposure`` forms (unknown families are refused)."""
    if "=" not in text:
        return float(text)
    out = {}
    for part in text.split(","):
        fam, _, val = part.partition("=")
        if fam.strip() not in stream.FAMILIES:
            raise argparse.ArgumentTypeError(f"unknown family {fam!r}; families: {', '.join(stream.FAMILIES)}")
        out[fam.strip()] = float(val)
    return out


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


def accuracy_probe(steps: int, pass_k: int, snapshots: Path | None = None, quick: bool = False):
    """The calibration probe on the held-out calibration set (``instances.calibration_problems``, never the
    committed splits): ``q_acc_<split>`` (one sample per problem) and ``q_pass<k>_hard`` (``pass_k`` samples per
    Hard problem, oracle r_exact). With ``snapshots`` it also saves the EMA weights of every probed step there
    (``step<N>.pt``), so the training length can be chosen afterwards and that checkpoint fixed."""
    probs = instances.calibration_problems(2 if quick else instances.CAL_PER_FAMILY)
    table = instances.prompt_ids(probs)  # (n, L)
    idx = torch.arange(len(probs))  # (n,)
    hard = idx[[p.split == "hard" for p in probs]]  # (m,)

    def probe(net: torch.nn.Module, step: int) -> dict[str, float]:
        res = scoring.score(sample_prompts(net, table, steps, seed=0), probs, idx)
        many = hard.repeat_interleave(pass_k)  # (m·k,)
        pres = scoring.score(sample_prompts(net, table[many], steps, seed=1), probs, many)
        out = {f"q_acc_{s}": sum(r.correct for r in res if r.split == s) / max(1, sum(r.split == s for r in res))
               for s in ("original", "simple", "hard")}
        out[f"q_pass{pass_k}_hard"] = metrics.pass_at_k_split(pres, "hard", pass_k)
        if snapshots is not None:
            snapshots.mkdir(parents=True, exist_ok=True)
            models.save_denoiser(net, snapshots, name=f"step{step}.pt")
        return out
    return probe


def continuation(init: Path | None) -> tuple[TrainConfig, dict[str, str]]:
    """The recipe of a run (DENOISER from scratch, FINETUNE from the weights folder ``init``) and the provenance
    its weights carry (``init_from`` and the start solver's sha256; none from scratch)."""
    if init is None:
        return DENOISER, {}
    return FINETUNE, {"init_from": str(init), "init_sha256": sha256(Path(init) / models.DENOISER)}


def stage_denoiser(runs: RunDirs, seed: int, quick: bool, device: str, steps: int | None,
                   hard_exposure: Exposure, init: Path | None = None,
                   name: str = "denoiser") -> tuple[Any, dict[str, Any]]:
    """Train the solver (from scratch, or from the solver in the weights folder ``init``) with run files under
    ``train/<name>``; save its EMA weights as ``denoiser.pt``."""
    recipe, init_meta = continuation(init)
    cfg = recipe.with_(seed=seed, device=device, **({"steps": steps} if steps else {}))
    if quick:
        cfg = cfg.with_(steps=QUICK_STEPS, warmup=1, log_every=1, batch=16)
    scfg = stream.TrainConfig(seed=seed, hard_exposure=hard_exposure, skill_rate=SKILL_RATE)
    with seeded(cfg.seed):
        net = MathDenoiser(tokens.V, tokens.L, **BASE_CONFIG)
    if init is not None:
        start = models.load_denoiser(init)
        if start.config != net.config:
            raise ValueError(f"--init {init}: solver config {start.config} != this recipe's {net.config}")
        net.load_state_dict(start.state_dict())
    loss = masked_prompt(tokens.MASK_ID, ~tokens.prompt_mask())
    val = stream.TrainStream(stream.TrainConfig(seed=VAL_SEED, hard_exposure=hard_exposure, skill_rate=SKILL_RATE))
    probe = val_loss_probe(loss, (val.batch(32 if quick else VAL_ROWS),),
                           extra=accuracy_probe(4 if quick else PROBE_STEPS, 2 if quick else PROBE_PASS_K,
                                                runs.train(name) / "snapshots", quick))
    res = fit(name, net, loss, StreamBatcher(stream.TrainStream(scfg), cfg.batch), cfg, runs.train(name), probe)
    meta = {"hard_exposure": hard_exposure, "skill_rate": SKILL_RATE, "stream_seed": seed, **init_meta}
    models.save_denoiser(res.net, runs.weights, **meta)
    return res, {**summary(res, cfg), **meta, "base_config": BASE_CONFIG}


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False, device: str = "cpu", steps: int | None = None,
             hard_exposure: Exposure = HARD_EXPOSURE, threads: int = 1, init: Path | None = None,
             finetune: Exposure | None = FINETUNE_EXPOSURE) -> Path:
    """Train the task's model into the run folder ``out_dir``, score it, write the card; returns ``out/weights``.
    From scratch: ``hard_exposure`` under DENOISER, then (unless ``finetune`` is None) ``finetune`` under FINETUNE
    from that solver. With ``init`` (a weights folder): one FINETUNE phase with ``hard_exposure``."""
    torch.set_num_threads(threads)
    runs, t0 = RunDirs(Path(out_dir)), time.time()
    den, info = stage_denoiser(runs, seed, quick, device, steps, hard_exposure, init)
    if init is None and finetune is not None:
        write_manifest(runs.weights)  # the phase-1 solver is phase 2's sha256-checked start
        den, ft = stage_denoiser(runs, seed, quick, device, None, finetune, runs.weights, name="denoiser_ft")
        info = {**ft, "phase1": info}
    _, vinfo = train_value(den.net, runs, seed, quick, device, folder=f"value-step{den.steps}")
    info = {"seed": seed, "quick": quick, "device": device, "denoiser": info, "value": vinfo}
    plot_curves({"denoiser": den}, runs.weights / "training_curves.png")
    finish(runs.weights, info, t0, quick, device)
    return runs.weights


def fix_checkpoint(out_dir: Path, step: int, seed: int = 0, device: str = "cpu",
                   hard_exposure: Exposure = HARD_EXPOSURE, threads: int = 1, init: Path | None = None) -> Path:
    """Fix the checkpoint at probe step ``step`` of a (possibly unfinished) run: its EMA snapshot becomes
    ``weights/denoiser.pt`` with the run's metadata as of that step, then the value net and the card. A rerun of
    the same recipe reproduces the snapshot (the schedule depends on the planned steps, not on where it stopped)."""
    from bench.train import TrainResult

    torch.set_num_threads(threads)
    runs, t0 = RunDirs(Path(out_dir)), time.time()
    folder = runs.train("denoiser")
    net = models.build_denoiser(torch.load(folder / "snapshots" / f"step{step}.pt", weights_only=True))
    res = TrainResult(net, step, 0.0, float("nan"), folder)
    upto = [r for r in res.history() if r["step"] <= step]
    res.wall_s = upto[-1]["wall_s"] if upto else 0.0
    res.final_loss = next((r["value"] for r in reversed(upto) if r["name"] == "loss"), float("nan"))
    recipe, init_meta = continuation(init)  # a fine-tune run's checkpoint keeps its recipe and its start
    cfg = recipe.with_(seed=seed, device=device)
    meta = {"hard_exposure": hard_exposure, "skill_rate": SKILL_RATE, "stream_seed": seed, **init_meta}
    models.save_denoiser(net, runs.weights, **meta)
    den = {**summary(res, cfg), **meta, "base_config": BASE_CONFIG, "fixed_at_step": step,
           "val_loss": next((r["value"] for r in reversed(upto) if r["name"] == "val_loss"), float("nan"))}
    _, vinfo = train_value(net, runs, seed, False, device, folder=f"value-step{step}")
    plot_curves({"denoiser": res}, runs.weights / "training_curves.png")
    finish(runs.weights, {"seed": seed, "quick": False, "device": device, "denoiser": den, "value": vinfo}, t0,
           False, device)
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
    ap.add_argument("--hard-exposure", type=parse_exposure, default=HARD_EXPOSURE,
                    help="a share for every family (0.02) or per family (LIN=0.02,ABS=0.03,...; others 0)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fix-step", type=int, default=None,
                    help="fix the checkpoint at this probe step of the run in --out (its EMA snapshot); no training")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--init", type=Path, default=None,
                    help="weights folder of a trained solver to continue from (FINETUNE recipe, one phase); "
                         "with --fix-step: the run in --out was such a continuation")
    ap.add_argument("--no-finetune", action="store_true", help="from scratch: stop after phase 1 (the v3 recipe)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if a.fix_step is not None:
        print(fix_checkpoint(a.out, a.fix_step, a.seed, a.device, a.hard_exposure, a.threads, a.init))
        return
    print(pretrain(a.out, a.seed, a.quick, a.device, a.steps, a.hard_exposure, a.threads, a.init,
                   None if a.no_finetune else FINETUNE_EXPOSURE))


if __name__ == "__main__":
    main()
