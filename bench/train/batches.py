"""In-memory batch drawing from a seeded generator, with a state that checkpoints carry (exact resume)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

Transform = Callable[[tuple[torch.Tensor, ...], torch.Generator], tuple[torch.Tensor, ...]]


class Batcher:
    """Draws batches of rows from aligned tensors (all of the same length N).

    ``order="random"``: each batch is ``batch`` rows drawn with replacement. ``order="epoch"``: a fresh
    permutation per epoch, consecutive slices of it (the last slice of an epoch may be shorter).
    ``transform(batch, gen)`` runs on the drawn rows (augmentation, dtype changes) with the same generator.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch: int, order: str = "random",
                 transform: Transform | None = None) -> None:
        if order not in ("random", "epoch"):
            raise ValueError(f"order {order!r}: expected 'random' or 'epoch'")
        self.tensors, self.batch, self.order, self.transform = tuple(tensors), batch, order, transform
        self.n = len(self.tensors[0])
        if any(len(t) != self.n for t in self.tensors):
            raise ValueError("Batcher tensors differ in length")
        self.perm: torch.Tensor | None = None
        self.pos = 0

    @property
    def steps_per_epoch(self) -> int:
        """Batches per pass over the rows (order='epoch')."""
        return -(-self.n // self.batch)

    def _indices(self, gen: torch.Generator) -> torch.Tensor:
        if self.order == "random":
            return torch.randint(0, self.n, (self.batch,), generator=gen)  # (batch,)
        if self.perm is None or self.pos >= self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=gen), 0  # (N,)
        idx = self.perm[self.pos:self.pos + self.batch]  # (<= batch,)
        self.pos += self.batch
        return idx

    def draw(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The next batch (one tensor per input tensor), transformed."""
        idx = self._indices(gen)
        rows = tuple(t[idx] for t in self.tensors)
        return self.transform(rows, gen) if self.transform is not None else rows

    def state_dict(self) -> dict[str, Any]:
        """Position in the current epoch (order='epoch')."""
        return {"perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.perm, self.pos = state["perm"], state["pos"]
