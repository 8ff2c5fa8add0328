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

BASE_BATCH = 256
# MDLM denoiser phases (steps, peak lr, warmup, seed offset, CPU threads). Phase k > 0 continues from phase k-1's
# EMA weights with a fresh AdamW and a fresh warmup-cosine schedule; each phase's result is saved before the next
# starts, so an interrupted run resumes with ``--from-phase``.
DENOISER_PHASES = ((2000, 1e-3, 200, 0, 1), (1500, 5e-4, 100, 10, 1), (10000, 5e-4, 200, 20, 2))
GAP_EPOCHS, DIFF_EPOCHS, DIFF_WIDTH, DIFF_N = 15, 6, 96, 20000
SEEDS = {"denoiser": 0, "gap_proxy": 1, "gap_oracle": 2, "diff": 3}


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


def stage_denoiser(out: Path, smiles: list[str], sp: dict[str, np.ndarray], seed: int, quick: bool,
                   start: int = 0, done: list[dict] | None = None) -> dict:
    """Train the MDLM denoiser phase by phase (``DENOISER_PHASES[start:]``) and save it after every phase.

    ``start > 0`` continues from the ``denoiser.pt`` already in ``out`` (the result of the earlier phases, whose
    logs are ``done``).
    """
    x = data.encode(smiles)  # (n, L)
    phases = list(done or [])
    state = torch.load(out / models.DENOISER, weights_only=True)["state"] if start else None
    for k, (steps, lr, warmup, offset, threads) in enumerate(DENOISER_PHASES[start:], start):
        torch.set_num_threads(threads)
        log.info("denoiser phase %d: %d steps, peak lr %g, %d threads", k + 1, steps, lr, threads)
        net, ph = train_denoiser(x[sp["train"]], x[sp["val"]], seed + SEEDS["denoiser"] + offset,
                                 3 if quick else steps, BASE_BATCH, lr=lr, init_state=state, warmup=warmup)
        state = net.state_dict()
        phases.append({**ph, "warmup": warmup, "threads": threads})
        torch.save({"config": net.config, "state": state}, out / models.DENOISER)
    torch.set_num_threads(1)
    last = phases[-1]
    return {"phases": phases, "batch": BASE_BATCH, "val_loss": last["val_loss"],
            "final_train_loss": last["final_train_loss"], "wall_s": sum(p["wall_s"] for p in phases),
            "params": sum(p.numel() for p in net.parameters())}


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
    finish(out, info, t0, quick)


def finish(out: Path, info: dict, t0: float, quick: bool) -> None:
    """Quality numbers of the unguided model, pretrain_info.json, manifest and model card."""
    from tasks.molecules.card import quality_report, write_card

    write_manifest(out)
    info["quality"] = quality_report(out, n=100 if quick else 1000, quick=quick)
    info["total_wall_s"] = info.get("total_wall_s", 0.0) + time.time() - t0
    (out / "pretrain_info.json").write_text(json.dumps(info, indent=2) + "\n")
    write_manifest(out)
    write_card(out, info)


def resume(out_dir: Path, start: int) -> None:
    """Continue the denoiser from phase ``start`` (0-based) on the weights and ``pretrain_info.json`` in
    ``out_dir``; the other stages' files are kept; quality numbers, manifest and card are rewritten."""
    out, t0 = Path(out_dir), time.time()
    info = json.loads((out / "pretrain_info.json").read_text())
    done = info["denoiser"]["phases"][:start]
    if len(done) != start:
        raise SystemExit(f"pretrain_info.json records {len(done)} denoiser phases; cannot start at phase {start}")
    smiles, _, sp = prepare(info["quick"])
    info["denoiser"] = stage_denoiser(out, smiles, sp, info["seed"], info["quick"], start, done)
    info.setdefault("notes", []).append(
        f"Denoiser phases {start + 1}-{len(DENOISER_PHASES)} were run by `python -m tasks.molecules.pretrain "
        f"--from-phase {start}` on the saved result of phases 1-{start}; `bench pretrain --task molecules` runs "
        "every phase in one go.")
    finish(out, info, t0, info["quick"])


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="continue the molecules denoiser from a given phase")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "weights")
    ap.add_argument("--from-phase", type=int, required=True, help="0-based index into DENOISER_PHASES")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    resume(args.out, args.from_phase)
