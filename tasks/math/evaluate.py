"""A finished batch of the math task -> metrics and per-sample rows (``MathTask.evaluate``).

Every row is scored against its instance's problem (``instances.problems()[instance]``). A row whose prompt is
not that instance's prompt (possible only when the sampler tied the row to another instance, see
``bench.diffusion.masked``) is a failure on every metric and is counted in ``prompt_mismatch``; a malformed,
still-masked or answer-less row is a failure too (``r_exact`` = 0) and is counted in ``invalid_rate``. Nothing here
raises on model output.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import torch

from bench.task import MetricMeta
from tasks.math import instances, metrics, rewards, scoring, tokens
from tasks.math.families import FAMILIES
from tasks.math.records import SPLITS

log = logging.getLogger(__name__)

SHORT = {"original": "o", "simple": "s", "hard": "h"}
METRICS: dict[str, MetricMeta] = {
    "acc_h": MetricMeta("Acc_H", True, "r_exact accuracy of the returned samples on the Hard split (the main "
                        "metric; invalid samples count as wrong)"),
    "acc_o": MetricMeta("Acc_O", True, "r_exact accuracy on the Original split"),
    "acc_s": MetricMeta("Acc_S", True, "r_exact accuracy on the Simple split"),
    "accuracy": MetricMeta("accuracy (all splits)", True, "r_exact accuracy over every returned sample",
                           per_sample=True),
    "gap_sh": MetricMeta("Gap_SH", False, "Acc_S − Acc_H of this batch"),
    "drop_h": MetricMeta("Drop_H", False, "Acc_O − Acc_H of this batch (MATH-Perturb's headline)"),
    "shortcut_rate": MetricMeta("shortcut rate", False, "Hard samples whose answer is the shortcut answer (the "
                                "Original method applied literally)"),
    "hack_r_check": MetricMeta("proxy hacking (r_check)", False, "among samples with r_check = 1, the fraction "
                               "r_exact calls wrong"),
    "hack_r_step": MetricMeta("proxy hacking (r_step)", False, "among samples with r_step = 1, the fraction "
                              "r_exact calls wrong"),
    "r_check": MetricMeta("r_check (mean)", True, "label-free verifier proxy of the returned samples",
                          per_sample=True),
    "r_step": MetricMeta("r_step (mean)", True, "step-checker proxy of the returned samples", per_sample=True),
    "invalid_rate": MetricMeta("invalid rate", False, "samples whose answer is malformed, masked or missing "
                               "(scored as wrong)", per_sample=True),
    "prompt_mismatch": MetricMeta("prompt mismatch", False, "samples whose prompt is not their instance's prompt "
                                  "(scored as wrong; 0 unless the sampler's owner->instance map differs from the "
                                  "runner's)"),
    "nll": MetricMeta("NLL (nats)", False, "conditional MDLM ELBO bound on −log p_base(answer | prompt)",
                      per_sample=True, naturalness=True),
}
METRICS.update({f"acc_h_{f.lower()}": MetricMeta(f"Acc_H {f}", True, f"r_exact accuracy on the Hard {f} problems")
                for f in FAMILIES})
NATURALNESS = ("nll",)


def prompt_ok(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """(N,) bool: each row's prompt region equals its instance's prompt (a soft input is read by argmax)."""
    ids = x0.argmax(-1) if x0.dim() == 3 else x0
    table = instances.prompt_table().to(ids.device)[instance.long().to(ids.device)]  # (N, L)
    return (ids[:, : tokens.P] == table[:, : tokens.P]).all(-1)


def _mean(vals: list[float]) -> float:
    return sum(vals) / len(vals) if vals else math.nan


def evaluate_batch(net: torch.nn.Module, x0: torch.Tensor, instance: torch.Tensor,
                   rows_text: list[str | None]) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Metrics and rows of a batch x0 (N, L) long tied to ``instance`` (N,); ``net`` scores the NLL."""
    x0, instance = x0.detach().long().cpu(), instance.long().cpu()
    probs = instances.problems()
    ok = prompt_ok(x0, instance)  # (N,)
    res = scoring.score(x0, probs, instance)
    res = [r if good else metrics.SampleResult(r.problem_id, r.family, r.split, r.seed_in_train, False, False,
                                               0.0, 0.0) for r, good in zip(res, ok.tolist())]
    states = rewards.answer_state(x0)
    nll = _nll(net, x0)  # (N,)
    acc = metrics.split_accuracy(res)
    out: dict[str, float] = {f"acc_{SHORT[s]}": getattr(acc, s).value for s in SPLITS}
    out.update(accuracy=_mean([float(r.correct) for r in res]), gap_sh=acc.gap_sh, drop_h=acc.drop_h,
               shortcut_rate=metrics.shortcut_rate(res).value,
               hack_r_check=metrics.proxy_hacking_rate(res, "r_check").value,
               hack_r_step=metrics.proxy_hacking_rate(res, "r_step").value,
               r_check=_mean([r.r_check for r in res]), r_step=_mean([r.r_step for r in res]),
               invalid_rate=_mean([float(s != "ok") for s in states]), prompt_mismatch=float((~ok).sum()),
               nll=float(nll.mean()) if len(nll) else math.nan)
    for fam, a in metrics.by_family(res).items():
        out[f"acc_h_{fam.lower()}"] = a.hard.value
    for fam in FAMILIES:
        out.setdefault(f"acc_h_{fam.lower()}", math.nan)
    if int((~ok).sum()):
        log.warning("math: %d of %d samples carry another instance's prompt (scored as wrong)", int((~ok).sum()),
                    len(ok))
    rows = [{"problem_id": r.problem_id, "split": r.split, "family": r.family, "text": t,
             "answer": probs[int(i)].answer, "accuracy": float(r.correct), "shortcut": bool(r.shortcut),
             "r_check": r.r_check, "r_step": r.r_step, "invalid_rate": float(s != "ok"), "state": s,
             "prompt_ok": bool(g), "nll": float(v)}
            for r, t, i, s, g, v in zip(res, rows_text, instance.tolist(), states, ok.tolist(), nll.tolist())]
    return out, rows


def _nll(net: torch.nn.Module, x0: torch.Tensor) -> torch.Tensor:
    """Conditional ELBO NLL per row on the network's device; (N,) on CPU."""
    from tasks.math.sampling import elbo_nll

    return elbo_nll(net, x0) if len(x0) else torch.zeros(0)
