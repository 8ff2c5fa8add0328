"""The ring-count conditional denoiser (`cond_denoiser.pt`, sampled by the `molecules_cond` twin): its labels,
its training stage on `bench.train`, its quality numbers and its model-card section.

It is the unconditional denoiser fine-tuned with a ring-count label (``net.ring_label``: 0-4 and ">= 5") added to
every position's embedding and 10% label dropout to the null label, so one network is both the conditional and the
unconditional model (D-CFG; Ho & Salimans' recipe on a masked diffusion model). The label embedding starts at zero,
so training starts from exactly the unconditional model. Within ``bench pretrain --task molecules`` it starts from
that run's denoiser; ``python3 -m tasks.molecules.cond --init FOLDER --out DIR`` adds it to an existing weights
folder (the committed one) without retraining the rest: every other file is copied, sha256-checked.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.train import Batcher, RunDirs, TrainConfig, fit, masked, plot_curves, seeded, summary, val_loss_probe
from bench.weights import checked_path, load_state, put_card_section, sha256, write_manifest
from tasks.molecules import chem, data, models
from tasks.molecules.net import N_RING_LABELS, CondSmilesDenoiser, ring_label

log = logging.getLogger(__name__)

LABEL_DROPOUT = 0.1
COND = TrainConfig(steps=1500, batch=256, lr=5e-4, warmup=100, lr_floor=0.05, weight_decay=0.01, betas=(0.9, 0.98),
                   clip=1.0, ema=0.999, ema_warmup=True, ckpt_every=250, probe_every=250)
SEED_OFFSET = 4  # after the denoiser (0), the gap regressors (1, 2) and the one-hot predictor (3)
CURVES = "training_curves_cond.png"  # train loss, val ELBO and the probe's q_* numbers against step
PROBE_LABEL = 3  # the benchmark's default objective is rings=3
CARD_BEGIN, CARD_END = "<!-- cond_denoiser: written by tasks/molecules/cond.py -->", "<!-- /cond_denoiser -->"


def ring_labels(smiles: list[str]) -> torch.Tensor:
    """(N,) long condition classes of valid SMILES (every QM9 SMILES parses)."""
    rings = chem.properties(smiles, "rings")  # (N,) float
    if np.isnan(rings).any():
        raise ValueError(f"{int(np.isnan(rings).sum())} SMILES do not parse; ring labels need valid molecules")
    return torch.tensor([ring_label(int(r)) for r in rings], dtype=torch.long)


class Labelled(torch.nn.Module):
    """``net(x, t, label=k)`` for one fixed label k: a conditional network called like an unconditional one."""

    def __init__(self, net: CondSmilesDenoiser, label: int) -> None:
        super().__init__()
        self.net, self.k = net, int(label)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        lab = torch.full((x.shape[0],), self.k, dtype=torch.long, device=x.device)  # (B,)
        return self.net(x, t, label=lab)  # (B, L, V)


def sample_labelled(net: CondSmilesDenoiser, label: int | None, n: int, steps: int, seed: int) -> list[str | None]:
    """n canonical SMILES (None = invalid) sampled unguided under ``label`` (None: the null label)."""
    from bench.diffusion.ancestral import sample_unguided
    from bench.diffusion.masked import MaskedFamily

    model = net if label is None else Labelled(net, label)
    x0 = sample_unguided(MaskedFamily(model, data.LENGTH, data.V), n, steps, seed=seed).cpu()  # (n, L)
    return chem.canonical_or_none(data.decode_tokens(x0))


def label_stats(smiles: list[str | None], label: int | None) -> dict[str, float]:
    """Validity and, under a label, the share of all samples in that ring class (invalid = miss)."""
    out = {"validity": sum(s is not None for s in smiles) / len(smiles)}
    if label is not None:
        rings = chem.properties(smiles, "rings")  # (n,) NaN invalid
        out["in_class"] = float(np.mean([not np.isnan(r) and ring_label(int(r)) == label for r in rings]))
    return out


def _probe(quick: bool):
    """Quality probe: validity under the null label and in-class share under PROBE_LABEL (``q_*``)."""
    n, steps = (8, 8) if quick else (128, 64)

    def probe(net: torch.nn.Module, step: int) -> dict[str, float]:
        null = label_stats(sample_labelled(net, None, n, steps, 0), None)
        cond = label_stats(sample_labelled(net, PROBE_LABEL, n, steps, 0), PROBE_LABEL)
        return {"q_validity": null["validity"], f"q_in_class_{PROBE_LABEL}": cond["in_class"]}
    return probe


def stage_cond(runs: RunDirs, smiles: list[str], sp: dict[str, np.ndarray], init: dict[str, Any], seed: int,
               quick: bool, device: str):
    """Fine-tune the conditional denoiser from the unconditional ``init`` ({"config", "state"}); save its EMA
    weights as ``cond_denoiser.pt``."""
    arr = np.array(smiles, dtype=object)
    tr, va = sp["train"], sp["val"][: 256 if quick else 2048]
    x_tr, y_tr = data.encode(list(arr[tr])), ring_labels(list(arr[tr]))  # (n, L), (n,)
    x_va, y_va = data.encode(list(arr[va])), ring_labels(list(arr[va]))
    cfg = COND.with_(seed=seed + SEED_OFFSET, device=device,
                     **({"steps": 3, "warmup": 1, "log_every": 1} if quick else {}))
    with seeded(cfg.seed):
        net = CondSmilesDenoiser(**init["config"])
    missing, unexpected = net.load_state_dict(init["state"], strict=False)
    if unexpected or set(missing) != {"label.weight"}:
        raise ValueError(f"init weights do not fit the conditional denoiser: missing {missing}, extra {unexpected}")
    loss = masked(data.MASK_ID, LABEL_DROPOUT, net.null_label)
    probe = val_loss_probe(loss, (x_va, y_va), extra=_probe(quick))
    res = fit("cond_denoiser", net, loss, Batcher((x_tr, y_tr), cfg.batch), cfg, runs.train("cond_denoiser"), probe)
    torch.save({"config": res.net.config, "state": res.net.state_dict()}, runs.weights / models.COND_DENOISER)
    plot_curves({"cond_denoiser": res}, runs.weights / CURVES)  # loss, val_loss and the q_* probe numbers
    counts = np.bincount(y_tr.numpy(), minlength=N_RING_LABELS)
    return res, {**summary(res, cfg), "batch": cfg.batch, "label_dropout": LABEL_DROPOUT,
                 "train_label_share": (counts / counts.sum()).round(4).tolist()}


def cond_quality(folder: Path, n: int = 1000, n_label: int = 200, steps: int = 64, seed: int = 0) -> dict:
    """Null-label validity on n samples and, per label, validity and in-class share on n_label samples."""
    net = models.load_cond_denoiser(folder)
    out = {"n": n, "n_label": n_label, "steps": steps, "seed": seed,
           "null": label_stats(sample_labelled(net, None, n, steps, seed), None), "labels": {}}
    for k in range(N_RING_LABELS):
        out["labels"][str(k)] = label_stats(sample_labelled(net, k, n_label, steps, seed), k)
    return out


def card_section(info: dict) -> str:
    """The model card's section on the conditional denoiser."""
    c, q = info["cond_denoiser"], info["cond_quality"]
    rows = "\n".join(f"| {k if int(k) < N_RING_LABELS - 1 else '>= 5'} | {v['validity']:.3f} | {v['in_class']:.3f} |"
                     for k, v in q["labels"].items())
    share = ", ".join(f"{s:.3f}" for s in c["train_label_share"])
    return f"""{CARD_BEGIN}
## Conditional denoiser (`cond_denoiser.pt`, the `molecules_cond` twin)
The base transformer plus a ring-count label embedding (classes 0, 1, 2, 3, 4, >= 5; null label
{N_RING_LABELS}) added at every position, fine-tuned from `denoiser.pt` ({c.get('init_sha256', 'this run')[:12]})
with {c['label_dropout']:.0%} label dropout (D-CFG's training; the embedding starts at zero, so training starts at the
unconditional model): {c['steps']} steps, batch {c['batch']}, peak lr {c['recipe']['lr']},
**wall {c['wall_s'] / 60:.1f} min**, val ELBO {c['val_loss']:.4f} nats/token (labels dropped at the same rate).
Train label shares: {share}.
Curves (train loss, val ELBO, probe validity and in-class share against step): `{CURVES}`.

Null label, {q['n']} samples, {q['steps']} steps: validity **{q['null']['validity']:.3f}**. Per label,
{q['n_label']} samples each (in class: the sample's ring class equals the label; invalid = miss):

| label (rings) | validity | in class |
|---|---|---|
{rows}
{CARD_END}
"""


def write_card_section(card: Path, info: dict) -> None:
    """Put the section into MODEL_CARD.md, replacing an earlier one."""
    put_card_section(card, CARD_BEGIN, CARD_END, card_section(info))


def extend(out_dir: Path, init: Path, seed: int = 0, device: str = "cpu", quick: bool = False) -> Path:
    """Copy the weights folder ``init`` into ``out_dir/weights`` (each file sha256-checked) and add the conditional
    denoiser fine-tuned from its ``denoiser.pt``; manifest, pretrain_info.json and card section updated."""
    torch.set_num_threads(1)
    runs, t0 = RunDirs(Path(out_dir)), time.time()
    keep = [f for f in json.loads((init / "manifest.json").read_text()) if f != models.COND_DENOISER]
    for name in keep:
        shutil.copy2(checked_path(init, name), runs.weights / name)
    for name in ("MODEL_CARD.md", "training_curves.png"):  # outside the manifest
        if (init / name).exists():
            shutil.copy2(init / name, runs.weights / name)
    df = data.load_qm9()
    if quick:
        df = df.iloc[:3000].reset_index(drop=True)
    smiles = df["smiles"].tolist()
    res, c = stage_cond(runs, smiles, data.splits(len(smiles)), load_state(init, models.DENOISER), seed, quick,
                        device)
    info = json.loads((runs.weights / "pretrain_info.json").read_text())
    info["cond_denoiser"] = {**c, "init_sha256": sha256(init / models.DENOISER)}
    write_manifest(runs.weights)
    info["cond_quality"] = cond_quality(runs.weights, *((40, 8, 8) if quick else (1000, 200, 64)))
    info.setdefault("notes", []).append(f"cond_denoiser.pt added by `python3 -m tasks.molecules.cond --init` "
                                        f"({(time.time() - t0) / 60:.1f} min).")
    (runs.weights / "pretrain_info.json").write_text(json.dumps(info, indent=2) + "\n")
    write_card_section(runs.weights / "MODEL_CARD.md", info)
    write_manifest(runs.weights)
    return runs.weights


def main() -> None:
    ap = argparse.ArgumentParser(description="add cond_denoiser.pt to a molecules weights folder")
    ap.add_argument("--init", type=Path, required=True, help="a weights folder (e.g. tasks/molecules/weights)")
    ap.add_argument("--out", type=Path, required=True, help="run folder (an existing one resumes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="3 steps on 3,000 molecules (a smoke test)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(extend(a.out, a.init, a.seed, a.device, a.quick))


if __name__ == "__main__":
    main()
