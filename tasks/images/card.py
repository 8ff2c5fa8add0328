"""Reference statistics, the base model's own quality numbers, the manifest and MODEL_CARD.md (text included)."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.calibrate import write_card_section
from bench.diffusion.ancestral import sample_unguided
from bench.weights import write_manifest
from tasks.images import data
from tasks.images.metrics import (
    OracleFeatures,
    diversity,
    feature_stats,
    fid,
    load_real_features,
    load_ref,
    manifold,
    save_real_features,
    save_ref,
)
from tasks.images.models import WEAK, load_net, unguided_family
from tasks.images.objectives import png_bytes, quantize

log = logging.getLogger(__name__)

N_SAMPLES = 1000  # issue 11: quality bars on at least 1000 unguided samples
STEPS = 50  # the task's default steps
FID_BAR = 60.0  # issue 11's bar for the DDPM (real-data floor about 24 at this n)
FLOOR_N = 64  # sample size at which the real-data FID floor is reported (the task's default_n)


@torch.no_grad()
def oracle_features(oracle: torch.nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """The oracle's 64-d FID features of images ``x`` (N, 1, 28, 28), in batches."""
    return torch.cat([oracle.features(x[i:i + batch]) for i in range(0, len(x), batch)])  # (N, 64)


def reference_stats(out_dir: Path) -> None:
    """Write ``ref_stats.npz``: oracle-feature statistics of the test images of each class and of all classes."""
    oracle = load_net(out_dir, "oracle")
    xte, yte = data.load_split("test")
    feats = oracle_features(oracle, data.to_model(xte))  # (10000, 64)
    stats = {str(k): feature_stats(feats[torch.from_numpy(yte == k)]) for k in range(10)}
    stats["all"] = feature_stats(feats)
    save_ref(out_dir / "ref_stats.npz", stats)
    save_real_features(out_dir / "ref_feats.npz", feats, torch.from_numpy(yte))
    log.info("reference statistics and features written (%d test images)", len(feats))


@dataclass
class Scorer:
    """The classifiers and reference sets of a weights folder, loaded once for every generator and the real row."""

    guide: torch.nn.Module
    oracle: torch.nn.Module
    feat: OracleFeatures
    ref: dict
    real: torch.Tensor  # (R, 64) the k-NN metrics' real set

    @classmethod
    def load(cls, out_dir: Path) -> "Scorer":
        guide, oracle = (load_net(out_dir, k) for k in ("guide", "oracle"))
        return cls(guide, oracle, OracleFeatures(oracle), load_ref(out_dir / "ref_stats.npz"),
                   load_real_features(out_dir / "ref_feats.npz")["all"])

    def shared(self, x: torch.Tensor) -> dict:
        """FID vs all test images, k-NN metrics, diversity of images ``x`` (n, 1, 28, 28); features once."""
        f = self.feat(x)  # (n, 64)
        return {"fid_all": round(fid(self.feat, self.ref["all"], x), 3),
                **{k: round(v, 4) for k, v in manifold(self.real, f).items()}, "diversity": round(diversity(f), 3)}


def sample_quality(out_dir: Path, name: str, n: int, steps: int, sc: Scorer, device: str = "cpu") -> dict:
    """One generator's numbers on ``n`` unguided samples at ``steps`` (the task's own sampler settings)."""
    t0 = time.time()
    fam = unguided_family(load_net(out_dir, name).to(device), flow=name == "flow")
    x = quantize(sample_unguided(fam, n, steps, batch=128).cpu())  # (n, 1, 28, 28)
    wall = time.time() - t0
    pred_o, pred_g = sc.oracle(x).argmax(1), sc.guide(x).argmax(1)  # (n,), (n,)
    return {"n_samples": n, "steps": steps, "sampling_wall_s": round(wall, 1), **sc.shared(x),
            "oracle_class_hist": np.bincount(pred_o.numpy(), minlength=10).tolist(),
            "guide_oracle_agreement": round(float((pred_o == pred_g).float().mean()), 4),
            "png_bytes_mean": round(float(png_bytes(data.to_uint8(x)).mean()), 1)}


def real_reference(n: int, sc: Scorer) -> dict:
    """The same numbers for ``n`` real train images (the floor each generator is read against), the FID of the
    same images with noise and with a blur (the metric's scale), and the per-class floors at the default n."""
    xtr, ytr = data.load_split("train")
    real = data.to_model(xtr[:n])  # (n, 1, 28, 28)
    floors = {str(k): round(fid(sc.feat, sc.ref[str(k)], data.to_model(xtr[ytr == k][:FLOOR_N])), 3)
              for k in range(10)}
    gen = torch.Generator().manual_seed(0)
    noisy = quantize((real + 0.05 * torch.randn(real.shape, generator=gen)).clamp(-1, 1))  # (n, 1, 28, 28)
    blurred = quantize(F.avg_pool2d(F.pad(real, (1, 1, 1, 1), mode="replicate"), 3, 1))  # 3x3 box blur
    return {**sc.shared(real), "fid_all_noise05": round(fid(sc.feat, sc.ref["all"], noisy), 3),
            "fid_all_blur3": round(fid(sc.feat, sc.ref["all"], blurred), 3),
            "png_bytes_mean": round(float(png_bytes(xtr[:n]).mean()), 1), "fid_class_n64": floors}


def base_quality(out_dir: Path, n: int = N_SAMPLES, steps: int = STEPS, device: str = "cpu") -> dict:
    """Every generator in ``out_dir`` (unet, and flow when trained) beside the real-data reference."""
    sc = Scorer.load(out_dir)
    gens = [g for g in ("unet", "flow") if (out_dir / f"{g}.pt").exists()]
    return {"real": real_reference(n, sc), **{g: sample_quality(out_dir, g, n, steps, sc, device) for g in gens}}


UNET_TXT = ("ε-prediction UNet (EMA weights), self-attention at 14x14 and 7x7, class input with 10% label dropout "
            "(CFG), cosine schedule, T=1000, `gaussian_loss`")
WEAK_TXT = "autoguidance's weak model: the EMA snapshot of the {run} at step {step}"
FLOW_TXT = "the flow twin: the same UNet as a velocity network on the linear path, `flow_loss`"
GUIDE_TXT = "guidance (proxy) classifier `GuideNet`: all-conv, GroupNorm+SiLU, flips + N(0, 0.1²) pixel noise"
ORACLE_TXT = ("held-out classifier `OracleNet`: VGG-style, BatchNorm+ReLU+max-pool+dropout, ±2 px shifts; "
              "64-d penultimate = FID features")
KNN = ("precision", "recall", "density", "coverage")


def _flow_curves(logs: dict) -> str:
    return " and `training_curves_flow.png` (the flow twin)" if "flow" in logs else ""


def _finetune_curves(u: dict) -> str:
    return (f"; the unet's continuation (steps {u['init_steps']:,} onwards, counted from 0) in "
            "`training_curves_finetune.png`" if "init_steps" in u else "")


def _flow_loss(logs: dict) -> str:
    f = logs.get("flow")
    return (f"- Flow twin (velocity MSE): final training loss {f['final_loss']:.4f}, validation loss "
            f"{f.get('val_loss', float('nan')):.4f} (not comparable to the ε loss)." if f else "")


def _row(name: str, what: str, log: dict, seed: int) -> str:
    return f"| `{name}` | {what} | {log.get('params')} | {seed} | {log.get('steps')} | {log.get('wall_s')} |"


def _unet_row(u: dict, seed: int) -> str:
    """The unet's row; a continued run (``--init``) shows the first run's steps and wall time plus its own."""
    if "init_steps" not in u:
        return _row("unet.pt", UNET_TXT, u, seed)
    both = {**u, "steps": f"{u['init_steps']}+{_own_steps(u)}", "wall_s": f"{u['init_wall_s']}+{u['wall_s']}"}
    picked = (f"; the EMA snapshot at step {_own_steps(u)} of its {u['steps']}-step run (wall: the whole run)"
              if "picked" in u else "")
    return _row("unet.pt", UNET_TXT + f"; continued from `{u['init_sha256'][:12]}` under the fine-tune recipe"
                + picked, both, seed)


def _own_steps(u: dict) -> int:
    """Steps of this run in the shipped weights: the picked snapshot's step (``pick``), else the run's."""
    return int(u["picked"]["step"]) if "picked" in u else int(u.get("steps", 0))


def total_steps(u: dict) -> int:
    """Training steps in the shipped unet: a continued run's start plus its own (to the picked snapshot)."""
    return int(u.get("init_steps", 0)) + _own_steps(u)


def _picked(u: dict, quality: dict) -> str:
    """How the shipped snapshot was chosen (``tasks.images.pick``), with every candidate's score."""
    if "picked" not in u:
        return ""
    p = u["picked"]
    scores = ", ".join(f"{k}: {v}" for k, v in sorted(p["fid_train"].items(), key=lambda kv: int(kv[0])))
    step = str(p["step"])
    return (f"\n- Shipped unet: the EMA snapshot at step {p['step']} of the run, the lowest FID against the oracle "
            f"features of the {p['reference']} at sampler seed {p['seed']} ({p['n']} samples, {p['steps']} steps; "
            f"never the test set or the card's seed 0), by step: {scores}. Its FID against the test images at "
            f"seed {p['seed']} is {p['fid_test'][step]}, beside {quality['unet']['fid_all']} at seed 0 above: at "
            "this n the sampler seed alone moves the FID by that much, so read the bar's verdict with it.")


def _picked_loss(u: dict) -> str:
    """A picked snapshot's validation loss beside the run's last (the final loss above is the run's, not its)."""
    p = u.get("picked")
    if not p or p.get("val_loss") is None:
        return ""
    return (f" The shipped snapshot (step {p['step']}) had validation loss {p['val_loss']:.4f}; the run's last "
            f"probe {u.get('val_loss', float('nan')):.4f}.")


def _recipes(logs: dict) -> str:
    """The optimisation recipe of each model, as `bench.train` ran it."""
    return "; ".join(f"{k} {json.dumps(v['recipe'])}" for k, v in sorted(logs.items()) if "recipe" in v)


def _quality_table(quality: dict) -> str:
    """Generators beside the real-data reference: FID, k-NN manifold metrics, diversity, PNG size."""
    cols = ("fid_all", *KNN, "diversity", "png_bytes_mean")
    head = "| model | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols)
    rows = [f"| {name} | " + " | ".join(str(q.get(c)) for c in cols) + " |"
            for name, q in (("unet (DDPM)", quality.get("unet")), ("flow", quality.get("flow")),
                            ("real train images", quality["real"])) if q]
    return "\n".join([head, *rows])


def _bar(quality: dict) -> str:
    fid_unet = quality.get("unet", {}).get("fid_all", float("nan"))
    verdict = "met" if fid_unet <= FID_BAR else "NOT met"
    real = quality["real"]
    return (f"FID bar (issue 11): DDPM FID <= {FID_BAR:g}: {fid_unet} -> **{verdict}** (real-data floor "
            f"{real['fid_all']}). The oracle-feature FID is very sensitive to texture: the same real images score "
            f"{real['fid_all_noise05']} with N(0, 0.05²) pixel noise added and {real['fid_all_blur3']} after a 3x3 "
            "box blur.")


def _generator_rows(logs: dict, weak: dict[str, int], seed: int) -> str:
    """Table rows after ``unet.pt``: the weak snapshot(s) and the flow twin, for the files the folder holds."""
    u, f = logs.get("unet", {}), logs.get("flow", {})
    rows = []
    if "unet" in weak:
        rows.append(_row("weak.pt", WEAK_TXT.format(run="same run", step=weak["unet"]), {"params": u.get("params"),
                                                                         "steps": weak["unet"]}, seed))
    if f:
        rows.append(_row("flow.pt", FLOW_TXT, f, seed + 3))
    if "flow" in weak:
        rows.append(_row("flow_weak.pt", WEAK_TXT.format(run="flow run", step=weak["flow"]),
                         {"params": f.get("params"), "steps": weak["flow"]}, seed + 3))
    return "".join("\n" + r for r in rows)


def render(logs: dict, quality: dict, seed: int, quick: bool, weak: dict[str, int] | None = None) -> str:
    """Markdown model card; ``weak``: generator -> step of its shipped autoguidance snapshot."""
    u, g, o = logs.get("unet", {}), logs.get("guide", {}), logs.get("oracle", {})
    q = quality.get("unet") or next(iter(v for k, v in quality.items() if k != "real"), {})
    extra = _generator_rows(logs, weak or {}, seed)
    quick_note = "\n**QUICK SMOKE RUN: these weights are not the benchmark's.**\n" if quick else ""
    return f"""# images task: model card
{quick_note}
Generated by `tasks/images/card.py` at the end of `bench pretrain --task images` (seed {seed}; a new run
folder, `--install` copies it over the committed weights). Wall times: see the table (device in the recipes).

## Data
Fashion-MNIST (Zalando SE, MIT/Expat) from the Debian package `dataset-fashion-mnist`
(`/usr/share/datasets/fashion-mnist`, setting `GUIDEBENCH_FASHION_MNIST_DIR`). Training uses the 60,000-image
train split only; the 10,000-image test split is used for classifier accuracy and the FID reference statistics
(`ref_stats.npz`). Images scaled to [-1, 1], shape (1, 28, 28).

## Files
| file | what | params | seed | steps | wall (s) |
|---|---|---|---|---|---|
{_unet_row(u, seed)}{extra}
{_row("guide.pt", GUIDE_TXT, g, seed + 1)}
{_row("oracle.pt", ORACLE_TXT, o, seed + 2)}
| `ref_stats.npz` | oracle-feature sum, outer-product sum, count: test images of each class and all | - | - | - | - |
| `ref_feats.npz` | oracle features (float16), labels: every 5th test image (k-NN metrics' real set) | - | - | - | - |
| `quality.json`, `train_log.json` | the numbers below | - | - | - | - |

Recipes (`bench.train`: AdamW, warmup + cosine LR): {_recipes(logs)}.
The diffusion model sees {total_steps(u) * u.get('recipe', {}).get('batch', 0):,} training images (about
{total_steps(u) * u.get('recipe', {}).get('batch', 0) / 60000:.2f} epochs).
Curves: `training_curves.png`{_flow_curves(logs)}{_finetune_curves(u)}.
The two classifiers never see each other: different architectures, seeds, augmentations; both trained on train.

## Quality
- Classifier test accuracy (10,000 test images): guide (proxy) **{g.get('test_acc')}**, oracle **{o.get('test_acc')}**.
- DDPM final training loss (mean over the last log interval): {u.get('final_loss', float('nan')):.4f}.{_picked_loss(u)}
{_flow_loss(logs)}
- Unguided samples: {q.get('n_samples')} per generator, {q.get('steps')} steps, η=1, x̂0 clipped to [-1, 1]
  (DDPM sampling wall {q.get('sampling_wall_s')} s); FID on oracle features vs all test images, k-NN manifold
  metrics (k = 5) vs every 5th test image; the real row is the same number of real train images (the floor).

{_quality_table(quality)}

- {_bar(quality)}{_picked(u, quality)}
- Oracle class histogram of the DDPM samples (classes 0..9): {q.get('oracle_class_hist')}; guide/oracle
  agreement on them: {q.get('guide_oracle_agreement')}.
- Per-class FID floor (64 real train images of class k vs class-k test statistics), the best a method can hope
  for at n = 64: {quality['real']['fid_class_n64']}.
"""


def write_card(out_dir: Path, seed: int = 0, quick: bool = False, device: str = "cpu") -> None:
    """Compute base-model quality, write ``quality.json``, ``manifest.json`` and ``MODEL_CARD.md``."""
    out_dir = Path(out_dir)
    quality = base_quality(out_dir, n=16 if quick else N_SAMPLES, steps=5 if quick else STEPS, device=device)
    (out_dir / "quality.json").write_text(json.dumps(quality, indent=2, sort_keys=True) + "\n")
    write_manifest(out_dir)
    render_card(out_dir, seed, quick)
    log.info("model card written: %s", quality)


def render_card(out_dir: Path, seed: int = 0, quick: bool = False) -> None:
    """(Re)write ``MODEL_CARD.md`` from the folder's ``train_log.json`` and ``quality.json`` (no sampling; the
    card is outside the manifest) with the task's calibration section."""
    out_dir = Path(out_dir)
    logs = json.loads((out_dir / "train_log.json").read_text())
    quality = json.loads((out_dir / "quality.json").read_text())
    weak = {g: logs[g]["weak_step"] for g, f in WEAK.items() if (out_dir / f"{f}.pt").exists() and g in logs}
    (out_dir / "MODEL_CARD.md").write_text(render(logs, quality, seed, quick, weak))
    write_card_section("images", out_dir / "MODEL_CARD.md")
