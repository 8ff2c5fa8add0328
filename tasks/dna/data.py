"""The committed DHS sequence set: 2-bit packed 200 bp sequences with cell type, split and hg38 region.

Tokens: A, C, G, T = 0, 1, 2, 3 (so the complement of token b is 3 - b). Cell types in the source file's column
order: GM12878, hESCT0, K562, HepG2. Splits: train, validation (all chr2), test (all chr1).
Built by ``tasks.dna.build.build_dataset``; loading checks the file against the sha256 manifest.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from bench.weights import checked_path

DATA_DIR = Path(__file__).parent / "data"
SEQ_FILE = "sequences.npz"
SEQ_LEN = 200
ALPHABET = "ACGT"
CELL_TYPES = ("GM12878", "hESCT0", "K562", "HepG2")
SPLITS = ("train", "validation", "test")
CHROMS = tuple(f"chr{c}" for c in [*range(1, 23), "X", "Y"])


@dataclass(frozen=True)
class DnaSplit:
    """Token sequences of one split with their cell-type labels (indices into ``CELL_TYPES``)."""

    tokens: torch.Tensor  # (N, 200) int64 in 0..3
    cell: torch.Tensor  # (N,) int64 in 0..3


def encode(seqs: list[str]) -> np.ndarray:
    """Uppercase ACGT strings of equal length -> (N, L) uint8 tokens; raises on any other letter."""
    table = np.full(256, 255, dtype=np.uint8)
    for i, b in enumerate(ALPHABET):
        table[ord(b)] = i
    raw = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8)
    tok = table[raw].reshape(len(seqs), -1)  # (N, L)
    if (tok == 255).any():
        raise ValueError("sequence holds a letter other than A, C, G, T")
    return tok


def decode(tokens: np.ndarray | torch.Tensor) -> list[str]:
    """(N, L) tokens in 0..3 -> ACGT strings."""
    arr = np.asarray(tokens.cpu() if isinstance(tokens, torch.Tensor) else tokens, dtype=np.uint8)
    letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)[arr]  # (N, L)
    return [row.tobytes().decode("ascii") for row in letters]


def pack(tokens: np.ndarray) -> np.ndarray:
    """(N, L) tokens, L divisible by 4 -> (N, L/4) uint8, four bases per byte, first base in the high bits."""
    t = tokens.astype(np.uint8).reshape(tokens.shape[0], -1, 4)  # (N, L/4, 4)
    return (t[..., 0] << 6) | (t[..., 1] << 4) | (t[..., 2] << 2) | t[..., 3]


def unpack(packed: np.ndarray) -> np.ndarray:
    """Inverse of ``pack``: (N, L/4) uint8 -> (N, L) uint8 tokens."""
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8)
    return ((packed[..., None] >> shifts) & 3).reshape(packed.shape[0], -1)  # (N, L)


@lru_cache(maxsize=2)
def _arrays(folder: str) -> dict[str, np.ndarray]:
    """All arrays of the checked npz, sequences unpacked."""
    with np.load(checked_path(Path(folder), SEQ_FILE)) as d:
        out = {k: d[k] for k in d.files}
    out["tokens"] = unpack(out.pop("packed"))
    return out


def load_labelled(split: str, cell_type: str | None = None, folder: Path = DATA_DIR) -> DnaSplit:
    """Sequences and cell-type labels of ``split`` (train / validation / test), optionally of one cell type."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    a = _arrays(str(folder))
    keep = a["split"] == SPLITS.index(split)
    if cell_type is not None:
        if cell_type not in CELL_TYPES:
            raise ValueError(f"unknown cell type {cell_type!r}; expected one of {CELL_TYPES}")
        keep &= a["cell"] == CELL_TYPES.index(cell_type)
    return DnaSplit(torch.from_numpy(a["tokens"][keep].astype(np.int64)),
                    torch.from_numpy(a["cell"][keep].astype(np.int64)))


def load_split(split: str, cell_type: str | None = None, folder: Path = DATA_DIR) -> torch.Tensor:
    """(N, 200) int64 tokens (A, C, G, T = 0..3) of ``split``, optionally of one cell type, in file order."""
    return load_labelled(split, cell_type, folder).tokens
