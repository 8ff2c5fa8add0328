"""Number formatting shared by the markdown and HTML writers (one spelling of every value)."""
from __future__ import annotations

import math

from bench import stats

NA = "n/a"


def num(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}g}" if isinstance(v, (int, float)) and math.isfinite(v) else NA


def interval(iv: stats.Interval) -> str:
    """``mean [lo, hi]`` or ``mean [n/a]`` when there is no interval."""
    return f"{num(iv.mean)} [{num(iv.lo)}, {num(iv.hi)}]" if iv.has_interval else f"{num(iv.mean)} [{NA}]"


def size(iv: stats.Interval) -> str:
    """``n×seeds`` (samples per seed × seeds)."""
    return f"{iv.n}×{iv.seeds}"


def comparison(c: stats.Comparison | None) -> str:
    """``win +0.12 [0.05, 0.2]``; ``–`` for the reference itself."""
    if c is None:
        return "–"
    if c.outcome == NA:
        return f"{NA} ({c.seeds} matched seed" + ("s)" if c.seeds != 1 else ")")
    return f"{c.outcome} {c.diff:+.3g} [{num(c.lo, 3)}, {num(c.hi, 3)}]"


def pct(v: float) -> str:
    return f"{100 * v:.0f}%" if math.isfinite(v) else NA


def same_as(cell) -> str:
    """" (≡ none)" after a cell whose sized config ran as another method (``Cell.reduces_to``), else ""."""
    return f" (≡ {cell.reduces_to})" if cell.reduces_to else ""
