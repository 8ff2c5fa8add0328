"""`math`: PerturbArith, a CPU-scale MATH-Perturb analogue (``/work/shared/specs/perturbarith.md``).

Six procedurally generated families (LIN, ABS, SUM, MODPOW, RATE, MINSQ) with Original / Simple / Hard variants
paired by ``problem_id``; Hard variants are 1–4-token edits that switch the required method. Base model: a ~0.8M-
parameter MDLM solver (``net.MathDenoiser``, L = 64) whose prompt (``Q <problem> A``, positions [0, 16)) is fixed
and never masked; the sampler fills ``step;step;…#answer``.

Instances: the 900 committed problems in the interleaved order of ``instances`` (instance i is split i % 3 of
paired problem i // 3, families rotating), so returned sample j solves instance j % 900 and any n that is a
multiple of 18 covers every split and family evenly. The family is ``MaskedFamily`` with the (900, L) prompt
table (per-instance prompts; see ``bench.diffusion.masked`` for how a row's instance follows its owner).

Objectives: ``verify`` (default; proxy r_check, the label-free substitute-back / brute-force verifier),
``steps`` (proxy r_step, the step checker that also scores partial rows) and ``value`` (proxy v_φ, a learned,
differentiable P(correct) trained on Original / Simple rollouts only; it enables tag, treeg-g and tds). The
oracle is always r_exact (needs the label); the main metric is ``acc_h``, the accuracy on the Hard split.
Malformed, masked or answer-less samples score 0 everywhere (never an error). Every objective has the answer
key (the parsed final answer) that majority vote reads.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from bench.reward import Reward
from bench.task import Objective, Task
from bench.weights import task_folder
from tasks.math import instances, rewards, tokens
from tasks.math.evaluate import METRICS, NATURALNESS, evaluate_batch, prompt_ok
from tasks.math.models import load_denoiser, tiny_denoiser
from tasks.math.net import MathDenoiser
from tasks.math.value import ValueNet, load_value, tiny_value

WEIGHTS_DIR = Path(__file__).parent / "weights"
PROXIES = {"verify": ("r_check", rewards.r_check), "steps": ("r_step", rewards.r_step)}
LEARNED = {"value": "v_phi"}  # objectives whose proxy is a learned net (``value.ValueNet``), differentiable


class MathTask(Task):
    """PerturbArith: masked diffusion over worked arithmetic solutions, with Original / Simple / Hard splits."""

    name = "math"
    version = "2"  # 2: solver v3 (10000 steps; Gap_SH 0.313)
    family_kind = "discrete"
    default_objective = "verify"
    default_steps = 48  # the answer region length: ~1 token revealed per step (spec §8)
    default_n = 900
    metrics = METRICS
    naturalness = NATURALNESS
    pretrain_entry = "tasks.math.pretrain:pretrain"

    @classmethod
    def objectives(cls) -> list[str]:
        return [*PROXIES, *LEARNED]

    @cached_property
    def denoiser(self) -> MathDenoiser:
        """The solver (lazy; sha256 checked once), or the tiny random miniature."""
        net = tiny_denoiser() if self.tiny else load_denoiser(task_folder(type(self)) or WEIGHTS_DIR)
        return net.to(self.device)

    @cached_property
    def value_net(self) -> ValueNet:
        """v_φ of the ``value`` objective (lazy), or its tiny random miniature."""
        net = tiny_value() if self.tiny else load_value(task_folder(type(self)) or WEIGHTS_DIR)
        return net.to(self.device)

    def build_family(self) -> Any:
        from bench.diffusion.masked import MaskedFamily

        return MaskedFamily(self.denoiser, tokens.L, tokens.V, prompt=instances.prompt_table().to(self.device))

    def decode(self, x0: torch.Tensor) -> list[str | None]:
        """``Q <problem> A <solution>`` text per row; None when the row's layout is broken."""
        ids = (x0.argmax(-1) if x0.dim() == 3 else x0).long().cpu().tolist()
        out = []
        for row in ids:
            d = tokens.decode(row)
            out.append(tokens.render(row) if d.ok and d.problem is not None else None)
        return out

    # -- rewards -----------------------------------------------------------------------------------------------
    def objective(self, spec: str) -> Objective:
        if spec not in PROXIES and spec not in LEARNED:
            raise ValueError(f"math: unknown objective {spec!r}; choose from {self.objectives()}")
        if spec in LEARNED:
            value = Reward(LEARNED[spec], lambda x0, instance: self.value_net.prob(x0), differentiable=True,
                           role="proxy", floor=0.0)
            return Objective(spec, value, self.oracle_reward(), main_metric="acc_h", grad_proxy=value,
                             n_instances=len(instances.problems()), answer=rewards.answer_key)
        name, fn = PROXIES[spec]
        proxy = Reward(name, lambda x0, instance: fn(x0).to(x0.device), role="proxy", floor=0.0)
        return Objective(spec, proxy, self.oracle_reward(), main_metric="acc_h",
                         n_instances=len(instances.problems()), answer=rewards.answer_key)

    @staticmethod
    def oracle_reward() -> Reward:
        """r_exact against the instance's gold answer (0 for a row carrying another instance's prompt)."""
        oracle = rewards.ExactOracle([p.answer for p in instances.problems()])

        def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
            ok = prompt_ok(x0, instance).float().cpu()  # (N,)
            return (oracle(x0, instance.cpu()) * ok).to(x0.device)  # (N,)

        return Reward("r_exact", fn, role="oracle", floor=0.0)

    # -- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        return evaluate_batch(self.denoiser, x0, instance, self.decode(x0))
