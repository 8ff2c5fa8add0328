"""Calibration of the compute axis: the prices of a backward pass and of a reward call in forward-equivalents.

For one task, at its default batch (``default_n`` rows), with one thread, after warm-up, as the median over
``repeats`` of ratios timed back to back with a plain forward (so a loaded machine slows both sides alike; the
quartiles of the ratios are written beside each constant):
    t_f   = one forward of the family's network (no grad), at a mid-trajectory timestep
    t_fb  = one forward with grad (continuous: on x_t; discrete: on one-hot(x_t), the TAG path) + its VJP
    c_b   = (t_fb − t_f) / t_f                                    (what a counted backward adds to its forward)
    c_r   = t(proxy reward on the batch) / t_f                    per objective, on unguided clean samples
    c_rg  = t(differentiable proxy with grad + its VJP to the input) / t_f   per objective that has one
Results go to ``tasks/<task>/calibration.json`` (committed). A run looks its objective up there (an objective
spec like ``rings=2`` falls back to the measured spec of the same pattern, ``rings=3``); a task or objective
without an entry, and every tiny variant (random miniature network), uses the defaults c_b = 2, c_r = c_rg = 1
with source "default".
"""
from __future__ import annotations

import datetime
import json
import logging
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from bench import registry
from bench.diffusion.ancestral import sample_unguided
from bench.meter import DEFAULT_CALIBRATION, Calibration
from bench.rng import Streams

log = logging.getLogger("bench.calibrate")
WARMUP = 2
CAL_STEPS = 8  # unguided steps used to draw the clean batch the rewards are timed on


def calibration_path(task_name: str) -> Path:
    """tasks/<task>/calibration.json next to the task's module."""
    import importlib
    module = importlib.import_module(registry.tasks().get(task_name).__module__)
    return Path(module.__file__).parent / "calibration.json"


def _read(task_name: str) -> dict[str, Any] | None:
    path = calibration_path(task_name)
    return json.loads(path.read_text()) if path.exists() else None


def load(task_name: str, objective: str, tiny: bool = False) -> Calibration:
    """The calibration of ``objective`` on ``task_name`` (defaults when none is committed, or for tiny)."""
    doc = None if tiny else _read(task_name)
    if doc is None:
        return DEFAULT_CALIBRATION
    objs = doc["objectives"]
    key = objective if objective in objs else next(
        (k for k in objs if "=" in k and k.split("=")[0] == objective.split("=")[0]), None)
    if key is None:
        return Calibration(c_b=float(doc["c_b"]), source="default")
    entry = objs[key]
    return Calibration(c_b=float(doc["c_b"]), c_r=float(entry["c_r"]),
                       c_rg=float(entry.get("c_rg") or DEFAULT_CALIBRATION.c_rg),
                       source=f"{calibration_path(task_name).parent.name}/calibration.json#{key}")


def card_lines(task_name: str) -> str:
    """Markdown lines for a model card: the committed constants (or the defaults) of ``task_name``."""
    doc = _read(task_name)
    if doc is None:
        return (f"Compute calibration: none committed; defaults c_b = {DEFAULT_CALIBRATION.c_b}, "
                f"c_r = c_rg = {DEFAULT_CALIBRATION.c_r} forward-equivalents.\n")
    lines = [f"Compute calibration (`bench calibrate`, {doc['date']}, batch {doc['batch']}, median of "
             f"{doc['repeats']} paired ratios, torch {doc['torch']}, {doc['machine']}): one forward = 1 "
             f"forward-equivalent ({doc['t_forward_s']:.3g} s per batch); backward c_b = {doc['c_b']:.3g}"
             f"{_quart(doc.get('c_b_quartiles'))}.",
             "",
             "| objective | c_r (proxy call) | c_rg (gradient proxy call) |", "|---|---|---|"]
    for name, e in doc["objectives"].items():
        rg = "—" if e.get("c_rg") is None else f"{e['c_rg']:.3g}"
        lines.append(f"| {name} | {e['c_r']:.3g}{_quart(e.get('c_r_quartiles'))} | {rg} |")
    return "\n".join(lines) + "\n"


CARD_BEGIN, CARD_END = "<!-- calibration: written by `bench calibrate` -->", "<!-- /calibration -->"


def write_card_section(task_name: str, card: Path | None = None) -> Path | None:
    """Put ``card_lines`` into the task's model card (``weights/MODEL_CARD.md`` beside the task, or ``card``)
    between markers, replacing an earlier section; None when the task has no card (analytic toys)."""
    card = card or calibration_path(task_name).parent / "weights" / "MODEL_CARD.md"
    if not card.exists():
        return None
    from bench.weights import put_card_section

    put_card_section(card, CARD_BEGIN, CARD_END,
                     f"{CARD_BEGIN}\n## Compute calibration\n\n{card_lines(task_name)}{CARD_END}\n")
    return card


def _quart(q: list[float] | None) -> str:
    return "" if not q else f" (quartiles {q[0]:.3g}–{q[1]:.3g})"


def _timer(fn: Callable[[], Any], min_s: float) -> Callable[[], float]:
    """After WARMUP untimed calls, a timer of one ``fn()`` (looped to last about ``min_s``: timer resolution)."""
    t0 = time.perf_counter()
    for _ in range(WARMUP):
        fn()
    inner = max(1, math.ceil(min_s / max((time.perf_counter() - t0) / WARMUP, 1e-9)))

    def timed() -> float:
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - t0) / inner
    return timed


def paired_ratio(fn: Callable[[], Any], ref: Callable[[], Any], repeats: int,
                 min_s: float = 0.05) -> tuple[float, float, list[float]]:
    """(median of t(fn)/t(ref), median t(ref), [quartile 1, quartile 3] of the ratios): each repeat times ``ref``
    and then ``fn`` back to back, so load from other processes hits both sides of a ratio alike."""
    time_fn, time_ref = _timer(fn, min_s), _timer(ref, min_s)
    pairs = [(time_ref(), time_fn()) for _ in range(repeats)]
    ratios = [b / a for a, b in pairs]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return statistics.median(ratios), statistics.median(a for a, _ in pairs), [q[0], q[-1]]


def _backward_fn(family, x: torch.Tensor, t) -> Callable[[], None]:
    """Forward with grad on the family's grad input (one-hot for masked families) and its VJP, as the gradient
    methods do."""
    def run() -> None:
        inp = family.grad_input(x).requires_grad_(True)
        with torch.enable_grad():
            out = family.soft_x0(family.denoise(inp, t))
            torch.autograd.grad(out.float().sum(), inp)
    return run


def _grad_reward_fn(reward, clean: torch.Tensor, inst: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        v = clean.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            r = reward(v, inst)
            if r.requires_grad:
                torch.autograd.grad(torch.nan_to_num(r).sum(), v)
    return run


def measure(task_name: str, objectives: list[str] | None = None, repeats: int = 7) -> dict[str, Any]:
    """Time the network and the rewards of ``task_name``; returns the calibration document."""
    torch.set_num_threads(1)
    task = registry.tasks().get(task_name)(tiny=False, device="cpu")
    family, n = task.build_family(), task.default_n
    owner = torch.arange(n)  # (n,)
    x = family.prior(Streams(0, range(n)), owner)  # (n, ...)
    t = family.timesteps(task.default_steps)[task.default_steps // 2][0]
    with torch.no_grad():
        clean = sample_unguided(family, n, CAL_STEPS, seed=0)  # (n, ...) clean samples to score
        soft = family.as_soft(clean)  # (n, ...) the clean samples in the gradient reward's input format

    @torch.no_grad()
    def forward() -> None:
        family.denoise(x, t)

    fb, t_f, fb_q = paired_ratio(_backward_fn(family, x, t), forward, repeats)
    doc: dict[str, Any] = {"task": task.name, "task_version": task.version, "batch": n, "repeats": repeats,
                           "threads": 1, "torch": torch.__version__, "machine": f"{platform.machine()} "
                           f"{platform.processor() or platform.node()}".strip(),
                           "date": datetime.date.today().isoformat(), "t_forward_s": t_f,
                           "c_b": max(0.0, fb - 1), "c_b_quartiles": [max(0.0, v - 1) for v in fb_q],
                           "objectives": {}}
    default = [o for o in type(task).objectives() if "<" not in o]
    for spec in objectives or sorted(set(default) | {task.default_objective}):
        obj = task.objective(spec)
        inst = torch.arange(n) % obj.n_instances  # (n,)
        c_r, _, r_q = paired_ratio(torch.no_grad()(lambda: obj.proxy(clean, inst)), forward, repeats)  # noqa: B023
        diff = obj.grad_proxy
        c_rg, _, rg_q = paired_ratio(_grad_reward_fn(diff, soft, inst), forward, repeats) if diff else (None,) * 3
        doc["objectives"][obj.name] = {"c_r": c_r, "c_rg": c_rg, "c_r_quartiles": r_q, "c_rg_quartiles": rg_q}
        log.info("%s/%s: c_r=%.3g c_rg=%s", task.name, obj.name, c_r, c_rg)
    return doc


def calibrate(task_name: str, objectives: list[str] | None = None, repeats: int = 7,
              out: Path | None = None) -> Path:
    """Measure and write the task's calibration file; returns its path. With ``objectives`` named and a file
    present, only those objectives' c_r / c_rg are measured (each a ratio to a forward timed in the same run) and
    merged into the file: the committed c_b and the other objectives stay, so their cells keep their widths."""
    doc = measure(task_name, objectives, repeats)
    path = out or calibration_path(task_name)
    if objectives and path.exists():
        old = json.loads(path.read_text())
        for entry in doc["objectives"].values():
            entry["date"] = doc["date"]
        old["objectives"] = {**old["objectives"], **doc["objectives"]}
        doc = old
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
