"""Headless matplotlib for every figure the suite writes (report curves, task sample figures), and the one
method -> colour map that every figure and page uses."""
from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

# tab20 reordered so that neighbours in the sorted method list differ in hue (dark/light pairs split apart)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5")
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

    A label with overrides (``smc[k=8]``) takes the colour of its base method."""
    base = method.split("[", 1)[0]
    names = _registered()
    i = names.index(base) if base in names else zlib.crc32(base.encode())
    return PALETTE[i % len(PALETTE)]


def method_marker(method: str) -> str:
    """Markers tell variants (overrides) of one method apart; the plain method gets a circle."""
    if "[" not in method:
        return "o"
    return MARKERS[1 + zlib.crc32(method.encode()) % (len(MARKERS) - 1)]
