"""The task's instances: the committed problems in a fixed interleaved order, and their prompt table.

Instance i is split ``SPLITS[i % 3]`` of paired problem k = i // 3, and problem k is row j = k // 6 of family
k % 6 (every split file lists 6 families × 50 in the same order). So any n that is a multiple of 18 covers the
three splits and six families evenly, and instances 3k, 3k+1, 3k+2 are the Original / Simple / Hard variants of
one ``problem_id`` (a paired design at every n). The full set is 900 instances (3 × 300).
"""
from __future__ import annotations

from functools import lru_cache

import torch

from tasks.math import tokens
from tasks.math.records import SPLITS, Problem, load_split

N_FAMILIES = 6
CAL_SEED, CAL_PER_FAMILY = 101, 30


def interleave(files: list[list[Problem]] | tuple[list[Problem], ...]) -> tuple[Problem, ...]:
    """Three paired split lists (Original, Simple, Hard; 6 families × m each, family-major) in instance order."""
    per_family = len(files[0]) // N_FAMILIES
    out = []
    for k in range(len(files[0])):
        row = (k % N_FAMILIES) * per_family + k // N_FAMILIES
        ids = {f[row].problem_id for f in files}
        if len(ids) != 1:
            raise ValueError(f"split files are not paired at row {row}: {sorted(ids)}")
        out.extend(f[row] for f in files)
    return tuple(out)


@lru_cache(maxsize=1)
def problems() -> tuple[Problem, ...]:
    """Every committed problem in instance order (900)."""
    return interleave([load_split(s) for s in SPLITS])


@lru_cache(maxsize=4)
def calibration_problems(per_family: int = CAL_PER_FAMILY, seed: int = CAL_SEED) -> tuple[Problem, ...]:
    """A held-out calibration set: up to ``per_family`` paired triples per family drawn like the committed
    splits from another seed, as (Original, Simple, Hard) runs; never scored as a result. Training length and
    ``hard_exposure`` are chosen on it, so calibration never looks at the committed splits. Triples sharing a
    text with a committed split are dropped (SUM's problem space is small, so it keeps fewer)."""
    from tasks.math.generator import generate_splits

    test = generate_splits().texts()
    s = generate_splits(seed, per_family)
    out: list[Problem] = []
    for o, si, h in zip(s.original, s.simple, s.hard):
        if not {o.problem, si.problem, h.problem} & test:
            out.extend((o, si, h))
    return tuple(out)


def prompt_ids(items: list[Problem] | tuple[Problem, ...]) -> torch.Tensor:
    """(N, L) long prompt table of ``items``: the prompt ids on [0, P), −1 on the free answer region."""
    x = tokens.encode_batch([p.problem for p in items])  # (N, L), answer region = MASK_ID
    return torch.where(x == tokens.MASK_ID, torch.full_like(x, -1), x)


@lru_cache(maxsize=1)
def prompt_table() -> torch.Tensor:
    """(900, L) prompt table of every instance (−1 where free)."""
    return prompt_ids(problems())


def subset(per_split: int) -> list[int]:
    """The first ``per_split`` problems of each split as instance indices (families balanced): (3·per_split,)."""
    return list(range(3 * per_split))
