"""Progress of long loops on stderr: a bar on a terminal, periodic lines in logs (batch jobs, CI)."""
from __future__ import annotations

import sys
import time

PROGRESS_EVERY_S = 10.0  # seconds between progress lines when stderr is not a terminal


def progress(enabled: bool):
    """Progress on stderr: a tqdm bar on a terminal, else a line every ``PROGRESS_EVERY_S`` seconds (logs of
    batch jobs show the run moving); nothing when disabled."""
    def wrap(it, desc=""):
        if not enabled:
            return it
        if sys.stderr.isatty():
            from tqdm import tqdm
            return tqdm(it, desc=desc, leave=False, file=sys.stderr)
        return _progress_lines(it, desc)
    return wrap


def _progress_lines(it, desc: str):
    """Yield from ``it``, printing ``desc: i/total (s)`` to stderr at most every ``PROGRESS_EVERY_S`` seconds."""
    total = f"/{len(it)}" if hasattr(it, "__len__") else ""
    t0 = last = time.monotonic()
    for i, x in enumerate(it):
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S:
            print(f"bench:   {desc or 'step'} {i}{total} ({now - t0:.0f} s)", file=sys.stderr, flush=True)
            last = now
        yield x
