"""Headless matplotlib for every figure the suite writes (report curves, task sample figures), and the one
method -> colour map that every figure and page uses."""
from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

# Kelly's colours of maximum contrast, strongest first, then more of high contrast; `none` (the baseline) is near-black
PALETTE = ("#0067A5", "#BE0032", "#008856", "#F38400", "#875692", "#848482", "#E68FAC", "#882D17", "#8DB600",
           "#604E97", "#F6A600", "#B3446C", "#2B3D26", "#E25822", "#A1CAF1", "#C2B280", "#654522", "#F99379",
           "#DCD300", "#F3C300", "#00A693", "#5D3A9B", "#0F4C81", "#9E1A1A", "#6B8E23", "#D35FB7", "#3B3B98",
           "#B8860B")
BASELINE_COLOR = "#222222"
MARKERS = "osD^v<>pPhX*"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed); imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path, dpi: int = 110, title: str = "") -> Path:
    """Optional suptitle, tight layout, write ``path`` (parents created), close the figure; return the path.

    PNG metadata (matplotlib's Software tag) is dropped so that the same figure gives the same bytes."""
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Software": None} if path.suffix.lower() == ".png" else {}
    fig.savefig(path, dpi=dpi, metadata=meta)
    pyplot().close(fig)
    return path


@lru_cache(maxsize=1)
def _registered() -> tuple[str, ...]:
    from bench import registry
    return tuple(registry.methods().names())


def method_color(method: str) -> str:
    """A stable colour per method key (its position among the registered methods; a hash for others).

    A label with overrides (``smc[k=8]``) or a quality base (``smc on pag:3``) takes its method's colour."""
    base = method.split(" on ", 1)[0].split("[", 1)[0]
    if base == "none":
        return BASELINE_COLOR
    names = tuple(n for n in _registered() if n != "none")
    i = names.index(base) if base in names else zlib.crc32(base.encode())
    return PALETTE[i % len(PALETTE)]


def method_marker(method: str) -> str:
    """Markers tell variants (overrides) of one method apart; the plain method gets a circle."""
    if "[" not in method:
        return "o"
    return MARKERS[1 + zlib.crc32(method.encode()) % (len(MARKERS) - 1)]
