"""`bench pretrain --task dna`: every file of ``tasks/dna/weights/`` into a new run folder.

Stages (on the shared stack, ``bench.train``): the committed sequences and their deterministic halves of train ->
cell-type proxy (CellCNN, half A) and oracle (PoolCNN, half B, other seed) -> ``mpra`` proxy (CellCNN regressor on
noisy labels of the exact function, all of train) -> MDLM denoiser (cell-type label input, 15% label dropout) ->
quality numbers of 1000 unguided samples -> manifest, training curves and model card. Every model resumes from its
checkpoint under ``<run>/train/<model>/`` when the same run folder is given again. ``quick=True`` runs a few steps
on a 2,000-sequence subset (a smoke test of the path; never installed).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.train import (
    Batcher,
    RunDirs,
    TrainConfig,
    fit,
    fit_supervised,
    masked,
    plot_curves,
    seeded,
    summary,
    val_loss_probe,
)
from bench.weights import write_manifest
from tasks.dna import data, models
from tasks.dna.net import NULL_LABEL, CellCNN, DnaDenoiser, PoolCNN

log = logging.getLogger(__name__)

BASE_CONFIG = dict(d=80, kernel=9, dilations=(1, 2, 4, 8, 16, 1, 2, 4))
LABEL_DROPOUT = 0.15
DENOISER = TrainConfig(steps=5000, batch=64, lr=1e-3, warmup=200, lr_floor=0.05, weight_decay=0.01,
                       betas=(0.9, 0.98), clip=1.0, ema=0.999, ema_warmup=True, ckpt_every=250, probe_every=500)
CLASSIFIER = TrainConfig(steps=0, batch=128, lr=2e-3, warmup=100, lr_floor=0.05, weight_decay=1e-2, clip=1.0,
                         ckpt_every=500, log_every=100)
CLS_EPOCHS, MPRA_EPOCHS, MPRA_NOISE = 8, 6, 0.3  # label noise sd of the mpra proxy, in units of y's sd
SEEDS = {"denoiser": 0, "proxy": 1, "oracle": 2, "mpra_proxy": 3, "halves": 4, "mpra_noise": 5}
QUICK_STEPS, QUICK_N = 3, 2000


def prepare(quick: bool) -> dict[str, data.DnaSplit]:
    """train / validation / test sequences with labels (quick: the first 2,000 of each split)."""
    out = {s: data.load_labelled(s) for s in data.SPLITS}
    if quick:
        out = {s: data.DnaSplit(d.tokens[:QUICK_N], d.cell[:QUICK_N]) for s, d in out.items()}
    return out


def halves(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint halves of ``range(n)`` (a seeded permutation): proxy models train on A, oracles on B."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SEEDS["halves"]))  # (n,)
    return perm[: n // 2].sort().values, perm[n // 2:].sort().values


def _onehot(tokens: torch.Tensor) -> torch.Tensor:
    return F.one_hot(tokens, 4).float()  # (N, L, 4)


def _cfg(base: TrainConfig, seed: int, quick: bool, device: str) -> TrainConfig:
    quick_set = {"steps": QUICK_STEPS, "warmup": 1, "log_every": 1} if quick else {}
    return base.with_(seed=seed, device=device, **quick_set)


def accuracy(net: torch.nn.Module, split: data.DnaSplit) -> float:
    """Fraction of ``split`` whose argmax cell type is right."""
    with torch.inference_mode():
        logits = torch.cat([net(_onehot(t)) for t in torch.split(split.tokens, 1024)])  # (N, 4)
    return float((logits.argmax(-1) == split.cell).double().mean())


def stage_classifiers(runs: RunDirs, sp: dict[str, data.DnaSplit], seed: int, quick: bool, device: str):
    """The HepG2/K562 reward's two networks: proxy CellCNN on half A, oracle PoolCNN on half B."""
    a, b = halves(len(sp["train"].cell))
    results, info = {}, {}
    for name, idx, build, fname in (("proxy", a, CellCNN, models.PROXY), ("oracle", b, PoolCNN, models.ORACLE)):
        cfg = _cfg(CLASSIFIER, seed + SEEDS[name], quick, device)
        with seeded(cfg.seed):
            net = build()
        x, y = _onehot(sp["train"].tokens[idx]), sp["train"].cell[idx]
        val = (_onehot(sp["validation"].tokens), sp["validation"].cell)
        res = fit_supervised(name, net, x, y, "ce", cfg, runs.train(name), epochs=None if quick else CLS_EPOCHS,
                             val=val)
        torch.save({"config": res.net.config, "state": res.net.state_dict(), "kind": build.__name__},
                   runs.weights / fname)
        results[name] = res
        info[name] = {**summary(res, cfg), "arch": build.__name__, "n_train": int(len(idx)),
                      "epochs": 0 if quick else CLS_EPOCHS,
                      "val_acc": accuracy(res.net, sp["validation"]), "test_acc": accuracy(res.net, sp["test"])}
        log.info("%s: %s", name, info[name])
    return results, info


def stage_mpra(runs: RunDirs, sp: dict[str, data.DnaSplit], seed: int, quick: bool, device: str):
    """The ``mpra`` proxy: CellCNN(n_out=1) on y(x) + N(0, (MPRA_NOISE·sd)²) over all train sequences."""
    from tasks.dna.mpra import MpraFunction

    fn = MpraFunction()
    y = fn(sp["train"].tokens).float()  # (N,)
    mean, sd = float(y.mean()), float(y.std())
    gen = torch.Generator().manual_seed(SEEDS["mpra_noise"])
    noisy = (y - mean) / sd + MPRA_NOISE * torch.randn(y.shape, generator=gen)  # (N,) standardised
    yv = (fn(sp["validation"].tokens).float() - mean) / sd  # (Nv,)
    cfg = _cfg(CLASSIFIER, seed + SEEDS["mpra_proxy"], quick, device)
    with seeded(cfg.seed):
        net = CellCNN(n_out=1)
    res = fit_supervised("mpra_proxy", _Std(net), _onehot(sp["train"].tokens), noisy, "mse", cfg,
                         runs.train("mpra_proxy"), epochs=None if quick else MPRA_EPOCHS,
                         val=(_onehot(sp["validation"].tokens), yv))
    saved = {"config": res.net.net.config, "state": res.net.net.state_dict(), "mean": mean, "sd": sd}
    torch.save(saved, runs.weights / models.MPRA_PROXY)
    wrapped = models.build_mpra_proxy(saved)
    with torch.inference_mode():
        pred = torch.cat([wrapped(_onehot(t)) for t in torch.split(sp["test"].tokens, 1024)]).double()
    truth = fn(sp["test"].tokens)
    corr = float(torch.corrcoef(torch.stack([pred, truth]))[0, 1])
    return res, {**summary(res, cfg), "n_train": int(len(y)), "noise_sd": MPRA_NOISE * sd, "y_mean": mean,
                 "y_sd": sd, "test_pearson": corr, "test_mae": float((pred - truth).abs().mean())}


class _Std(torch.nn.Module):
    """CellCNN(n_out=1) -> (B,) for the MSE loss on standardised labels."""

    def __init__(self, net: CellCNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.net(p).squeeze(-1)  # (B,)


def _kmer_probe(quick: bool, reference: torch.Tensor):
    """Quality probe: 3-mer correlation of a few unguided samples to held-out sequences (``q_kmer3``)."""
    from bench.diffusion.ancestral import sample_unguided
    from bench.diffusion.masked import MaskedFamily
    from tasks.dna.metrics import kmer_correlation

    n, steps = (4, 4) if quick else (64, 50)

    def probe(net: torch.nn.Module, step: int) -> dict[str, float]:
        x0 = sample_unguided(MaskedFamily(net, data.SEQ_LEN, 4), n, steps, seed=0).cpu()  # (n, L)
        return {"q_kmer3": kmer_correlation(x0, reference)}
    return probe


def stage_denoiser(runs: RunDirs, sp: dict[str, data.DnaSplit], seed: int, quick: bool, device: str):
    """Train the conditional MDLM denoiser; save its EMA weights as ``denoiser.pt``."""
    cfg = _cfg(DENOISER, seed + SEEDS["denoiser"], quick, device)
    with seeded(cfg.seed):
        net = DnaDenoiser(4, data.SEQ_LEN, **BASE_CONFIG)
    loss = masked(4, LABEL_DROPOUT, NULL_LABEL)
    val = sp["validation"]
    probe = val_loss_probe(loss, (val.tokens[: 256 if quick else 1024],),
                           extra=_kmer_probe(quick, sp["test"].tokens))
    batcher = Batcher((sp["train"].tokens, sp["train"].cell), cfg.batch)
    res = fit("denoiser", net, loss, batcher, cfg, runs.train("denoiser"), probe)
    torch.save({"config": res.net.config, "state": res.net.state_dict()}, runs.weights / models.DENOISER)
    return res, {**summary(res, cfg), "label_dropout": LABEL_DROPOUT}


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False, device: str = "cpu") -> Path:
    """Train every model of the task into the run folder ``out_dir``; returns its ``weights/`` folder."""
    torch.set_num_threads(1)
    runs, t0 = RunDirs(Path(out_dir)), time.time()
    sp = prepare(quick)
    info = {"seed": seed, "quick": quick, "device": device,
            "split": {k: int(len(v.cell)) for k, v in sp.items()}, "base_config": BASE_CONFIG}
    cls, info["classifiers"] = stage_classifiers(runs, sp, seed, quick, device)
    mpra, info["mpra_proxy"] = stage_mpra(runs, sp, seed, quick, device)
    den, info["denoiser"] = stage_denoiser(runs, sp, seed, quick, device)
    plot_curves({"denoiser": den, **cls, "mpra_proxy": mpra}, runs.weights / "training_curves.png")
    finish(runs.weights, info, t0, quick, device)
    return runs.weights


def finish(out: Path, info: dict, t0: float, quick: bool, device: str = "cpu") -> None:
    """Quality numbers of the unguided model, pretrain_info.json, manifest and model card."""
    from tasks.dna.card import quality_report, write_card

    write_manifest(out)
    info["quality"] = quality_report(out, n=64 if quick else 1000, quick=quick, device=device)
    info["total_wall_s"] = time.time() - t0
    (out / "pretrain_info.json").write_text(json.dumps(info, indent=2) + "\n")
    write_manifest(out)
    write_card(out, info)
