"""Quality numbers of the unguided DNA base model (beside the real-data reference) and ``weights/MODEL_CARD.md``."""
from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn as nn

from bench.calibrate import write_card_section
from bench.diffusion.training import masked_elbo_nll
from tasks.dna.data import CELL_TYPES, SEQ_LEN
from tasks.dna.evaluate import Reference
from tasks.dna.metrics import gc_content, kmer_correlation, mean_hamming, motif_count_correlation, wasserstein1
from tasks.dna.models import load_models
from tasks.dna.motifs import FACTORS, MotifScanner, factor_motifs

log = logging.getLogger(__name__)

DEFAULT_STEPS = 50
OBJECTIVES = ["hepg2", "k562", "mpra", "motif=HNF4A", "motif=GATA1"]


class Labelled(nn.Module):
    """The denoiser with a fixed cell-type label (its conditional model), for the card's conditional samples."""

    def __init__(self, net: nn.Module, label: int) -> None:
        super().__init__()
        self.net, self.label = net, label

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        lab = torch.full((x.shape[0],), self.label, dtype=torch.long, device=x.device)  # (B,)
        return self.net(x, t, lab)  # (B, L, V)


def _sample(net: nn.Module, n: int, steps: int, seed: int) -> torch.Tensor:
    from bench.diffusion.ancestral import sample_unguided
    from bench.diffusion.masked import MaskedFamily

    with torch.inference_mode():
        return sample_unguided(MaskedFamily(net, SEQ_LEN, 4), n, steps, seed, batch=256).cpu()  # (n, L)


def _classified(net: nn.Module, tokens: torch.Tensor) -> dict[str, float]:
    """Fraction of sequences a classifier assigns to each cell type."""
    with torch.inference_mode():
        pred = torch.cat([net(torch.nn.functional.one_hot(t, 4).float()).argmax(-1) for t in tokens.split(1024)])
    return {c: float((pred == i).double().mean()) for i, c in enumerate(CELL_TYPES)}


def set_quality(x: torch.Tensor, ref: Reference, models, factors: MotifScanner) -> dict:
    """Every unguided quality number of a token set ``x`` against the held-out real sequences."""
    return {"kmer3_corr": kmer_correlation(x, ref.heldout), "gc_mean": float(gc_content(x).mean()),
            "gc_sd": float(gc_content(x).std()), "gc_w1": wasserstein1(gc_content(x), gc_content(ref.heldout)),
            "motif_corr": motif_count_correlation(x, ref.heldout, ref.scanner),
            "diversity": mean_hamming(x[:1000]),
            "nll_per_base": float(masked_elbo_nll(models.denoiser, x, 4).mean()) / SEQ_LEN,
            "factor_hit_rate": dict(zip(factors.names, (factors.hit_counts(x) > 0).double().mean(0).tolist())),
            "mpra_mean": float(ref.mpra(x).mean()),
            "oracle_view": _classified(models.oracle, x), "proxy_view": _classified(models.proxy, x)}


def quality_report(folder: Path, n: int = 1000, steps: int = DEFAULT_STEPS, seed: int = 0, quick: bool = False,
                   device: str = "cpu") -> dict:
    """n unguided samples (on ``device``) and n per cell-type label, measured beside held-out real data."""
    from tasks.dna.task import Dna

    models = load_models(folder).to("cpu")
    ref = Reference.build(subsample=2000 if quick else None)
    factors = MotifScanner.build(factor_motifs(list(FACTORS)))
    t0 = time.time()
    x = _sample(copy.deepcopy(models.denoiser).to(device), n, steps, seed)  # (n, L)
    out = {"n": n, "steps": steps, "seed": seed, "sample_wall_s": time.time() - t0,
           "samples": set_quality(x, ref, models, factors),
           "real_heldout": set_quality(ref.heldout[:n], ref, models, factors)}
    n_cond = max(8, n // 4)
    out["conditional"] = {c: _classified(models.oracle, _sample(Labelled(models.denoiser, i), n_cond, steps, seed))
                          for i, c in enumerate(CELL_TYPES)}
    out["n_conditional"] = n_cond
    task = Dna()
    task.__dict__["models"], task.__dict__["reference"] = models, ref
    out["objectives"] = {}
    for spec in OBJECTIVES:
        metrics, _ = task.evaluate(task.objective(spec), x, torch.zeros(n, dtype=torch.long))
        out["objectives"][spec] = {k: metrics[k] for k in ("oracle_median", "oracle_q90", "frac_above")}
    log.info("quality: %s", json.dumps(out["samples"])[:400])
    return out


def _row(name: str, q: dict) -> str:
    view = " / ".join(f"{q['oracle_view'][c]:.2f}" for c in CELL_TYPES)
    return (f"| {name} | {q['kmer3_corr']:.4f} | {q['gc_mean']:.3f} ± {q['gc_sd']:.3f} | {q['gc_w1']:.4f} | "
            f"{q['motif_corr']:.3f} | {q['nll_per_base']:.4f} | {q['diversity']:.3f} | {q['mpra_mean']:.2f} | "
            f"{view} |")


def write_card(folder: Path, info: dict) -> None:
    """Write MODEL_CARD.md from the pretraining info dict."""
    q, den, cls, mp = info["quality"], info["denoiser"], info["classifiers"], info["mpra_proxy"]
    hits = " | ".join(f"{k} {q['samples']['factor_hit_rate'][k]:.3f} ({q['real_heldout']['factor_hit_rate'][k]:.3f})"
                      for k in ("HNF4A", "HNF1A", "FOXA2", "CEBPA", "GATA1", "CTCF"))
    cond = "\n".join(f"| {c} | " + " | ".join(f"{v:.2f}" for v in q["conditional"][c].values()) + " |"
                     for c in CELL_TYPES)
    objs = "\n".join(f"| `{k}` | {v['oracle_median']:.3f} | {v['oracle_q90']:.3f} | {v['frac_above']:.3f} |"
                     for k, v in q["objectives"].items())
    r = den["recipe"]
    text = f"""# dna: model card

{"**QUICK SMOKE RUN: these weights are not the benchmark's.**" if info['quick'] else ""}
Generated by `tasks/dna/pretrain.py` (`bench pretrain --task dna`, seed {info['seed']}, quick={info['quick']}).
Every number below was measured by that run; `pretrain_info.json` holds them all.

## Data
47,872 cell-type-specific DNase I hypersensitive 200 bp sequences (hg38; GM12878, hESCT0, K562, HepG2, 11,968
each) from the `dnadiffusion` PyPI wheel, MIT licence as shipped; ENCODE data underneath. Origin, licence terms,
checks and the split anomaly: `tasks/dna/DATA_CARD.md`. Split (the file's labels, chromosome-disjoint):
{info['split']}. Halves A / B of train (seeded permutation) train the proxies and the oracle respectively.
**Accessibility, not MPRA activity**: `hepg2` measures how HepG2-specific a sequence's accessibility looks.

## Base model (`denoiser.pt`)
Masked discrete diffusion (MDLM, log-linear schedule, `bench.diffusion.training.masked_loss`) over A, C, G, T
([MASK] = 4), length 200. Residual dilated CNN {info['base_config']} with a cell-type label input (null label = 4,
label dropout {den['label_dropout']}; the benchmark samples the null label), **{den['params']:,} parameters**,
trained with `bench.train`: AdamW (wd {r['weight_decay']}), batch {r['batch']}, {r['steps']} steps, peak lr
{r['lr']}, warmup {r['warmup']}, cosine to {r['lr_floor']} x peak, EMA {r['ema']}, clip {r['clip']}, seed {r['seed']},
device {r['device']}. **Wall {den['wall_s'] / 60:.1f} min**; final train loss {den['final_loss']:.4f}, val ELBO
{den['val_loss']:.4f} nats/base. Curves (loss, val ELBO, probe 3-mer correlation against step): `training_curves.png`.

### Unguided quality ({q['n']} samples, {q['steps']} steps) beside held-out real sequences
| set | 3-mer corr | GC mean ± sd | GC W1 | JASPAR corr | NLL/base | diversity | mpra | oracle: GM/hESC/K562/HepG2 |
|---|---|---|---|---|---|---|---|---|
{_row("samples", q['samples'])}
{_row("held-out real", q['real_heldout'])}

Fraction with a hit, samples (real): {hits}. Sampling wall {q['sample_wall_s']:.1f} s.
Proxy view of the samples: {json.dumps({k: round(v, 3) for k, v in q['samples']['proxy_view'].items()})}.

### Conditional samples (label input; {q['n_conditional']} per label): oracle's view
| label | GM12878 | hESCT0 | K562 | HepG2 |
|---|---|---|---|---|
{cond}

### Unguided oracle metrics of the objectives (same samples)
| objective | oracle median | top decile | frac > real top 1% |
|---|---|---|---|
{objs}

## Reward models
| file | role | architecture | trained on | params | val acc | test acc |
|---|---|---|---|---|---|---|
| `cell_proxy.pt` | proxy + gradient proxy of `hepg2`/`k562` | CellCNN | half A ({cls['proxy']['n_train']}) \
| {cls['proxy']['params']:,} | {cls['proxy']['val_acc']:.3f} | {cls['proxy']['test_acc']:.3f} |
| `cell_oracle.pt` | oracle (scoring only) | PoolCNN, both strands | half B ({cls['oracle']['n_train']}) \
| {cls['oracle']['params']:,} | {cls['oracle']['val_acc']:.3f} | {cls['oracle']['test_acc']:.3f} |

4-way accuracy (chance 0.25). `mpra_proxy.pt`: CellCNN regressor of the synthetic activity, trained on y + noise
(sd {mp['noise_sd']:.3f}; y mean {mp['y_mean']:.3f}, sd {mp['y_sd']:.3f}) over train ({mp['n_train']}); test Pearson
{mp['test_pearson']:.3f}, MAE {mp['test_mae']:.3f}. The exact function is the `mpra` oracle.

Training wall (1 CPU thread each): denoiser {den['wall_s'] / 60:.1f} min, cell proxy {cls['proxy']['wall_s'] / 60:.1f}
min, cell oracle {cls['oracle']['wall_s'] / 60:.1f} min, mpra proxy {mp['wall_s'] / 60:.1f} min; the last
`bench pretrain` call (resuming finished models, then the quality report) took {info['total_wall_s'] / 60:.1f} min.
"""
    (Path(folder) / "MODEL_CARD.md").write_text(text)
    write_card_section("dna", Path(folder) / "MODEL_CARD.md")
