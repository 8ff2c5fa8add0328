"""`dna`: masked discrete diffusion over real 200 bp cell-type-specific DHS sequences, held-out cell-type oracle,
JASPAR motif and synthetic-activity objectives.

Base model: a residual dilated CNN MDLM over A, C, G, T (length 200, [MASK] = 4) trained on the 47,872 sequences
of the dnadiffusion wheel (``data.py``, ``DATA_CARD.md``), conditioned on the cell type with 15% label dropout;
the benchmark samples its unconditional (null-label) model. Objectives (``objectives.py``): ``hepg2`` (default)
and ``k562`` (cell-type log-odds; proxy CellCNN on half A of train, oracle PoolCNN on half B), ``motif=<TF>``
(exact soft JASPAR hit count) and ``mpra`` (an exactly known synthetic activity; proxy a CNN on its noisy labels).
Every objective ranks on ``oracle_median``, with the DRAKES-style metrics beside it (``evaluate.py``).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from bench.reward import Reward
from bench.task import MetricMeta, Objective, Task
from bench.weights import task_folder
from tasks.dna import objectives as obj
from tasks.dna.data import SEQ_LEN, decode
from tasks.dna.models import Models, load_models, tiny_models

WEIGHTS_DIR = Path(__file__).parent / "weights"

METRICS = {
    "oracle_median": MetricMeta("oracle median", True, "median held-out oracle score of the samples (an invalid "
                                "sample counted at the floor -20)"),
    "oracle_mean": MetricMeta("oracle mean", True, "mean held-out oracle score (invalid = floor)", per_sample=True),
    "oracle_q90": MetricMeta("oracle top decile", True, "90th percentile of the oracle score"),
    "frac_above": MetricMeta("frac > real top 1%", True, "fraction of samples whose oracle score reaches the 99th "
                             "percentile of held-out real sequences of the reference cell type", per_sample=True),
    "kmer3_top": MetricMeta("3-mer corr to top 0.1%", True, "Pearson correlation of pooled 3-mer spectra with the "
                            "top 0.1% of all real sequences by the objective's oracle (DRAKES 3-mer Corr)"),
    "kmer3_corr": MetricMeta("3-mer corr to real", True, "3-mer spectrum correlation with all held-out real "
                             "sequences (the base model's data)", naturalness=True),
    "motif_corr": MetricMeta("JASPAR corr", True, "Pearson correlation across the 879 JASPAR motifs of pooled hit "
                             "counts against held-out real sequences of the reference cell type", naturalness=True),
    "gc_w1": MetricMeta("GC W1", False, "1-Wasserstein distance of the GC-content distribution to held-out real "
                        "sequences", naturalness=True),
    "nll": MetricMeta("NLL (nats/base)", False, "MDLM ELBO bound on -log p_base(x) per base", per_sample=True,
                      naturalness=True),
    "diversity": MetricMeta("diversity", True, "mean pairwise Hamming distance / 200", naturalness=True),
    "mpra_true": MetricMeta("mpra ground truth", True, "the exactly known synthetic activity of every sample "
                            "(reported for every objective)", per_sample=True),
    "proxy_oracle_gap": MetricMeta("proxy-oracle gap", False, "mean proxy - mean oracle over valid samples "
                                   "(learned proxies only; > 0: the proxy is over-optimistic)"),
    "n_invalid": MetricMeta("invalid count", False, "samples holding a non-ACGT token (counted as failures)"),
}


class Dna(Task):
    """200 bp DHS sequences: masked diffusion with cell-type, motif and synthetic-activity objectives."""

    name = "dna"
    version = "1"
    family_kind = "discrete"
    default_objective = "hepg2"
    default_steps = 50
    default_n = 32
    metrics = METRICS
    naturalness = ("kmer3_corr", "motif_corr", "gc_w1", "nll", "diversity")
    pretrain_entry = "tasks.dna.pretrain:pretrain"

    @classmethod
    def objectives(cls) -> list[str]:
        return list(obj.PATTERNS)

    @cached_property
    def models(self) -> Models:
        """The denoiser, the cell-type proxy and oracle and the mpra proxy (lazy; sha256 checked once)."""
        models = tiny_models() if self.tiny else load_models(task_folder(type(self)) or WEIGHTS_DIR)
        return models.to(self.device)

    @cached_property
    def reference(self) -> Any:
        """Real-data references of the metrics (lazy; a subsample for ``--tiny``)."""
        from tasks.dna.evaluate import Reference

        return Reference.build(subsample=2000 if self.tiny else None)

    def build_family(self) -> Any:
        from bench.diffusion.masked import MaskedFamily

        return MaskedFamily(self.models.denoiser, SEQ_LEN, 4)

    def decode(self, x0: torch.Tensor) -> list[str | None]:
        """ACGT strings; None for a sequence holding any other token."""
        _, valid = obj.probabilities(x0)
        return [s if ok else None for s, ok in zip(decode(x0.clamp(0, 3)), valid.tolist())]

    # -- rewards -----------------------------------------------------------------------------------------------
    def score_fn(self, spec: obj.Spec, role: str):
        """Raw score of (N, L, 4) base probabilities for ``role`` (proxy / oracle); tokens for exact scores."""
        m = self.models
        if spec.kind == "cell":
            net = m.proxy if role == "proxy" else m.oracle
            return lambda p, tokens: obj.cell_logodds(net(p), spec.cell)
        if spec.kind == "mpra":
            if role == "proxy":
                return lambda p, tokens: m.mpra_proxy(p)
            fn = self.reference.mpra
            return lambda p, tokens: fn(tokens.clamp(0, 3)).float()
        scanner = self.reference.scanner_for(spec.motif)
        return lambda p, tokens: obj.soft_hits(scanner, tokens.clamp(0, 3))[:, 0].float()

    def _reward(self, spec: obj.Spec, role: str) -> Reward:
        score = self.score_fn(spec, role)

        def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
            p, valid = obj.probabilities(x0)
            return obj.masked_invalid(score(p, x0).to(x0.device), valid, role)

        return Reward(spec.name, fn, on="x0", differentiable=False, role=role, floor=obj.FLOOR)

    def _grad_reward(self, spec: obj.Spec) -> Reward | None:
        if spec.kind == "motif":
            return None
        score = self.score_fn(spec, "proxy")

        def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
            p, _ = obj.probabilities(x0)
            return score(p, None)

        return Reward(f"{spec.name}_diff", fn, on="x0", differentiable=True, role="proxy", floor=obj.FLOOR)

    def objective(self, spec: str) -> Objective:
        s = obj.parse(spec)
        return Objective(s.name, self._reward(s, "proxy"), self._reward(s, "oracle"), main_metric="oracle_median",
                         grad_proxy=self._grad_reward(s), exact_proxy=s.kind == "motif")

    def condition(self, objective: Objective) -> int | None:
        """A cell-type objective conditions the denoiser on that cell type (its label input; CFG's strong branch)."""
        s = obj.parse(objective.name)
        return s.cell if s.kind == "cell" else None

    # -- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        from tasks.dna.evaluate import evaluate_batch

        return evaluate_batch(self, objective, x0, instance)

    @classmethod
    def sample_figure(cls, rows: list[dict[str, Any]], path: Path, title: str) -> Path | None:
        """Sequence logos of the samples beside held-out real HepG2 sequences."""
        from tasks.dna.figures import logo_figure

        return logo_figure([r["seq"] for r in rows if r.get("seq")], path, title)
