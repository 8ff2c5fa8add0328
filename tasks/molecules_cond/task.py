"""`molecules_cond`: QM9 SMILES from the ring-count conditional denoiser, the conditional twin of `molecules`.

Everything but the sampled network is the molecules task's: data, objectives, proxies, oracles, metrics, decoding
and figures. The network is ``cond_denoiser.pt`` (``tasks.molecules.cond``): the molecules transformer with a
ring-count label (0-4, ">= 5") fine-tuned from ``denoiser.pt`` with 10% label dropout, so it is both a conditional
and an unconditional model. Every method samples its null label (the unconditional model, as on `dna`), and
``rings=k`` (k <= 4) is a condition, so ``cfg`` (D-CFG) competes there with the reward methods at the same compute.
The weights live in the molecules folder (``weights_owner``; one manifest, one set of regressors and references).
"""
from __future__ import annotations

from functools import cached_property

from bench.task import Objective
from tasks.molecules import objectives as obj
from tasks.molecules.net import N_RING_LABELS, CondSmilesDenoiser, ring_label
from tasks.molecules.task import Molecules


class MoleculesCond(Molecules):
    """The molecules task sampled from its ring-count conditional denoiser."""

    name = "molecules_cond"
    version = "1"
    weights_owner = Molecules

    @cached_property
    def base_net(self) -> CondSmilesDenoiser:
        """The conditional denoiser (lazy, sha256-checked; the tiny variant: a random 1-layer one)."""
        from tasks.molecules.data import WEIGHTS_DIR
        from tasks.molecules.models import load_cond_denoiser, tiny_cond_denoiser

        net = tiny_cond_denoiser() if self.tiny else load_cond_denoiser(WEIGHTS_DIR)
        return net.to(self.device).eval().requires_grad_(False)

    def condition(self, objective: Objective) -> int | None:
        """``rings=k`` for k in 0..4 conditions on label k (five or more rings share one class, so not exact)."""
        s = obj.parse(objective.name)
        if s.kind != "rings" or s.target is None or ring_label(int(s.target)) == N_RING_LABELS - 1:
            return None
        return ring_label(int(s.target))
