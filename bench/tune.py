"""`bench tune`: TFG's hyperparameter search protocol (anchors.md §5), the same for every method.

A monotone coordinate-wise beam search: start every tunable knob at its (small) start value; each round, every
configuration in the beam spawns candidates that multiply ONE knob by its factor (capped at its maximum); each new
candidate runs on a development seed set with 1/8 of the final sample count and is ranked by the mean PROXY reward;
the top ``beam`` configurations survive. Every trial is written as a record; the best configuration is saved to
``tasks/<task>/tuned/<method>.yaml``, which `bench run` / `bench matrix` then use unless ``--set`` overrides it.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import yaml

from bench import registry
from bench.runner import Cell, build_task, execute
from bench.tuning import tuned_path

log = logging.getLogger("bench.tune")


class NoTrialSucceeded(RuntimeError):
    """Every trial of a search failed (error, budget or NaN proxy): nothing is saved."""


def candidates(cfg: dict[str, float], space: dict[str, tuple[float, float, float]]) -> list[dict[str, float]]:
    """Configs that multiply one knob of ``cfg`` by its factor, capped at its maximum (unchanged ones dropped)."""
    out = []
    for key, (_, factor, cap) in space.items():
        new = dict(cfg, **{key: min(cap, cfg[key] * factor)})
        if new[key] != cfg[key]:
            out.append(new)
    return out


def tune(task: str, method: str, objective: str | None, budget: str, n_final: int, seeds: list[int],
         rounds: int, beam: int, out: Path, device: str = "cpu") -> dict[str, Any]:
    """Run the search and save the winner; returns the saved document. Raises NoTrialSucceeded (and saves
    nothing) when no trial produced a finite proxy."""
    m = registry.methods().get(method)
    if not m.tunable:
        raise ValueError(f"method {m.key!r} declares no tunable hyperparameters")
    t = build_task(task, False, device)
    n_dev = max(1, n_final // 8)
    scores: dict[tuple, float] = {}

    def score(cfg: dict[str, float]) -> float:
        key = tuple(sorted(cfg.items()))
        if key not in scores:
            vals = []
            for seed in seeds:
                rec = execute(Cell(task=t.name, method=m.key, objective=objective, budget=budget, seed=seed,
                                   n=n_dev, overrides=cfg, device=device), out, show_progress=False, resume=False)
                proxy = rec["metrics"].get("proxy") if rec["status"] == "ok" else None
                ok = proxy is not None and math.isfinite(proxy)
                vals.append(proxy if ok else float("-inf"))  # failed trials (and NaN proxies) rank last
            scores[key] = sum(vals) / len(vals)
            log.info("trial %s -> proxy %.4g", cfg, scores[key])
        return scores[key]

    current = [{k: v[0] for k, v in m.tunable.items()}]
    score(current[0])
    for _ in range(rounds):
        new = [c for cfg in current for c in candidates(cfg, m.tunable) if tuple(sorted(c.items())) not in scores]
        if not new:
            break
        for c in new:
            score(c)
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        current = [dict(k) for k, _ in ranked[:beam]]
    best_key, best = max(scores.items(), key=lambda kv: kv[1])
    if not math.isfinite(best):
        raise NoTrialSucceeded(f"all {len(scores)} trials of {m.key} on {t.name} failed; nothing saved "
                               f"(trial records under {out / 'records'})")
    doc = {"task": t.name, "method": m.key, "objective": objective or t.default_objective, "budget": budget,
           "n_dev": n_dev, "seeds": seeds, "proxy": best, "config": dict(best_key),
           "trials": [{"config": dict(k), "proxy": v} for k, v in scores.items()]}
    path = tuned_path(t.name, m.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return {**doc, "path": str(path)}
