"""`bench pretrain --task molecules`: every file of ``tasks/molecules/weights/`` into a new run folder.

Stages (on the shared stack, ``bench.train``): QM9 load and split -> reference SMILES files -> MDLM denoiser ->
its ring-count conditional fine-tune (``cond.py``; the `molecules_cond` twin's network) -> gap proxy (half A)
and gap oracle (half B) -> one-hot differentiable predictor (half A) -> FCD reference statistics
-> quality numbers -> manifest, training curves and model card. Every model resumes
from its checkpoint under ``<run>/train/<model>/`` when the same run folder is given again. ``quick=True`` runs a
few steps on a 3,000-molecule subset (a smoke test of the path; never installed).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
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
from tasks.molecules import cond, data, models, regress
from tasks.molecules.net import FingerprintMLP, OneHotPredictor, SmilesDenoiser

log = logging.getLogger(__name__)

BASE_CONFIG = dict(d=128, layers=4, heads=4, ff=4)
DENOISER = TrainConfig(steps=13500, batch=256, lr=1e-3, warmup=200, lr_floor=0.05, weight_decay=0.01,
                       betas=(0.9, 0.98), clip=1.0, ema=0.999, ema_warmup=True, ckpt_every=500, probe_every=500)
REGRESSOR = TrainConfig(steps=0, batch=256, lr=1e-3, weight_decay=1e-4, ckpt_every=500, log_every=100)
GAP_EPOCHS, DIFF_EPOCHS, DIFF_WIDTH, DIFF_N = 15, 6, 96, 20000
SEEDS = {"denoiser": 0, "gap_proxy": 1, "gap_oracle": 2, "diff": 3}
QUICK_STEPS = 3


def prepare(quick: bool) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Canonical QM9 SMILES, DFT gaps and the deterministic splits (quick: a 3,000-molecule subset)."""
    df = data.load_qm9()
    if quick:
        df = df.iloc[:3000].reset_index(drop=True)
    return df["smiles"].tolist(), df["gap"].to_numpy(np.float64), data.splits(len(df))


def stage_reference(out: Path, smiles: list[str], sp: dict[str, np.ndarray]) -> None:
    """train_smiles.txt.gz (novelty) and test_smiles.txt.gz (FCD reference), sorted."""
    data.write_smiles_gz(out / models.TRAIN_SMILES, sorted({smiles[i] for i in sp["train"]}))
    data.write_smiles_gz(out / models.TEST_SMILES, sorted({smiles[i] for i in sp["test"]}))


def _validity_probe(quick: bool):
    """Quality probe: validity of a few unguided samples (``q_validity``)."""
    from bench.diffusion.ancestral import sample_unguided
    from bench.diffusion.masked import MaskedFamily
    from tasks.molecules.chem import canonical_or_none

    n, steps = (8, 8) if quick else (128, 64)

    def probe(net: torch.nn.Module, step: int) -> dict[str, float]:
        x0 = sample_unguided(MaskedFamily(net, data.LENGTH, data.V), n, steps, seed=0).cpu()  # (n, L)
        return {"q_validity": sum(s is not None for s in canonical_or_none(data.decode_tokens(x0))) / n}
    return probe


def stage_denoiser(runs: RunDirs, smiles: list[str], sp: dict[str, np.ndarray], seed: int, quick: bool,
                   device: str):
    """Train the MDLM denoiser; save its EMA weights as ``denoiser.pt``."""
    x = data.encode(smiles)  # (n, L)
    cfg = DENOISER.with_(seed=seed + SEEDS["denoiser"], device=device,
                         **({"steps": QUICK_STEPS, "warmup": 1, "log_every": 1} if quick else {}))
    with seeded(cfg.seed):
        net = SmilesDenoiser(data.V, data.LENGTH, **BASE_CONFIG)
    loss = masked(data.MASK_ID)
    probe = val_loss_probe(loss, (x[sp["val"]][: 256 if quick else 2048],), extra=_validity_probe(quick))
    res = fit("denoiser", net, loss, Batcher((x[sp["train"]],), cfg.batch), cfg, runs.train("denoiser"), probe)
    torch.save({"config": res.net.config, "state": res.net.state_dict()}, runs.weights / models.DENOISER)
    return res, {**summary(res, cfg), "batch": cfg.batch}


def _regressor_cfg(seed: int, quick: bool, device: str) -> TrainConfig:
    return REGRESSOR.with_(seed=seed, device=device, **({"log_every": 1, "steps": QUICK_STEPS} if quick else {}))


def stage_gap(runs: RunDirs, smiles: list[str], gap: np.ndarray, sp: dict[str, np.ndarray], seed: int,
              quick: bool, device: str):
    """Gap proxy (half A, Morgan bits MLP) and oracle (half B, count-fingerprint MLP); test MAE of each."""
    arr, info, results = np.array(smiles, dtype=object), {}, {}
    for name, half, spec, fname in (("gap_proxy", "half_a", regress.GAP_PROXY, models.GAP_PROXY),
                                    ("gap_oracle", "half_b", regress.GAP_ORACLE, models.GAP_ORACLE)):
        idx, cfg = sp[half], _regressor_cfg(seed + SEEDS[name], quick, device)
        x = torch.from_numpy(regress.featurise(list(arr[idx]), spec["features"]))  # (n, F)
        y, mean, std = regress.standardise(gap[idx].astype(np.float64))
        with seeded(cfg.seed):
            net = FingerprintMLP(x.shape[1], tuple(spec["hidden"]), spec["dropout"])
        res = fit_supervised(name, net, x, torch.from_numpy(y).float(), "mse", cfg, runs.train(name),
                             epochs=None if quick else GAP_EPOCHS)
        saved = {"config": res.net.config, "features": spec["features"], "state": res.net.state_dict(),
                 "mean": float(mean), "std": float(std)}
        torch.save(saved, runs.weights / fname)
        pred = regress.predict_gap(regress.load_gap_regressor(saved), list(arr[sp["test"]]))
        results[name] = res
        info[name] = {**summary(res, cfg), "train_half": half, "n_train": int(len(idx)),
                      "features": spec["features"], "hidden": list(spec["hidden"]),
                      "epochs": 0 if quick else GAP_EPOCHS,
                      "test_mae_hartree": float(np.abs(pred - gap[sp["test"]]).mean())}
    return results, info


def stage_diff(runs: RunDirs, smiles: list[str], gap: np.ndarray, sp: dict[str, np.ndarray], seed: int,
               quick: bool, device: str):
    """One-hot CNN predictor of DIFF_PROPS trained on the first DIFF_N of half A; per-property test MAE."""
    arr = np.array(smiles, dtype=object)
    a, te = sp["half_a"][:DIFF_N], sp["test"][: 2000 if not quick else 200]
    y, mean, std = regress.standardise(regress.property_table(list(arr[a]), gap[a]))
    x = F.one_hot(data.encode(list(arr[a])), data.V).float()  # (n, L, V)
    cfg = _regressor_cfg(seed + SEEDS["diff"], quick, device)
    with seeded(cfg.seed):
        net = OneHotPredictor(data.V, data.LENGTH, len(regress.DIFF_PROPS), DIFF_WIDTH)
    res = fit_supervised("diff_predictor", net, x, torch.from_numpy(y).float(), "mse", cfg, runs.train("diff"),
                         epochs=None if quick else DIFF_EPOCHS)
    saved = {"config": res.net.config, "props": list(regress.DIFF_PROPS), "state": res.net.state_dict(),
             "mean": mean.tolist(), "std": std.tolist()}
    torch.save(saved, runs.weights / models.DIFF)
    true = regress.property_table(list(arr[te]), gap[te])
    with torch.inference_mode():
        pred = models.build_diff_predictor(saved)(F.one_hot(data.encode(list(arr[te])), data.V).float())
    mae = np.abs(pred.double().numpy() - true).mean(0)
    return res, {**summary(res, cfg), "n_train": int(len(a)), "epochs": 0 if quick else DIFF_EPOCHS,
                 "test_mae": {p: float(m) for p, m in zip(regress.DIFF_PROPS, mae)}, "n_test": int(len(te))}


def stage_fcd(out: Path, smiles: list[str], sp: dict[str, np.ndarray]) -> None:
    """ChemNet statistics of QM9 test (fcd_test_stats.pt)."""
    stats = models.chemnet().precalc([smiles[i] for i in sp["test"]])
    torch.save({k: torch.as_tensor(v) for k, v in stats.items()}, out / models.FCD_STATS)


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False, device: str = "cpu") -> Path:
    """Train every model of the task into the run folder ``out_dir``; returns its ``weights/`` folder."""
    torch.set_num_threads(1)
    runs, t0 = RunDirs(Path(out_dir)), time.time()
    smiles, gap, sp = prepare(quick)
    stage_reference(runs.weights, smiles, sp)
    info = {"seed": seed, "quick": quick, "device": device, "n_molecules": len(smiles),
            "split": {k: int(len(v)) for k, v in sp.items()}, "base_config": BASE_CONFIG}
    den, info["denoiser"] = stage_denoiser(runs, smiles, sp, seed, quick, device)
    init = {"config": den.net.config, "state": den.net.state_dict()}
    _, info["cond_denoiser"] = cond.stage_cond(runs, smiles, sp, init, seed, quick, device)
    gaps, info["gap"] = stage_gap(runs, smiles, gap, sp, seed, quick, device)
    diff, info["diff_predictor"] = stage_diff(runs, smiles, gap, sp, seed, quick, device)
    stage_fcd(runs.weights, smiles, sp)
    plot_curves({"denoiser": den, **gaps, "diff_predictor": diff}, runs.weights / "training_curves.png")
    finish(runs.weights, info, t0, quick, device)
    return runs.weights


def finish(out: Path, info: dict, t0: float, quick: bool, device: str = "cpu") -> None:
    """Quality numbers of the unguided model, pretrain_info.json, manifest and model card."""
    from tasks.molecules.card import quality_report, write_card

    write_manifest(out)
    info["quality"] = quality_report(out, n=100 if quick else 1000, quick=quick, device=device)
    info["cond_quality"] = cond.cond_quality(out, *((40, 8, 8) if quick else (1000, 200, 64)))
    info["total_wall_s"] = time.time() - t0
    (out / "pretrain_info.json").write_text(json.dumps(info, indent=2) + "\n")
    write_manifest(out)
    write_card(out, info)
    cond.write_card_section(out / "MODEL_CARD.md", info)
