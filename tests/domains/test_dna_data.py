"""DNA data: 2-bit packing, the committed DHS set (counts, splits, manifest), build validation and motif export."""
from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest
import torch

from bench.weights import CorruptWeightsError
from tasks.dna import build as B
from tasks.dna import data as D


def test_pack_and_encode_roundtrip():
    seqs = ["ACGTTGCA", "GGGGAAAA"]
    tok = D.encode(seqs)
    assert tok.tolist() == [[0, 1, 2, 3, 3, 2, 1, 0], [2, 2, 2, 2, 0, 0, 0, 0]]
    packed = D.pack(tok)
    assert packed.shape == (2, 2) and packed[0, 0] == 0b00011011  # A C G T in the high-to-low bit pairs
    assert (D.unpack(packed) == tok).all() and D.decode(tok) == seqs
    with pytest.raises(ValueError):
        D.encode(["ACGN"])


def test_committed_set_counts_and_splits():
    sizes = {s: len(D.load_split(s)) for s in D.SPLITS}
    assert sizes == {"train": 39254, "validation": 4053, "test": 4565}  # the source table's data_label counts
    x = D.load_labelled("train")
    assert x.tokens.shape == (39254, 200) and x.tokens.dtype == torch.int64
    assert int(x.tokens.min()) == 0 and int(x.tokens.max()) == 3
    per_cell = sum(torch.bincount(D.load_labelled(s).cell, minlength=4) for s in D.SPLITS)
    assert per_cell.tolist() == [11968] * 4
    hep = D.load_split("test", "HepG2")
    assert len(hep) == 958 and D.decode(hep[:1])[0][:1] in "ACGT"


def test_loader_rejects_unknown_names_and_corrupt_files(tmp_path):
    with pytest.raises(ValueError):
        D.load_split("training")
    with pytest.raises(ValueError):
        D.load_split("train", "Hepg2")
    shutil.copytree(D.DATA_DIR, tmp_path / "d")
    f = tmp_path / "d" / D.SEQ_FILE
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(CorruptWeightsError):
        D.load_split("train", folder=tmp_path / "d")


def _table(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """A source-format table from (sequence, cell column, split label, chromosome) rows."""
    recs = []
    for i, (seq, cell, split, chrom) in enumerate(rows):
        rec = {"dhs_id": f"{chrom}_{i}", "chr": chrom, "start": 100 * i, "end": 100 * i + 200, "sequence": seq,
               "TAG": cell, "data_label": split}
        rec.update({c: int(c == cell) for c in B.CELL_COLUMNS})
        recs.append(rec)
    return pd.DataFrame(recs)


def test_validate_reports_anomalies_and_arrays_roundtrip():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(4)]
    good = _table([(seqs[0], B.CELL_COLUMNS[3], "training", "chr5"), (seqs[1], B.CELL_COLUMNS[2], "validation", "chr1"),
                   (seqs[2], B.CELL_COLUMNS[0], "test", "chr2"), (seqs[3], B.CELL_COLUMNS[1], "training", "chrX")])
    rep = B.validate(good)
    assert rep.anomalies == [] and rep.counts["HepG2"]["training"] == 1
    a = B.to_arrays(good)
    assert (D.unpack(a["packed"]) == D.encode(seqs)).all()
    assert a["cell"].tolist() == [3, 2, 0, 1] and a["split"].tolist() == [0, 1, 2, 0]
    assert a["chrom"].tolist() == [4, 0, 1, 22]
    bad = _table([(seqs[0][:199], B.CELL_COLUMNS[3], "training", "chr5"),
                  ("N" + seqs[1][1:], B.CELL_COLUMNS[2], "validation", "chr2"),
                  (seqs[2], B.CELL_COLUMNS[0], "test", "chr1")])
    found = " | ".join(B.validate(bad).anomalies)
    assert "not 200 bp" in found and "other than uppercase ACGT" in found and "README says validation = chr1" in found


def test_jaspar_export_keeps_latest_core_vertebrate_versions(tmp_path):
    db = tmp_path / "j.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE MATRIX (ID int, COLLECTION text, BASE_ID text, VERSION int, NAME text)")
    con.execute("CREATE TABLE MATRIX_ANNOTATION (ID int, TAG text, VAL text)")
    con.execute("CREATE TABLE MATRIX_DATA (ID int, row text, col int, val float)")
    mats = [(1, "CORE", "MA0001", 1, "OLD"), (2, "CORE", "MA0001", 2, "NEW"), (3, "CORE", "MA0002", 1, "PLANT"),
            (4, "UNVALIDATED", "UN0001", 1, "UNV")]
    con.executemany("INSERT INTO MATRIX VALUES (?,?,?,?,?)", mats)
    tax = {1: "vertebrates", 2: "vertebrates", 3: "plants", 4: "vertebrates"}
    con.executemany("INSERT INTO MATRIX_ANNOTATION VALUES (?,?,?)", [(i, "tax_group", v) for i, v in tax.items()])
    for mid in tax:
        con.executemany("INSERT INTO MATRIX_DATA VALUES (?,?,?,?)",
                        [(mid, b, c, 10.0 * mid + "ACGT".index(b) + c) for b in "ACGT" for c in (1, 2)])
    con.commit()
    con.close()
    out = B.jaspar_motifs(db.read_bytes())
    assert [(m["id"], m["name"]) for m in out] == [("MA0001.2", "NEW")]
    assert out[0]["counts"] == [[21.0, 22.0], [22.0, 23.0], [23.0, 24.0], [24.0, 25.0]]
