"""QM9 SMILES data: character vocabulary, fixed-length encoding with PAD, and the deterministic splits.

Tokens are the characters of RDKit-canonical, non-isomeric SMILES plus a real ``PAD`` token, so every sequence
has the fixed length ``LENGTH``. A sequence decodes to a SMILES only if its PAD tokens form a contiguous suffix
(PAD in the middle makes the sample invalid). The [MASK] id of the masked family is ``V = len(VOCAB)``.

QM9 itself (``qm9pack``) is needed only for pretraining; it is imported inside :func:`load_qm9`.
"""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

PAD = "_"
CHARS = "CNOFcno()=#123456[]H+-"
VOCAB: list[str] = [PAD] + list(CHARS)  # index 0 is PAD
STOI = {c: i for i, c in enumerate(VOCAB)}
V = len(VOCAB)  # 23 real tokens; [MASK] = V
MASK_ID = V
PAD_ID = 0
LENGTH = 32
SPLIT_SEED = 0
# the committed weights; setting GUIDEBENCH_MOLECULES_WEIGHTS names another folder (the convention of bench.weights)
WEIGHTS_DIR = Path(os.environ.get("GUIDEBENCH_MOLECULES_WEIGHTS") or Path(__file__).resolve().parent / "weights")


def canonical(smiles: str) -> str | None:
    """RDKit canonical non-isomeric SMILES, or None if RDKit cannot parse it."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)


def encode(smiles: list[str], length: int = LENGTH) -> torch.Tensor:
    """(N, length) long token ids; raises ValueError for unknown characters or too-long strings."""
    out = torch.full((len(smiles), length), PAD_ID, dtype=torch.long)  # (N, L)
    for i, s in enumerate(smiles):
        if len(s) > length:
            raise ValueError(f"SMILES longer than {length}: {s}")
        out[i, : len(s)] = torch.tensor([STOI[c] for c in s], dtype=torch.long)
    return out


def decode_tokens(x0: torch.Tensor) -> list[str | None]:
    """Strings for (N, L) ids; None where PAD is not a suffix, the string is empty or an id is out of range."""
    rows = x0.detach().to("cpu", torch.long).numpy()
    out: list[str | None] = []
    for row in rows:
        if (row < 0).any() or (row >= V).any():
            out.append(None)
            continue
        pads = np.nonzero(row == PAD_ID)[0]
        n = int(pads[0]) if len(pads) else len(row)
        if n == 0 or (row[n:] != PAD_ID).any():
            out.append(None)
            continue
        out.append("".join(VOCAB[i] for i in row[:n]))
    return out


def load_qm9() -> "pandas.DataFrame":  # noqa: F821
    """All QM9 molecules from qm9pack: columns ``smiles`` (canonical), ``gap`` (HOMO-LUMO gap, hartree)."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pretraining needs qm9pack: pip install qm9pack==1.0.3")
    folder = Path(spec.submodule_search_locations[0]) / "data"
    cols = ["Index", "SMILES", "HOMO_LUMO_gap_au"]
    df = pd.concat([pd.read_csv(folder / f"qm9_part{i}.csv", usecols=cols) for i in (1, 2, 3)], ignore_index=True)
    df = df.sort_values("Index").reset_index(drop=True)
    df["smiles"] = [canonical(s) for s in df["SMILES"]]
    df = df.rename(columns={"HOMO_LUMO_gap_au": "gap"})
    keep = df["smiles"].notna() & (df["smiles"].str.len() <= LENGTH)
    log.info("QM9: %d molecules, %d kept (parsable, length <= %d)", len(df), int(keep.sum()), LENGTH)
    return df.loc[keep, ["Index", "smiles", "gap"]].reset_index(drop=True)


def splits(n: int, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Deterministic index split: train 80% (itself halved into ``half_a``/``half_b``), val 10%, test 10%."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = n_val = n // 10
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return {"train": train, "val": val, "test": test,
            "half_a": train[: len(train) // 2], "half_b": train[len(train) // 2:]}


def write_smiles_gz(path: Path, smiles: list[str]) -> None:
    """Write one SMILES per line, gzip-compressed with a fixed mtime (reproducible bytes)."""
    data = ("\n".join(smiles) + "\n").encode()
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(data)


def read_smiles_gz(path: Path) -> list[str]:
    """Read a file written by :func:`write_smiles_gz`."""
    with gzip.open(path, "rt") as f:
        return [line for line in f.read().splitlines() if line]
