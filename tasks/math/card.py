"""Quality numbers of the unguided solver and the model card (``weights/MODEL_CARD.md``).

From a weights folder: one unguided sample per committed problem (300 per split) at the task's default steps ->
Acc_O / Acc_S / Acc_H with Wilson intervals, Gap_SH with a paired bootstrap, the shortcut rate, the proxy-hacking
rates of r_check and r_step, the per-family table; and ``PASS_K`` samples for each of the first ``PASS_PROBLEMS``
Hard problems -> oracle pass@k (r_exact) for k = 1, 4, 16, 32. Quick runs score a handful of problems.
Run directly: ``python3 -m tasks.math.card WEIGHTS_DIR [--quick]`` (writes ``quality.json`` and the card).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from tasks.math import instances, metrics, scoring
from tasks.math.models import load_denoiser
from tasks.math.sampling import elbo_nll, sample_prompts

log = logging.getLogger(__name__)

DEFAULT_STEPS = 48  # = MathTask.default_steps (T = the answer region, ~1 token per step)
PASS_K, PASS_PROBLEMS, PASS_KS = 32, 60, (1, 4, 16, 32)


def _rate(r: metrics.Rate) -> dict[str, float]:
    return {"value": r.value, "lo": r.lo, "hi": r.hi, "k": r.k, "n": r.n}


def quality_report(folder: Path, steps: int = DEFAULT_STEPS, seed: int = 0, quick: bool = False,
                   device: str = "cpu", per_split: int = 300, pass_problems: int = PASS_PROBLEMS) -> dict[str, Any]:
    """Unguided accuracy per split, shortcut / proxy-hacking rates, per-family table and Hard pass@k."""
    torch.set_num_threads(1)
    net = load_denoiser(folder, device)
    probs = instances.problems()
    if quick:
        per_split, pass_problems = 6, 6
    idx = torch.tensor(instances.subset(per_split))  # (3·per_split,)
    t0 = time.time()
    x0 = sample_prompts(net, instances.prompt_table()[idx], steps, seed)  # (n, L)
    res = scoring.score(x0, probs, idx)
    acc = metrics.split_accuracy(res)
    gap, lo, hi = metrics.paired_bootstrap_gap(res)
    out: dict[str, Any] = {
        "steps": steps, "seed": seed, "per_split": per_split, "params": sum(p.numel() for p in net.parameters()),
        "acc": {s: _rate(getattr(acc, s)) for s in ("original", "simple", "hard")},
        "gap_sh": {"value": gap, "lo": lo, "hi": hi}, "drop_h": acc.drop_h,
        "shortcut_rate": _rate(metrics.shortcut_rate(res)),
        "proxy_hacking": {p: _rate(metrics.proxy_hacking_rate(res, p)) for p in ("r_check", "r_step")},
        "by_family": {f: {s: getattr(a, s).value for s in ("original", "simple", "hard")}
                      for f, a in metrics.by_family(res).items()},
        "nll": float(elbo_nll(net, x0).mean()),
        "sample_wall_s": round(time.time() - t0, 1),
    }
    hard = torch.tensor([3 * k + 2 for k in range(pass_problems)])  # (m,) Hard instances, families balanced
    t0 = time.time()
    xs = sample_prompts(net, instances.prompt_table()[hard].repeat_interleave(PASS_K, 0), steps, seed + 1)
    pres = scoring.score(xs, probs, hard.repeat_interleave(PASS_K))
    out["pass_at_k_hard"] = {str(k): metrics.pass_at_k_split(pres, "hard", k) for k in PASS_KS}
    out["pass_problems"], out["pass_wall_s"] = pass_problems, round(time.time() - t0, 1)
    out["shortcut_rate_pass_samples"] = _rate(metrics.shortcut_rate(pres))
    log.info("quality: acc %s gap %.3f pass@32 %.3f", {s: round(v["value"], 3) for s, v in out["acc"].items()},
             gap, out["pass_at_k_hard"][str(PASS_K)])
    return out


def probe_lines(log_csv: Path, hard_exposure: object) -> list[str]:
    """One line per probe of a run's ``log.csv`` (step, val_loss, q_acc per split, Hard pass@k): the
    training-length calibration read off the probe on the held-out calibration set (``pretrain.accuracy_probe``)."""
    import csv

    at: dict[int, dict[str, float]] = {}
    with open(log_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["name"] == "val_loss" or r["name"].startswith("q_"):
                at.setdefault(int(r["step"]), {})[r["name"]] = float(r["value"])
    out = []
    for step, v in sorted(at.items()):
        accs = " / ".join(f"{v.get(f'q_acc_{s}', float('nan')):.3f}" for s in ("original", "simple", "hard"))
        passes = "".join(f", Hard {k[2:-5]} {x:.3f}" for k, x in v.items() if k.startswith("q_pass"))
        out.append(f"hard_exposure {hard_exposure}, step {step}: val_loss {v.get('val_loss', float('nan')):.3f}, "
                   f"probe Acc O / S / H {accs}{passes}")
    return out


def _fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def write_card(folder: Path, info: dict[str, Any]) -> Path:
    """``MODEL_CARD.md`` from the run's own ``info`` (pretrain_info.json)."""
    q, den = info["quality"], info["denoiser"]
    r = den["recipe"]
    lines = ["QUICK SMOKE RUN (a few steps; not a usable model)\n" if info.get("quick") else "",
             "# math (PerturbArith) solver: model card\n",
             f"MDLM denoiser `net.MathDenoiser` {den['base_config']}, {den['params']:,} parameters, L = 64 "
             f"(prompt width 16, never masked). Trained on the on-the-fly stream (`stream.TrainStream`, "
             f"hard_exposure {den['hard_exposure']}, skill_rate {den['skill_rate']}, seed {den['stream_seed']}) "
             f"with the prompt-conditioned masked ELBO (`bench.train.losses.masked_prompt`).\n",
             f"Recipe: AdamW (wd {r['weight_decay']}, betas {r['betas'][0]}/{r['betas'][1]}), batch {r['batch']}, "
             f"{r['steps']} steps planned" + (f", checkpoint fixed at step {den['fixed_at_step']} (EMA snapshot, "
             "chosen on the calibration set)" if den.get("fixed_at_step") else "") +
             f", lr {r['lr']} (warmup {r['warmup']}, cosine to {r['lr_floor']} x), EMA {r['ema']}, "
             f"clip {r['clip']}; device {info['device']}; training wall {den['wall_s']} s; final loss "
             f"{_fmt(den['final_loss'])}, val loss {_fmt(den['val_loss'])}; total wall {info.get('total_wall_s')} s.\n",
             f"## Unguided quality ({q['per_split']} problems per split, one sample each, {q['steps']} steps, "
             f"seed {q['seed']})\n", "| split | accuracy | 95% Wilson |", "|---|---|---|"]
    for s, a in q["acc"].items():
        lines.append(f"| {s} | {_fmt(a['value'])} ({a['k']}/{a['n']}) | [{_fmt(a['lo'])}, {_fmt(a['hi'])}] |")
    g = q["gap_sh"]
    lines += ["", f"- Gap_SH = Acc_S − Acc_H = {_fmt(g['value'])} (paired bootstrap 95% [{_fmt(g['lo'])}, "
              f"{_fmt(g['hi'])}]); Drop_H = {_fmt(q['drop_h'])}.",
              f"- Shortcut rate on Hard: {_fmt(q['shortcut_rate']['value'])}; proxy-hacking rate (wrong among "
              f"proxy = 1): r_check {_fmt(q['proxy_hacking']['r_check']['value'])}, r_step "
              f"{_fmt(q['proxy_hacking']['r_step']['value'])}.",
              f"- Naturalness: conditional ELBO NLL of the samples {_fmt(q['nll'])} nats.",
              f"- Oracle pass@k on Hard ({q['pass_problems']} problems × {PASS_K} samples): "
              + ", ".join(f"pass@{k} {_fmt(v)}" for k, v in q["pass_at_k_hard"].items()) + ".",
              "", "| family | original | simple | hard |", "|---|---|---|---|"]
    for f, a in q["by_family"].items():
        lines.append(f"| {f} | {_fmt(a['original'])} | {_fmt(a['simple'])} | {_fmt(a['hard'])} |")
    lines += ["", "Issue 13 targets: Acc_S − Acc_H >= 0.25 and oracle pass@32 on Hard >= 0.5.", ""]
    if info.get("value"):
        v = info["value"]
        lines += ["## Value net v_φ (objective `value`)", "",
                  f"`value.ValueNet` {v['config']}, {v['params']:,} parameters, trained on {v['rollouts']} base "
                  f"rollouts of fresh Original / Simple stream problems (never Hard, never a test problem), "
                  f"{v['steps']} steps; positive rate {_fmt(v['positive_rate'])}. Held-out rollouts "
                  f"({v['val_rows']}): accuracy {_fmt(v['val_acc'])}, ROC AUC {_fmt(v['val_auc'])}.", ""]
    if info.get("calibration"):
        lines += ["## Calibration: every measured configuration", ""]
    for extra in info.get("calibration", []):
        lines.append(f"- {extra}")
    path = Path(folder) / "MODEL_CARD.md"
    path.write_text("\n".join(lines).lstrip("\n") + "\n")
    return path


def main() -> None:
    """CLI: score a weights folder and rewrite its card from its pretrain_info.json."""
    ap = argparse.ArgumentParser(description="math model card")
    ap.add_argument("folder", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rewrite", action="store_true", help="keep the quality numbers; only rewrite the card")
    ap.add_argument("--log", type=Path, help="the run's train/denoiser/log.csv: its probes go to the card")
    ap.add_argument("--note", action="append", default=[], help="a calibration line for the card (repeatable)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    info_path = a.folder / "pretrain_info.json"
    info = json.loads(info_path.read_text())
    if not a.rewrite:
        info["quality"] = quality_report(a.folder, quick=a.quick)
    if a.log is not None or a.note:
        probes = probe_lines(a.log, info["denoiser"]["hard_exposure"]) if a.log is not None else []
        info["calibration"] = probes + a.note
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    from bench.weights import write_manifest

    write_manifest(a.folder)
    print(write_card(a.folder, info))


if __name__ == "__main__":
    main()
