"""`bench pretrain --task molecules`: reproduce every committed file under ``tasks/molecules/weights/``.

Stages (each 1 CPU thread): QM9 load and split -> reference SMILES files -> MDLM denoiser -> gap proxy (half A)
and gap oracle (half B) -> one-hot differentiable predictor (half A) -> FCD reference statistics (when fcd-torch is
installed) -> quality numbers -> manifest and model card. ``quick=True`` runs a few steps on small subsets (smoke).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from bench.weights import write_manifest
from tasks.molecules import data, models, regress
from tasks.molecules.train import BASE_CONFIG, train_denoiser

log = logging.getLogger(__name__)

BASE_STEPS, BASE_BATCH = 2000, 256
BASE_STOP: int | None = None  # early stop on the BASE_STEPS schedule (None: train all steps)
PHASE2_STEPS, PHASE2_LR, PHASE2_WARMUP = 1500, 5e-4, 100  # continuation from the phase-1 EMA weights
GAP_EPOCHS, DIFF_EPOCHS, DIFF_WIDTH, DIFF_N = 15, 6, 96, 20000
SEEDS = {"denoiser": 0, "gap_proxy": 1, "gap_oracle": 2, "diff": 3, "denoiser_phase2": 10}


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


def stage_denoiser(out: Path, smiles: list[str], sp: dict[str, np.ndarray], seed: int, quick: bool) -> dict:
    """Train (phase 1, then a phase-2 continuation at a lower peak lr) and save the MDLM denoiser."""
    x = data.encode(smiles)  # (n, L)
    steps, stop = (5, None) if quick else (BASE_STEPS, BASE_STOP)
    net, info = train_denoiser(x[sp["train"]], x[sp["val"]], seed + SEEDS["denoiser"], steps, BASE_BATCH,
                               stop_at=stop)
    if PHASE2_STEPS:
        net, info2 = train_denoiser(x[sp["train"]], x[sp["val"]], seed + SEEDS["denoiser_phase2"],
                                    3 if quick else PHASE2_STEPS, BASE_BATCH, lr=PHASE2_LR,
                                    init_state=net.state_dict(), warmup=PHASE2_WARMUP)
        info = {**info, "phase1_val_loss": info["val_loss"], "phase2": info2, "val_loss": info2["val_loss"],
                "final_train_loss": info2["final_train_loss"], "wall_s": info["wall_s"] + info2["wall_s"]}
    torch.save({"config": net.config, "state": net.state_dict()}, out / models.DENOISER)
    info["params"] = sum(p.numel() for p in net.parameters())
    return info


def stage_gap(out: Path, smiles: list[str], gap: np.ndarray, sp: dict[str, np.ndarray], seed: int,
              quick: bool) -> dict:
    """Gap proxy (half A, Morgan bits MLP) and oracle (half B, count-fingerprint MLP); test MAE of each."""
    arr, info, epochs = np.array(smiles, dtype=object), {}, 1 if quick else GAP_EPOCHS
    for name, half, cfg, fname in (("gap_proxy", "half_a", regress.GAP_PROXY, models.GAP_PROXY),
                                   ("gap_oracle", "half_b", regress.GAP_ORACLE, models.GAP_ORACLE)):
        idx = sp[half]
        t0 = time.time()
        saved = regress.train_gap_regressor(list(arr[idx]), gap[idx], cfg, seed + SEEDS[name], epochs)
        torch.save(saved, out / fname)
        pred = regress.predict_gap(regress.load_gap_regressor(saved), list(arr[sp["test"]]))
        info[name] = {"train_half": half, "n_train": int(len(idx)), "features": cfg["features"],
                      "hidden": list(cfg["hidden"]), "epochs": epochs, "wall_s": time.time() - t0,
                      "test_mae_hartree": float(np.abs(pred - gap[sp["test"]]).mean()),
                      "params": sum(v.numel() for v in saved["state"].values())}
    return info


def stage_diff(out: Path, smiles: list[str], gap: np.ndarray, sp: dict[str, np.ndarray], seed: int,
               quick: bool) -> dict:
    """One-hot CNN predictor of DIFF_PROPS trained on the first DIFF_N of half A; per-property test MAE."""
    arr = np.array(smiles, dtype=object)
    a, te = sp["half_a"][:DIFF_N], sp["test"][: 2000 if not quick else 200]
    t0 = time.time()
    props = regress.property_table(list(arr[a]), gap[a])
    saved = regress.train_diff_predictor(list(arr[a]), props, seed + SEEDS["diff"], 1 if quick else DIFF_EPOCHS,
                                         DIFF_WIDTH)
    torch.save(saved, out / models.DIFF)
    pred_net = models.build_diff_predictor(saved)
    true = regress.property_table(list(arr[te]), gap[te])
    with torch.inference_mode():
        pred = pred_net(torch.nn.functional.one_hot(data.encode(list(arr[te])), data.V).float()).double().numpy()
    mae = np.abs(pred - true).mean(0)
    return {"n_train": int(len(a)), "epochs": 1 if quick else DIFF_EPOCHS, "wall_s": time.time() - t0,
            "params": sum(v.numel() for v in saved["state"].values()),
            "test_mae": {p: float(m) for p, m in zip(regress.DIFF_PROPS, mae)}, "n_test": int(len(te))}


def stage_fcd(out: Path, smiles: list[str], sp: dict[str, np.ndarray]) -> bool:
    """ChemNet statistics of QM9 test (fcd_test_stats.pt) when fcd-torch is installed."""
    try:
        from fcd_torch import FCD
    except ImportError:
        log.warning("fcd-torch not installed: no FCD reference statistics written")
        return False
    stats = FCD(device="cpu", n_jobs=1).precalc([smiles[i] for i in sp["test"]])
    torch.save({k: torch.as_tensor(v) for k, v in stats.items()}, out / models.FCD_STATS)
    return True


def pretrain(out_dir: Path, seed: int = 0, quick: bool = False) -> None:
    """Reproduce every committed weight file of the task into ``out_dir``, then the manifest and model card."""
    from tasks.molecules.card import quality_report, write_card

    torch.set_num_threads(1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    smiles, gap, sp = prepare(quick)
    stage_reference(out, smiles, sp)
    info = {"seed": seed, "quick": quick, "n_molecules": len(smiles),
            "split": {k: int(len(v)) for k, v in sp.items()}, "base_config": BASE_CONFIG}
    info["denoiser"] = stage_denoiser(out, smiles, sp, seed, quick)
    info["gap"] = stage_gap(out, smiles, gap, sp, seed, quick)
    info["diff_predictor"] = stage_diff(out, smiles, gap, sp, seed, quick)
    info["fcd_stats"] = stage_fcd(out, smiles, sp)
    write_manifest(out)
    info["quality"] = quality_report(out, n=100 if quick else 1000, quick=quick)
    info["total_wall_s"] = time.time() - t0
    (out / "pretrain_info.json").write_text(json.dumps(info, indent=2) + "\n")
    write_manifest(out)
    write_card(out, info)
