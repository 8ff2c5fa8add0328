"""The Task contract.

A task is registered under a short name and has a version. It builds its model family (network + schedule) from
committed weights, lists objectives (each a proxy reward for methods and an oracle for scoring), decodes samples to
domain objects and evaluates a finished batch into metrics. ``tiny=True`` builds a random-initialised miniature
that needs no weights. Module-level imports of a task stay light (torch, numpy, bench); heavy domain packages
(rdkit, music21, pretty_midi) are imported inside functions so ``bench ls`` stays fast.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Hashable

import torch

from bench.reward import Reward


@dataclass(frozen=True)
class MetricMeta:
    """Declared metadata of one metric (checked by a contract test).

    ``per_sample``: every per-sample row of ``Task.evaluate`` carries this sample's value under the metric's name
    and the metric is the mean over all rows (invalid samples included at their failure value).
    ``naturalness``: the metric measures closeness to the data distribution (validity, FCD, OA, FID, diversity),
    not the objective; the task also lists it in ``Task.naturalness``.
    """

    display: str
    higher_is_better: bool
    description: str = ""
    per_sample: bool = False
    naturalness: bool = False

    def as_record(self) -> dict[str, Any]:
        """The record's ``metric_meta`` entry of this metric."""
        return {"display": self.display, "higher_is_better": self.higher_is_better,
                "per_sample": self.per_sample, "naturalness": self.naturalness}


@dataclass(frozen=True)
class Objective:
    """One objective of a task: what methods optimise (proxy) and what scores them (oracle).

    ``n_instances`` conditional targets; returned sample j is tied to instance j % n_instances.
    ``main_metric`` is the metric name in ``Task.evaluate``'s output that the leaderboard ranks on.
    ``grad_proxy``: a differentiable reward for gradient methods (often ``proxy`` itself), None when there is none.
    ``exact_proxy``: True when the proxy IS the oracle (an exact reward, up to the proxy's floor for invalid
    samples); False for a learned stand-in, whose proxy-oracle gap the report shows.
    ``target_lam``: λ of the tilted target p·exp(λ r) the objective is scored against (exact toys), else None;
    the runner defaults a method's ``lam`` to it.
    ``answer``: ``(x0 (N, ...), instance (N,)) -> [key | None] * N``, a label-free answer key per clean sample
    (samples with the same key give the same final answer; None = no parseable answer), for self-consistency
    (majority vote); None when the task has no notion of a final answer.
    ``quality``: the objective is naturalness itself (its main metric is one of the task's naturalness metrics,
    e.g. FID): what quality guidance (cfg, pag, autoguidance) improves with no reward; reward methods optimise
    the proxy, a label-free realism stand-in.
    """

    name: str
    proxy: Reward
    oracle: Reward
    main_metric: str
    n_instances: int = 1
    grad_proxy: Reward | None = None
    exact_proxy: bool = False
    target_lam: float | None = None
    answer: Callable[[torch.Tensor, torch.Tensor], list[Hashable | None]] | None = None
    quality: bool = False


class Task(ABC):
    """Base class of every task. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]
    version: ClassVar[str]
    family_kind: ClassVar[str]  # "continuous" | "discrete"
    default_objective: ClassVar[str]
    default_steps: ClassVar[int]
    default_n: ClassVar[int] = 64
    default_budget: ClassVar[str] = "4x"
    metrics: ClassVar[dict[str, MetricMeta]]
    naturalness: ClassVar[tuple[str, ...]] = ()  # names in ``metrics`` flagged naturalness=True
    pretrain_entry: ClassVar[str | None] = None  # "module:function(out_dir: Path, seed: int, quick: bool)"

    def __init__(self, tiny: bool = False, device: str = "cpu") -> None:
        self.tiny = tiny
        self.device = torch.device(device)

    @classmethod
    @abstractmethod
    def objectives(cls) -> list[str]:
        """Objective names (or patterns like ``rings=<k>``) this task accepts; cheap, no heavy imports."""

    @abstractmethod
    def build_family(self) -> Any:
        """The sampler family (GaussianFamily or MaskedFamily) wrapping this task's network."""

    @abstractmethod
    def objective(self, spec: str) -> Objective:
        """Build the objective named by ``spec`` (e.g. ``"rings=3"``); unknown specs raise ValueError."""

    @abstractmethod
    def decode(self, x0: torch.Tensor) -> list[Any]:
        """Domain objects (SMILES, PrettyMIDI, images, strings) for a batch of clean samples; None if invalid."""

    @abstractmethod
    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Metrics of a finished batch, plus one JSON-able row per sample (decoded object, proxy, oracle)."""

    # -- quality guidance (bench.quality): optional capabilities -------------------------------------------
    def condition(self, objective: Objective) -> int | None:
        """The label ``objective`` conditions on, fed to the network as ``label=`` by CFG's strong branch (the
        network then has a ``null_label``); None when the objective is not a condition the network knows."""
        return None

    def autoguide(self) -> tuple[torch.nn.Module, float] | None:
        """Autoguidance's weak model (called like the family's network) and its forward cost relative to that
        network; None when the task ships none."""
        return None

    @classmethod
    def objective_meta(cls, objective: Objective) -> dict[str, Any]:
        """The record's ``objective_meta``: exact_proxy, target_lam and the task's naturalness metric names."""
        return {"exact_proxy": objective.exact_proxy, "target_lam": objective.target_lam,
                "naturalness": list(cls.naturalness)}

    @classmethod
    def sample_figure(cls, rows: list[dict[str, Any]], path: Path, title: str) -> Path | None:
        """Optional: draw a few samples from one record's per-sample rows (``evaluate``'s output) into ``path``.

        ``bench report`` shows the figure beside the task's tables; the default (no figure) returns None.
        """
        return None
