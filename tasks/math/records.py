"""Typed PerturbArith records and their JSONL form."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable

SPLITS = ("original", "simple", "hard")
DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Problem:
    """One problem of a split (or of the training stream, ``split == "train"``).

    ``problem_id`` pairs the Original / Simple / Hard variants of one seed tuple; ``answer`` is exact text (an
    integer, ``p/q``, or an ascending comma list); ``solution`` is the gold ``step;step;…#answer``;
    ``shortcut_answer`` is M1 applied literally (Hard only); ``seed_in_train`` marks the tuples whose Original
    the ``contamination`` knob may put into training; ``edit_ratio`` is the token edit distance to the Original
    over the Original's token count.
    """

    problem_id: str
    family: str
    split: str
    form: str
    problem: str
    answer: str
    solution: str
    shortcut_answer: str | None
    seed_in_train: bool
    edit_ratio: float

    def to_json(self) -> str:
        """One JSONL line (fixed field order)."""
        return json.dumps(asdict(self), ensure_ascii=True)

    @classmethod
    def from_json(cls, line: str) -> "Problem":
        """Inverse of ``to_json``; rejects unknown or missing fields."""
        raw = json.loads(line)
        names = {f.name for f in fields(cls)}
        if set(raw) != names:
            raise ValueError(f"fields {sorted(set(raw) ^ names)} do not match Problem")
        return cls(**raw)


def split_path(split: str, root: Path = DATA_DIR) -> Path:
    """Path of a committed split file."""
    return root / f"perturbarith_{split}.jsonl"


def dumps(problems: Iterable[Problem]) -> str:
    """JSONL text of the records (one line each, trailing newline)."""
    return "".join(p.to_json() + "\n" for p in problems)


def load_split(split: str, root: Path = DATA_DIR) -> list[Problem]:
    """The committed records of one split."""
    with open(split_path(split, root)) as fh:
        return [Problem.from_json(line) for line in fh if line.strip()]
