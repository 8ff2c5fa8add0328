"""RDKit-based properties, fingerprints and set metrics. RDKit is imported inside every function.

Every function takes SMILES strings (None or "" for an invalid sample) and returns NaN / False for samples RDKit
cannot parse, so nothing raises mid-run. Property definitions follow the TreeG protocol: ring count is
``rdMolDescriptors.CalcNumRings``, logP is Crippen ``MolLogP`` (includeHs=True), QED is ``QED.qed`` and SA is the
RDKit Contrib ``sascorer.calculateScore``.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)
PROPS = ("rings", "logp", "qed", "sa")


def to_mol(smiles: str | None) -> Any:
    """RDKit Mol or None (RDKit's parse warnings silenced)."""
    from rdkit import Chem, RDLogger

    if not smiles:
        return None
    RDLogger.DisableLog("rdApp.*")
    return Chem.MolFromSmiles(smiles)


def _sascorer() -> Any:
    from rdkit.Chem import RDConfig

    path = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if path not in sys.path:
        sys.path.append(path)
    import sascorer  # type: ignore[import-not-found]

    return sascorer


def prop_fn(name: str) -> Callable[[Any], float]:
    """The RDKit function Mol -> float for property ``name`` in PROPS."""
    from rdkit.Chem import QED, Crippen, rdMolDescriptors

    if name == "rings":
        return lambda m: float(rdMolDescriptors.CalcNumRings(m))
    if name == "logp":
        return lambda m: float(Crippen.MolLogP(m, includeHs=True))
    if name == "qed":
        return lambda m: float(QED.qed(m))
    if name == "sa":
        scorer = _sascorer()
        return lambda m: float(scorer.calculateScore(m))
    raise ValueError(f"unknown property {name!r}; choose from {PROPS}")


def properties(smiles: Sequence[str | None], name: str) -> np.ndarray:
    """(N,) float64 property values; NaN where the SMILES is invalid."""
    fn = prop_fn(name)
    out = np.full(len(smiles), np.nan)
    for i, s in enumerate(smiles):
        mol = to_mol(s)
        if mol is not None:
            out[i] = fn(mol)
    return out


def canonical_or_none(smiles: Sequence[str | None]) -> list[str | None]:
    """RDKit canonical non-isomeric SMILES per input, None where invalid."""
    from rdkit import Chem

    out: list[str | None] = []
    for s in smiles:
        mol = to_mol(s)
        out.append(None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False))
    return out


def morgan_bits(smiles: Sequence[str | None], radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """(N, n_bits) float32 Morgan bit vectors; zero rows for invalid SMILES."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=np.float32)
    for i, s in enumerate(smiles):
        mol = to_mol(s)
        if mol is not None:
            out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


def count_features(smiles: Sequence[str | None], n_each: int = 1024) -> np.ndarray:
    """(N, 2*n_each) float32 log1p of Morgan radius-3 counts and atom-pair counts; zero rows for invalid SMILES."""
    from rdkit.Chem import rdFingerprintGenerator

    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=3, fpSize=n_each)
    pairs = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=n_each)
    out = np.zeros((len(smiles), 2 * n_each), dtype=np.float32)
    for i, s in enumerate(smiles):
        mol = to_mol(s)
        if mol is not None:
            out[i, :n_each] = morgan.GetCountFingerprintAsNumPy(mol)
            out[i, n_each:] = pairs.GetCountFingerprintAsNumPy(mol)
    return np.log1p(out)


def internal_diversity(smiles: Sequence[str | None]) -> float:
    """1 - mean pairwise Tanimoto (Morgan r=2, 2048 bits) over distinct pairs of valid samples; NaN if < 2 valid."""
    from rdkit import DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(m) for m in (to_mol(s) for s in smiles) if m is not None]
    if len(fps) < 2:
        return float("nan")
    sims = [DataStructs.BulkTanimotoSimilarity(fps[i], fps[i + 1:]) for i in range(len(fps) - 1)]
    return float(1.0 - np.mean(np.concatenate([np.asarray(s) for s in sims])))


def set_metrics(smiles: Sequence[str | None], train: set[str]) -> dict[str, float]:
    """validity (valid/N), uniqueness (unique valid/valid), novelty (unique valid not in train / unique valid)."""
    can = canonical_or_none(smiles)
    valid = [c for c in can if c is not None]
    uniq = set(valid)
    n = max(len(smiles), 1)
    return {
        "validity": len(valid) / n,
        "uniqueness": len(uniq) / len(valid) if valid else float("nan"),
        "novelty": len(uniq - train) / len(uniq) if uniq else float("nan"),
        "n_valid": float(len(valid)),
    }


def set_quality(smiles: Sequence[str | None], train: set[str], fcd: Any = None) -> dict[str, float]:
    """:func:`set_metrics` plus internal diversity, and FCD to test when ``fcd`` (``Models.fcd``) is given: the
    numbers a model card reports for a set of samples (or of real molecules)."""
    out = {**set_metrics(smiles, train), "diversity": internal_diversity(smiles)}
    if fcd is not None:
        out["fcd"] = float(fcd(smiles))
    return out
