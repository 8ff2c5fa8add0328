"""Strict CLI input: every argument is checked (and normalised) before any work starts.

Each checker raises ``InputError`` (a ValueError; the CLI prints it and exits 2) whose message names the argument,
the value given and the accepted form. The argparse-level checkers (``budget``, ``budgets``, ``seeds``,
``positive_int``, ``shard``, ``device``) are wrapped by ``arg_type`` so that argparse reports them like its own
errors; ``overrides`` types ``--set`` values by the method's config fields and their declared ``Method.bounds``.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Callable

from bench.method import POSITIVE_INT, Bound


class InputError(ValueError):
    """A command-line value that is not of its accepted form (the message says which form)."""


def arg_type(fn: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """``fn`` as an argparse ``type=``: InputError becomes argparse's own error (usage, message, exit 2)."""
    def parse(text: str) -> Any:
        try:
            return fn(text)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parse.__name__ = name
    return parse


_BUDGET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[xX]?\s*$")


def budget(text: str) -> str:
    """The canonical budget name: ``4x``, ``4X``, `` 4x``, ``4``, ``4.0x`` -> ``4x``; ``1.5x`` stays ``1.5x``.
    A budget is a finite multiple >= 1 of unguided sampling."""
    m = _BUDGET_RE.match(str(text))
    value = float(m.group(1)) if m else math.nan
    if not m or not math.isfinite(value) or value < 1:
        raise InputError(f"budget {text!r}: expected a number >= 1 followed by x (1x = unguided sampling), "
                         "e.g. 1x, 4x, 16x, 2.5x")
    return f"{value:f}".rstrip("0").rstrip(".") + "x"


def budgets(text: str) -> list[str]:
    """A comma list of budgets, each normalised (``1x,4X`` -> ['1x', '4x']); empty items and repeats rejected."""
    items = [budget(part) for part in str(text).split(",")]
    return _unique(items, "budget", text)


def _unique(items: list, what: str, text: str) -> list:
    dup = sorted({str(x) for x in items if items.count(x) > 1})
    if dup:
        raise InputError(f"{what}s {text!r}: {', '.join(dup)} listed twice")
    return items


_SEED_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def seeds(text: str) -> list[int]:
    """``0-2`` -> [0, 1, 2]; ``0,3`` -> [0, 3]; ranges ascending, seeds non-negative, no repeats, not empty."""
    out: list[int] = []
    for part in str(text).split(","):
        m = _SEED_RE.match(part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise InputError(f"seeds {text!r}: expected non-negative integers and ascending ranges, comma "
                             "separated, e.g. 0, 0-2, 0,3,5-7")
        lo, hi = int(m.group(1)), m.group(2)
        out.extend(range(lo, int(hi) + 1) if hi is not None else [lo])
    return _unique(out, "seed", text)


def positive_int(text: str) -> int:
    """A decimal integer >= 1."""
    t = str(text).strip()
    if not re.fullmatch(r"\+?\d+", t) or int(t) < 1:
        raise InputError(f"{text!r}: expected a positive integer (1, 2, ...)")
    return int(t)


def nonneg_int(text: str) -> int:
    """A decimal integer >= 0 (a seed)."""
    t = str(text).strip()
    if not re.fullmatch(r"\+?\d+", t):
        raise InputError(f"{text!r}: expected a non-negative integer (0, 1, ...)")
    return int(t)


def out_dir(text: str) -> Path:
    """An output folder: a path that is a folder or does not exist yet (never an existing file)."""
    path = Path(text)
    if not str(text).strip() or (path.exists() and not path.is_dir()) or "\x00" in str(text):
        raise InputError(f"--out {text!r}: expected a folder path (existing folder or a new one), not a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"--out {text!r}: {parent} is a file, not a folder")
            break
    return path


def shard(text: str) -> tuple[int, int]:
    """``i/N`` with 0 <= i < N -> (i, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not int(m.group(1)) < int(m.group(2)):
        raise InputError(f"shard {text!r}: expected i/N with 0 <= i < N, e.g. 0/4")
    return int(m.group(1)), int(m.group(2))


def device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:K``; CUDA must be available (and K < the device count) on this machine."""
    return device_available(device_form(text))


def device_form(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:K`` (lower-cased); availability not checked (a Ray driver may have no GPU)."""
    t = str(text).strip().lower()
    if not re.fullmatch(r"cpu|cuda(?::(\d+))?", t):
        raise InputError(f"device {text!r}: expected cpu, cuda or cuda:K (other torch devices are not supported)")
    return t


def device_available(t: str) -> str:
    """``t`` (a ``device_form``) when this machine has it; InputError naming what it has otherwise."""
    m = re.fullmatch(r"cpu|cuda(?::(\d+))?", t)
    if t.startswith("cuda"):
        import torch
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(m.group(1) or 0)
        if index >= count:
            raise InputError(f"device {t!r}: CUDA is not available on this machine ({count} CUDA devices; "
                             f"torch {torch.__version__}, built with CUDA {torch.version.cuda}); use --device cpu")
    return t


def nonneg_float(text: str) -> float:
    """A finite decimal number >= 0 (a resource request such as 0.5 GPUs)."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{text!r}: expected a number >= 0 (0, 0.5, 2, ...)")
    return value


def eta(text: str) -> float:
    """A sampler stochasticity η in [0, 1] (0: deterministic DDIM / probability-flow ODE; 1: DDPM / SDE)."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{text!r}: expected a number in [0, 1] (0 = deterministic ODE/DDIM, 1 = DDPM/SDE)")
    return value


def address(text: str) -> str:
    """A Ray cluster address: ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``."""
    t = str(text).strip()
    if t != "auto" and not re.fullmatch(r"(ray://)?[A-Za-z0-9_.\-]+:\d{1,5}", t):
        raise InputError(f"--address {text!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    return t


def executor_flags(args: argparse.Namespace) -> None:
    """The executor flags of ``bench matrix`` fit together, and the device exists where cells will run."""
    if args.executor != "ray":
        for flag, value in (("--address", args.address), ("--cpus-per-cell", args.cpus_per_cell),
                            ("--gpus-per-cell", args.gpus_per_cell or None)):
            if value is not None:
                raise InputError(f"{flag} is a Ray setting; add --executor ray (local runs use --workers N)")
        device_available(args.device)
        return
    if args.workers > 1:
        raise InputError("--workers sizes the local pool; with --executor ray the cluster's resources set the "
                         "parallelism (--cpus-per-cell C, --gpus-per-cell G)")
    if args.cpus_per_cell == 0:
        raise InputError("--cpus-per-cell 0: each cell needs at least a fraction of a CPU (e.g. 1)")
    if args.device.startswith("cuda") and not args.gpus_per_cell:
        raise InputError("--device cuda with --executor ray needs --gpus-per-cell G > 0, so that Ray places each "
                         "cell on a GPU")


def names(text: str, reg: Any) -> list[str]:
    """``all`` or a comma list of registry names (aliases resolved, UnknownName for any unknown one)."""
    if str(text).strip() == "all":
        return reg.names()
    items = [x.strip() for x in str(text).split(",")]
    if not all(items):
        raise InputError(f"{reg.kind}s {text!r}: expected 'all' or comma-separated names (no empty items)")
    return _unique([reg.resolve(x) for x in items], reg.kind, text)


# --set ---------------------------------------------------------------------------------------------------------

_NONE = {"none", "null", "~"}
_TRUE, _FALSE = {"true", "yes", "on"}, {"false", "no", "off"}


def field_specs(method: Any) -> dict[str, tuple[type, bool, Bound | None, Any]]:
    """name -> (base type, None allowed, bound, default) of a method's config fields; int fields default to
    ``POSITIVE_INT`` and float fields to finite values unless ``method.bounds`` declares otherwise."""
    hints = typing.get_type_hints(method.Config)
    out = {}
    for f in dataclasses.fields(method.Config):
        tp, optional = _unwrap(hints[f.name])
        bound = method.bounds.get(f.name, POSITIVE_INT if tp is int else None)
        out[f.name] = (tp, optional, bound, f.default)
    return out


def _unwrap(tp: Any) -> tuple[type, bool]:
    """(base type, Optional?) of ``X`` or ``X | None``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def type_name(tp: type, optional: bool) -> str:
    """``int``, ``float | None``, ..."""
    return tp.__name__ + (" | None" if optional else "")


def coerce(method: Any, key: str, text: str) -> Any:
    """The ``--set key=text`` value typed by the config field of ``method`` and checked against its bound."""
    spec = field_specs(method)
    if key not in spec:
        raise InputError(f"--set {key}: not a config key of {method.key}; valid: {', '.join(spec)}")
    tp, optional, bound, _ = spec[key]
    form = type_name(tp, optional) + (f", {bound.describe()}" if bound else ", finite" if tp is float else "")
    t = text.strip()
    if optional and t.lower() in _NONE:
        return None
    value = _parse(tp, t)
    if value is None or (bound is not None and not bound.admits(value)):
        raise InputError(f"--set {key}={text}: {method.key}.{key} expects {form}"
                         + (" (or none)" if optional else ""))
    return value


def _parse(tp: type, t: str) -> Any:
    """``t`` as a value of ``tp`` (None when it is not one): ints in decimal, floats finite, bools by word."""
    if tp is bool:
        return True if t.lower() in _TRUE else False if t.lower() in _FALSE else None
    if tp is int:
        return int(t) if re.fullmatch(r"[+-]?\d+", t) else None
    if tp is float:
        try:
            value = float(t)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    if tp is str:
        return t or None
    raise InputError(f"config fields of type {tp} cannot be set from the command line")


def normalise(method: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Already-typed overrides (Python API, tuned configs) with integers given to float fields made floats, so that
    ``lam=2`` and ``lam=2.0`` are one config (one hash) however the cell was built; nothing else is changed."""
    spec = field_specs(method)
    return {k: float(v) if k in spec and spec[k][0] is float and type(v) is int else v for k, v in values.items()}


def split_sets(items: list[str]) -> dict[str, str]:
    """``['k=8', 'lam=2']`` -> {'k': '8', 'lam': '2'} (raw text); a key given twice is rejected."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
            raise InputError(f"--set {item!r}: expected KEY=VALUE with KEY a config field name, e.g. --set k=8")
        if key in out:
            raise InputError(f"--set {key}: given twice")
        out[key] = value
    return out


def overrides(items: list[str], methods: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Method key -> typed overrides. Every key must be a config field of every selected method (a key some of
    them lack is rejected with the methods that have it: select those with --methods)."""
    raw = split_sets(items)
    out: dict[str, dict[str, Any]] = {key: {} for key in methods}
    for k, text in raw.items():
        lacking = [key for key, m in methods.items() if k not in field_specs(m)]
        if lacking and len(methods) > 1:
            having = [key for key in methods if key not in lacking] or ["none of them"]
            raise InputError(f"--set {k}: not a config key of {', '.join(lacking)} (it is one of "
                             f"{', '.join(having)}); restrict --methods to methods that have it")
        for key, m in methods.items():
            out[key][k] = coerce(m, k, text)
    return out


def objectives(specs: list[str], task_objectives: dict[str, list[str]], accepts: Callable) -> None:
    """Every ``--objectives`` spec is taken by at least one selected task (``task_objectives``: task -> its
    objective names and patterns; tasks whose class cannot load are left out and take any spec)."""
    for spec in specs:
        if not spec:
            raise InputError("--objectives: empty item; expected comma-separated objective names")
        if task_objectives and not any(accepts(spec, objs) for objs in task_objectives.values()):
            known = "; ".join(f"{t}: {' '.join(o)}" for t, o in task_objectives.items())
            raise InputError(f"objective {spec!r} is taken by none of the selected tasks ({known})")


def base(text: str) -> str:
    """A quality-guided base (``bench.quality.parse_base``): returns its canonical spelling; InputError otherwise."""
    from bench.quality import parse_base
    try:
        return parse_base(text).label()
    except ValueError as err:
        raise InputError(str(err)) from None
