"""Training recipes of the images task on the shared stack: `bench pretrain --task images` trains every model
into a new run folder.

  unet        ε-prediction UNet with self-attention at 14x14 and 7x7 and a class input (10% label dropout:
              one network is the conditional and the unconditional model, for CFG), Gaussian loss (ε target,
              cosine schedule), AdamW + EMA; EMA snapshots every probe, step WEAK_STEP's = autoguidance's
              weak model                                                                     -> unet.pt, weak.pt
  flow        the flow twin: the same UNet as a velocity network u(x_τ, τ) on the linear path (flow matching,
              seed + 3), its step-WEAK_STEP EMA snapshot for autoguidance            -> flow.pt, flow_weak.pt
  guide       guidance (proxy) classifier, seed + 1, flips + pixel noise                      -> guide.pt
  oracle      held-out classifier, seed + 2, random-shift crops, no noise                     -> oracle.pt
  stats       oracle-feature sums/covariances of each class's test images (FID reference)      -> ref_stats.npz
  card        base-model quality numbers, ``manifest.json``, ``training_curves.png`` (``_flow.png``), ``MODEL_CARD.md``
``--init WEIGHTS`` continues the ``unet`` from a trained weights folder (sha256-checked) under the FINETUNE recipe
(a second warmup + cosine cycle); the other files are copied from that folder and the weak model stays its own.
Data: Fashion-MNIST train split (the test split only for accuracy, val-loss probes and the FID reference).
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.diffusion.schedules import gaussian_alphas_bar
from bench.train import (
    Batcher,
    RunDirs,
    TrainConfig,
    fit,
    fit_supervised,
    flow,
    gaussian,
    plot_curves,
    seeded,
    summary,
    val_loss_probe,
)
from bench.weights import checked_path, load_state, sha256, write_manifest
from tasks.images import data
from tasks.images.models import FLOW_TIME_SCALE, WEAK
from tasks.images.net import GuideNet, OracleNet, UNet

log = logging.getLogger(__name__)

UNET = {"ch": 32, "mult": (1, 2, 2), "emb": 128, "attn": (14, 7), "n_classes": 10}
LABEL_DROPOUT = 0.1
DIFF = TrainConfig(steps=12000, batch=32, lr=1e-3, warmup=200, lr_floor=0.1, clip=1.0, ema=0.999, ema_warmup=True,
                   ckpt_every=200, probe_every=1000)
FINETUNE = DIFF.with_(steps=10000, lr=5e-4, warmup=200)  # --init: the committed unet (12k) -> FID 76.4 at 22k
WEAK_STEP = 2000  # autoguidance's weak model: the EMA snapshot of this step of the same run (quick: the last)
GENERATORS = ("unet", "flow")
CLS = {"guide": TrainConfig(steps=0, batch=128, lr=2e-3, warmup=50, lr_floor=0.1, weight_decay=1e-4, probe_every=200),
       "oracle": TrainConfig(steps=0, batch=128, lr=2e-3, warmup=50, lr_floor=0.1, weight_decay=1e-4, probe_every=200)}
EPOCHS = {"guide": 2, "oracle": 4}
GUIDE_NOISE = 0.1
QUICK = {"steps": 3, "warmup": 1, "log_every": 1}
N_PROBE = 1000  # test images of the val-loss probes


def _flip_noise(rows: tuple[torch.Tensor, ...], gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """guide: random horizontal flips + Gaussian pixel noise."""
    x, y = rows
    flip = torch.rand(x.shape[0], generator=gen) < 0.5  # (B,)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x + GUIDE_NOISE * torch.randn(x.shape, generator=gen), y


def _shift(rows: tuple[torch.Tensor, ...], gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """oracle: one random ±2-pixel shift per batch."""
    x, y = rows
    pad = F.pad(x, (2, 2, 2, 2), value=-1.0)  # (B, 1, 32, 32)
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()
    return pad[:, :, dy:dy + 28, dx:dx + 28], y


def _snapshots(folder: Path):
    """A probe extra that saves the probed (EMA) network's weights as ``folder/step<k>.pt``."""
    def save(net: torch.nn.Module, step: int) -> dict[str, float]:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"state": net.state_dict(), "config": net.config}, folder / f"step{step}.pt")
        return {}
    return save


def _start_from(net: UNet, kind: str, init: Path, runs: RunDirs) -> dict:
    """Load ``init``'s ``<kind>.pt`` into ``net``, copy init's other files into the run's weights folder (kept
    there: the classifiers, the other generator, the weak models) and return the provenance of the start."""
    state = load_state(init, f"{kind}.pt")
    if state["config"] != net.config:
        raise ValueError(f"--init {init}: {kind} config {state['config']} != this recipe's {net.config}")
    net.load_state_dict(state["state"])
    for f in Path(init).iterdir():
        if f.is_file() and f.suffix != ".md" and f.name != "manifest.json" and not (runs.weights / f.name).exists():
            shutil.copyfile(f, runs.weights / f.name)
    start = json.loads((Path(init) / "train_log.json").read_text())[kind]
    return {"init_from": str(init), "init_sha256": sha256(checked_path(init, f"{kind}.pt")),
            "init_steps": int(start.get("init_steps", 0)) + int(start["steps"]),  # a continuation's total
            "init_wall_s": round(float(start.get("init_wall_s", 0)) + float(start["wall_s"]), 1),
            "weak_step": start["weak_step"]}


def train_generator(kind: str, runs: RunDirs, seed: int = 0, quick: bool = False, device: str = "cpu",
                    init: Path | None = None):
    """Train the ``unet`` (ε, DDPM) or its ``flow`` twin (velocity) on the labelled train split; save the EMA
    weights to ``<kind>.pt`` and the early EMA snapshot (autoguidance's weak model) as ``weak.pt`` /
    ``flow_weak.pt`` (``models.WEAK``). With ``init`` (a weights folder): continue its ``<kind>.pt`` under
    FINETUNE and keep its weak model."""
    xtr, ytr = data.load_split("train")
    xte, yte = data.load_split("test")
    x, y = data.to_model(xtr), torch.from_numpy(ytr).long()  # (60000, 1, 28, 28), (60000,)
    val = data.to_model(xte[:N_PROBE]), torch.from_numpy(yte[:N_PROBE]).long()
    recipe = DIFF if init is None else FINETUNE
    cfg = recipe.with_(seed=seed + (3 if kind == "flow" else 0), device=device, **(QUICK if quick else {}))
    with seeded(cfg.seed):
        net = UNet(**UNET, time_scale=FLOW_TIME_SCALE if kind == "flow" else 1.0)
    start = {} if init is None else _start_from(net, kind, Path(init), runs)
    null = UNET["n_classes"]
    loss = (flow(LABEL_DROPOUT, null) if kind == "flow"
            else gaussian(gaussian_alphas_bar("cosine"), "eps", label_dropout=LABEL_DROPOUT, null_label=null))
    snaps = runs.train(kind) / "snapshots"
    probe = val_loss_probe(loss, val, extra=_snapshots(snaps))
    res = fit(kind, net, loss, Batcher((x, y), cfg.batch), cfg, runs.train(kind), probe)
    torch.save({"state": res.net.state_dict(), "config": res.net.config}, runs.weights / f"{kind}.pt")
    info = {**summary(res, cfg), **start}
    if init is None:
        info["weak_step"] = cfg.steps if quick else WEAK_STEP
        shutil.copyfile(snaps / f"step{info['weak_step']}.pt", runs.weights / f"{WEAK[kind]}.pt")
    _save_summary(runs.weights, kind, {**info, "label_dropout": LABEL_DROPOUT})
    return res


@torch.no_grad()
def accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy of ``net`` on (N, 1, 28, 28) images with labels (N,)."""
    net.eval()
    hits = sum((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item() for i in range(0, len(x), batch))
    return hits / len(x)


def train_classifier(kind: str, runs: RunDirs, seed: int = 0, quick: bool = False, device: str = "cpu"):
    """Train the ``guide`` (proxy) or ``oracle`` classifier on the train split; save ``<kind>.pt``."""
    xtr, ytr = data.load_split("train")
    xte, yte = data.load_split("test")
    x, y = data.to_model(xtr), torch.from_numpy(ytr).long()  # (60000, 1, 28, 28), (60000,)
    xv, yv = data.to_model(xte), torch.from_numpy(yte).long()  # (10000, 1, 28, 28), (10000,)
    cfg = CLS[kind].with_(seed=seed + (1 if kind == "guide" else 2), device=device, **(QUICK if quick else {}))
    with seeded(cfg.seed):
        net = GuideNet() if kind == "guide" else OracleNet()
    res = fit_supervised(kind, net, x, y, "ce", cfg, runs.train(kind), epochs=None if quick else EPOCHS[kind],
                         transform=_flip_noise if kind == "guide" else _shift, val=(xv[:N_PROBE], yv[:N_PROBE]))
    torch.save({"state": res.net.state_dict(), "config": res.net.config}, runs.weights / f"{kind}.pt")
    n_acc = N_PROBE if quick else len(xv)
    info = {**summary(res, cfg), "test_acc": round(accuracy(res.net, xv[:n_acc], yv[:n_acc]), 4), "n_test": n_acc}
    log.info("%s: %s", kind, info)
    _save_summary(runs.weights, kind, info)
    return res


def _plot(results: dict, weights: Path, finetune: bool = False) -> None:
    """Curves of the models trained in this call: the DDPM and classifiers in ``training_curves.png``, the flow
    twin in ``training_curves_flow.png`` (so a flow-only run leaves the DDPM's curves in place), a continued
    unet in ``training_curves_finetune.png`` (the first run's curves stay)."""
    main = {k: v for k, v in results.items() if k != "flow"}
    if main:
        plot_curves(main, weights / ("training_curves_finetune.png" if finetune else "training_curves.png"))
    if "flow" in results:
        plot_curves({"flow": results["flow"]}, weights / "training_curves_flow.png")


def _save_summary(out_dir: Path, key: str, info: dict) -> None:
    """Merge ``info`` into ``out_dir/train_log.json`` (read by the model card writer)."""
    path = out_dir / "train_log.json"
    logs = json.loads(path.read_text()) if path.exists() else {}
    logs[key] = info
    path.write_text(json.dumps(logs, indent=2, sort_keys=True) + "\n")


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False, device: str = "cpu",
             parts: tuple[str, ...] = ("guide", "oracle", *GENERATORS, "card"), threads: int = 1,
             init: Path | None = None) -> Path:
    """Train the models of the images task named in ``parts`` into the run folder ``out_dir`` (each resumes from
    its checkpoint), then (``card``) the FID reference, manifest and model card; returns its ``weights/``.
    ``threads``: torch CPU threads (results can differ in the last float bits between thread counts).
    ``init``: a weights folder whose ``unet`` the run continues (FINETUNE); then ``parts`` may only be unet, card."""
    from tasks.images.card import N_SAMPLES, STEPS, reference_stats, write_card
    from tasks.images.pick import pick

    torch.set_num_threads(threads)
    runs = RunDirs(Path(out_dir))
    results = {k: train_classifier(k, runs, seed, quick, device) for k in ("guide", "oracle") if k in parts}
    results.update({k: train_generator(k, runs, seed, quick, device, init) for k in GENERATORS if k in parts})
    if "card" in parts:
        _plot(results, runs.weights, init is not None)
        write_manifest(runs.weights)  # the card's loaders check every file against it
        if init is None:  # a continued unet keeps the first run's oracle, so its reference statistics too
            reference_stats(runs.weights)
        write_card(runs.weights, seed, quick, device)
    if "pick" in parts:  # after the card: it replaces the unet's entry only
        pick(runs.root, n=16 if quick else N_SAMPLES, steps=5 if quick else STEPS, seed=seed, quick=quick)
    return runs.weights


def main(argv: list[str] | None = None) -> None:
    """``python -m tasks.images.pretrain --out RUN --part unet,flow``: some models only (``bench pretrain --task
    images`` trains them all)."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--part", default="guide,oracle,unet,flow,card",
                    help="comma list of guide, oracle, unet, flow, card, pick (choose the unet among the run's "
                         "EMA snapshots: tasks.images.pick)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--init", type=Path, default=None,
                    help="weights folder whose unet to continue (FINETUNE recipe); with --part unet,card only")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parts = tuple(x.strip() for x in a.part.split(","))
    unknown = set(parts) - {"guide", "oracle", *GENERATORS, "card", "pick"}
    if unknown:
        ap.error(f"--part: unknown {sorted(unknown)}; expected guide, oracle, unet, flow, card, pick")
    if a.init is not None and not set(parts) <= {"unet", "card", "pick"}:
        ap.error(f"--init continues the unet only: expected --part unet,card[,pick], got {a.part}")
    if a.init is not None and not (a.init / "manifest.json").exists():
        ap.error(f"--init: {a.init} is not a weights folder (no manifest.json), e.g. tasks/images/weights")
    if a.threads < 1:
        ap.error(f"--threads: expected an integer >= 1, got {a.threads}")
    print(pretrain(a.out, a.seed, a.quick, a.device, parts, a.threads, a.init))


if __name__ == "__main__":
    main()
