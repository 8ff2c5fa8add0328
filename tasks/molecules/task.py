"""`molecules`: masked discrete diffusion over QM9 SMILES characters, RDKit and DFT-gap objectives.

Base model: a small bidirectional transformer MDLM over fixed-length (32) character sequences with a real PAD
token (``data.py``). Objectives (``objectives.py``): ``rings=k``, ``logp=v``, ``gap=v`` (targets), ``qed`` (max),
``sa`` (min); every objective ranks on ``success`` (valid and on target; invalid = failure). Proxies are computed
on the decoded x̂0 (invalid -> floor); the RDKit objectives use the exact RDKit property for both proxy and oracle
(``exact_proxy``), ``gap`` uses a fingerprint-MLP proxy and a differently built oracle trained on the other half
of QM9 train. ``Objective.grad_proxy`` is a one-hot CNN predictor of the property (differentiable on (N, L, V)
probabilities). RDKit is imported only inside functions.
"""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from bench.reward import Reward
from bench.task import MetricMeta, Objective, Task
from tasks.molecules import objectives as obj
from tasks.molecules.data import LENGTH, MASK_ID, WEIGHTS_DIR, V, decode_tokens
from tasks.molecules.models import Models, load_models, tiny_models

log = logging.getLogger(__name__)

METRICS = {
    "success": MetricMeta("success rate", True, "fraction of all samples valid and on target (rings exact, logP "
                          "±0.25, gap ±0.005 Ha, QED >= 0.6, SA <= 2.5); invalid = failure", per_sample=True),
    "mae": MetricMeta("MAE to target (invalid = worst)", False, "mean |oracle property - target|, an invalid "
                      "molecule counted at the worst error (rings 10, logP 10, gap 1 Ha)", per_sample=True),
    "mae_valid": MetricMeta("MAE over valid", False, "mean |oracle property - target| over valid molecules only"),
    "prop_mean": MetricMeta("property mean", True, "mean oracle property over valid molecules (informative)"),
    "qed": MetricMeta("QED (invalid = 0)", True, "mean RDKit QED, an invalid molecule counted as 0",
                      per_sample=True),
    "sa": MetricMeta("SA score (invalid = 10)", False, "mean RDKit Contrib SA score, an invalid molecule "
                     "counted as 10", per_sample=True),
    "validity": MetricMeta("validity", True, "fraction of samples RDKit parses (PAD must be a suffix)",
                           naturalness=True),
    "uniqueness": MetricMeta("uniqueness", True, "distinct canonical SMILES / valid", naturalness=True),
    "novelty": MetricMeta("novelty", True, "distinct valid not in QM9 train / distinct valid", naturalness=True),
    "diversity": MetricMeta("internal diversity", True, "1 - mean pairwise Tanimoto (Morgan r2, 2048)",
                            naturalness=True),
    "nll": MetricMeta("NLL (nats)", False, "MDLM ELBO bound on -log p_base(x) per molecule", per_sample=True,
                      naturalness=True),
    "fcd": MetricMeta("FCD to QM9 test", False, "Frechet ChemNet distance (fcd-torch; NaN below 2 valid samples)",
                      naturalness=True),
    "n_invalid": MetricMeta("invalid count", False, "samples that do not decode to a molecule"),
    "proxy_oracle_gap": MetricMeta("proxy-oracle gap", False, "learned proxies only (gap): mean proxy score - "
                                   "oracle score over valid molecules (> 0: the proxy is over-optimistic)"),
}


class Molecules(Task):
    """QM9 SMILES masked diffusion with RDKit / DFT-gap objectives."""

    name = "molecules"
    version = "3"  # 2: denoiser retrained longer (phase 3); 3: main metric success, invalid counted as failure
    family_kind = "discrete"
    default_objective = "rings=3"
    default_steps = 64
    default_n = 64
    metrics = METRICS
    naturalness = ("validity", "uniqueness", "novelty", "diversity", "nll", "fcd")
    pretrain_entry = "tasks.molecules.pretrain:pretrain"

    def __init__(self, tiny: bool = False, device: str = "cpu") -> None:
        super().__init__(tiny=tiny, device=device)

    @classmethod
    def objectives(cls) -> list[str]:
        return ["rings=3", "rings=<k>", "logp=<v>", "gap=<v>", "qed", "sa", "quality"]

    @cached_property
    def models(self) -> Models:
        """The denoiser, the one-hot predictor, the gap regressors and the reference SMILES (lazy)."""
        models = tiny_models() if self.tiny else load_models(WEIGHTS_DIR)
        return models.to(self.device)

    @property
    def base_net(self) -> torch.nn.Module:
        """The sampled denoiser (also the NLL's p_base); the `molecules_cond` twin samples its conditional one."""
        return self.models.denoiser

    def build_family(self) -> Any:
        from bench.diffusion.masked import MaskedFamily

        return MaskedFamily(self.base_net, LENGTH, V)

    # -- decoding and properties ---------------------------------------------------------------------------
    def decode(self, x0: torch.Tensor) -> list[str | None]:
        """Canonical SMILES per sample; None where PAD is not a suffix or RDKit cannot parse the string."""
        from tasks.molecules.chem import canonical_or_none

        return canonical_or_none(decode_tokens(x0))

    def property_fn(self, kind: str, role: str) -> Callable[[list[str | None]], np.ndarray]:
        """SMILES list -> raw property (NaN invalid): exact RDKit, or the gap proxy / oracle regressor."""
        from tasks.molecules import chem, regress

        if kind == "gap":
            reg = self.models.gap_proxy if role == "proxy" else self.models.gap_oracle
            return lambda smiles: regress.predict_gap(reg, smiles)
        if kind == "quality":
            return lambda smiles: np.array([np.nan if c is None else 1.0 for c in chem.canonical_or_none(smiles)])
        return lambda smiles: chem.properties(smiles, kind)

    def _reward(self, spec: obj.Spec, role: str) -> Reward:
        prop = self.property_fn(spec.kind, role)

        def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
            s = obj.score(spec, prop(decode_tokens(x0)))  # (N,) NaN where invalid
            if role == "proxy":
                s = np.nan_to_num(s, nan=spec.floor)
            return torch.as_tensor(s, dtype=torch.float32, device=x0.device)

        return Reward(spec.name, fn, on="decoded", differentiable=False, role=role, floor=spec.floor)

    def _diff_reward(self, spec: obj.Spec) -> Reward:
        pred = self.models.diff_predictor
        col = pred.props.index(spec.kind)

        def fn(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
            if x0.dim() == 2:
                p = F.one_hot(x0.clamp(0, V - 1), V).float()  # (N, L, V)
            else:
                p = x0[..., :V]  # (N, L, V) probabilities (drop a [MASK] column if present)
            value = pred(p)[:, col]  # (N,) property in its own units
            if spec.target is not None:
                return -(value - spec.target).abs()
            return value if spec.kind == "qed" else -value

        return Reward(f"{spec.name}_diff", fn, on="x0", differentiable=True, role="proxy", floor=spec.floor)

    def objective(self, spec: str) -> Objective:
        s = obj.parse(spec)  # the RDKit properties are exact (proxy = oracle); gap's proxy is a learned regressor
        if s.kind == "quality":  # validity is both the proxy and the main metric; no differentiable surrogate
            return Objective(s.name, self._reward(s, "proxy"), self._reward(s, "oracle"), main_metric="validity",
                             exact_proxy=True, quality=True)
        return Objective(s.name, self._reward(s, "proxy"), self._reward(s, "oracle"), main_metric="success",
                         grad_proxy=self._diff_reward(s), exact_proxy=s.kind != "gap")

    # -- evaluation ----------------------------------------------------------------------------------------
    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        from tasks.molecules import chem
        from tasks.molecules.sampling import elbo_nll

        spec = obj.parse(objective.name)
        smiles = self.decode(x0)
        oracle_prop = self.property_fn(spec.kind, "oracle")(smiles)  # (N,) NaN invalid
        proxy = objective.proxy(x0, instance).cpu().numpy()
        oracle = obj.score(spec, oracle_prop)
        metrics = obj.objective_metrics(spec, oracle_prop)
        metrics.update({k: v for k, v in chem.set_metrics(smiles, self.models.train_smiles).items()
                        if k != "n_valid"})
        metrics["n_invalid"] = float(sum(s is None for s in smiles))
        metrics["diversity"] = chem.internal_diversity(smiles)
        nll = elbo_nll(self.base_net, x0.to(self.device), MASK_ID)  # (N,)
        metrics["nll"] = float(nll.mean())
        metrics["fcd"] = self.models.fcd(smiles)
        valid = ~np.isnan(oracle)  # (N,)
        if not objective.exact_proxy:
            metrics["proxy_oracle_gap"] = float((proxy - oracle)[valid].mean()) if valid.any() else float("nan")
        per = obj.per_sample(spec, oracle_prop)  # (N,) each, invalid at its failure value
        rows = [{"smiles": s, "valid": s is not None, "proxy": float(p),
                 "oracle": None if np.isnan(o) else float(o), "property": None if np.isnan(v) else float(v),
                 "nll": float(n), **{k: float(col[i]) for k, col in per.items()}}
                for i, (s, p, o, v, n) in enumerate(zip(smiles, proxy, oracle, oracle_prop, nll.tolist()))]
        return metrics, rows

    @classmethod
    def sample_figure(cls, rows: list[dict[str, Any]], path: Path, title: str) -> Path | None:
        """RDKit drawings of the first 12 valid samples, each captioned with its oracle property."""
        from rdkit import Chem
        from rdkit.Chem import Draw

        good = [r for r in rows if r.get("smiles")][:12]
        if not good:
            return None
        legends = [f"{r['property']:.3g}" if r.get("property") is not None else "" for r in good]
        img = Draw.MolsToGridImage([Chem.MolFromSmiles(r["smiles"]) for r in good], molsPerRow=6,
                                   subImgSize=(160, 130), legends=legends)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        return path
