"""Fashion-MNIST label guidance with a held-out classifier (TFG's image protocol) and PNG compressibility.

Objectives: ``label=<k>`` (k in 0..9: steer toward class k; proxy = guide classifier log-prob on x̂0,
differentiable; oracle = held-out classifier accuracy), ``label=all`` (10 instances, target = instance % 10),
``compress`` (non-differentiable: −PNG bytes of the decoded image), ``quality`` (no target: the main metric is FID
against all test images; the proxy a reward method may use is the guide's confidence, quality guidance uses none)
and the inverse problems (``inverse.py``). See ``objectives.py`` and ``metrics.py``.
Weights folder is a setting: env ``GUIDEBENCH_IMAGES_WEIGHTS`` (default ``tasks/images/weights``).
"""
from __future__ import annotations

import base64
import io
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.task import MetricMeta, Objective, Task
from tasks.images import data
from tasks.images.models import load_net, tiny_nets

WEIGHTS = Path(__file__).parent / "weights"


def weights_dir() -> Path:
    """Folder of the committed weights (setting: env ``GUIDEBENCH_IMAGES_WEIGHTS``)."""
    return Path(os.environ.get("GUIDEBENCH_IMAGES_WEIGHTS", WEIGHTS))


class ImagesTask(Task):
    """Unconditional DDPM on Fashion-MNIST, guided by a classifier or by compressibility."""

    name = "images"
    # 4: v3 continued 5k steps (the best EMA snapshot of a 10k-step fine-tune, tasks.images.pick); 3: the v2 UNet
    # (attention, class input, weak.pt); 2: invalid samples count as misses
    version = "4"
    family_kind = "continuous"
    default_objective = "label=3"
    default_steps = 50
    default_n = 64
    pretrain_entry = "tasks.images.pretrain:pretrain"
    naturalness = ("fid", "precision", "recall", "diversity")
    generator = "unet"  # the weights file of the sampled network; its autoguidance weak model is WEAK[generator]
    flow = False  # True: the linear-path flow family (a velocity network), the flow twin ``images_flow``
    metrics = {
        "oracle_acc": MetricMeta("Oracle accuracy", True, "held-out classifier predicts the target label "
                                 "(an invalid sample is a miss)", per_sample=True),
        "proxy_acc": MetricMeta("Proxy accuracy", True, "guide classifier predicts the target label"),
        "proxy_oracle_gap": MetricMeta("Proxy-oracle gap", False, "proxy_acc - oracle_acc (reward hacking)"),
        "proxy_logp": MetricMeta("Proxy log p(y|x)", True, "mean guide log-prob of the target on decoded images"),
        "fid": MetricMeta("FID (oracle features)", False,
                          "vs the target class's (label) or all (compress) test images", naturalness=True),
        "diversity": MetricMeta("Diversity", True, "mean pairwise distance of oracle penultimate features",
                                naturalness=True),
        "precision": MetricMeta("Precision (k-NN)", True, "samples inside the real manifold (k = 5, oracle features; "
                                "the FID reference class)", naturalness=True),
        "recall": MetricMeta("Recall (k-NN)", True, "real images inside the samples' manifold (depends on n: compare "
                             "at equal n)", naturalness=True),
        "density": MetricMeta("Density", True, "real balls per sample / k (about 1 for real-like samples)"),
        "coverage": MetricMeta("Coverage", True, "real images with a sample inside their k-NN ball (grows with n)"),
        "png_bytes": MetricMeta("PNG bytes", False, "mean PNG size of the decoded images (compress objective); "
                                "an invalid sample counts as a uniform-noise image", per_sample=True),
        "oracle_conf": MetricMeta("Oracle confidence", True, "mean max class probability (looks like a garment)"),
        "invalid_frac": MetricMeta("Invalid fraction", False, "samples with non-finite values"),
        "psnr": MetricMeta("PSNR (dB)", True, "against the ground-truth image, on [0, 1] (inverse problems; an "
                           "invalid sample scores 0 dB)", per_sample=True),
        "ssim": MetricMeta("SSIM", True, "against the ground-truth image (torchmetrics; invalid: 0)", per_sample=True),
        "feat_dist": MetricMeta("Oracle feature distance", False, "‖f(x) − f(x_gt)‖ in the held-out oracle's "
                                "penultimate features (stand-in for LPIPS, which cannot be downloaded here)"),
        "class_agree": MetricMeta("Class agreement", True, "oracle's class of the sample = its class of the truth"),
        "meas_err": MetricMeta("Measurement residual / σ_y²", False, "‖A(x) − y‖² per measured value over σ_y² "
                               "(≈ 1 consistent with y; far below 1 fits the noise)"),
    }

    @cached_property
    def nets(self) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module, dict]:
        """(unet, guide, oracle, reference statistics), loaded on first use (sha256 checked once)."""
        return self._build()

    @property
    def unet(self) -> torch.nn.Module:
        """The sampled network (the ε UNet; the velocity UNet in the flow twin)."""
        return self.nets[0]

    @property
    def guide(self) -> torch.nn.Module:
        return self.nets[1]

    @property
    def oracle(self) -> torch.nn.Module:
        return self.nets[2]

    @property
    def ref(self) -> dict:
        return self.nets[3]

    @classmethod
    def objectives(cls) -> list[str]:
        """``label=<k>`` for k in 0..9, ``label=all``, ``compress`` and the inverse problems (``inverse.py``)."""
        return ["label=<k>", "label=all", "compress", "quality", "sr=<f>", "inpaint=box", "inpaint=random:<p>",
                "deblur=<sigma>"]

    def _build(self) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module, dict]:
        if self.tiny:
            nets = [n.to(self.device) for n in tiny_nets(0, flow=self.flow)]
            return (*nets, self._tiny_ref(nets[2]))
        from bench.weights import checked_path
        from tasks.images.metrics import load_ref

        folder = weights_dir()
        nets = [load_net(folder, name, self.device) for name in (self.generator, "guide", "oracle")]
        return (*nets, load_ref(checked_path(folder, "ref_stats.npz")))

    def _tiny_ref(self, oracle: torch.nn.Module) -> dict:
        """Reference statistics of random images through the tiny oracle (so metrics run without weights)."""
        from tasks.images.metrics import feature_stats

        stats = feature_stats(self._tiny_features(oracle))
        return {k: stats for k in [*map(str, range(10)), "all"]}

    def _tiny_features(self, oracle: torch.nn.Module) -> torch.Tensor:
        g = torch.Generator().manual_seed(1)
        x = (torch.rand((40, *data.SHAPE), generator=g) * 2 - 1).to(self.device)  # (40, 1, 28, 28)
        with torch.no_grad():
            return oracle.features(x).cpu()  # (40, 64)

    @cached_property
    def real_features(self) -> dict[str, torch.Tensor]:
        """The real sets of the k-NN manifold metrics per key ("0".."9", "all"): oracle features (``ref_feats.npz``)."""
        if self.tiny:
            feats = self._tiny_features(self.oracle)
            return {k: feats for k in [*map(str, range(10)), "all"]}
        from bench.weights import checked_path
        from tasks.images.metrics import load_real_features
        return load_real_features(checked_path(weights_dir(), "ref_feats.npz"))

    def condition(self, objective: Objective) -> int | None:
        """``label=<k>`` conditions a class-conditional UNet (one with a ``null_label``) on k; otherwise None."""
        from tasks.images.objectives import label_targets
        if getattr(self.unet, "null_label", None) is None or not objective.name.startswith("label="):
            return None
        targets = label_targets(objective.name)
        return targets[0] if targets is not None and len(targets) == 1 else None

    def autoguide(self) -> tuple[torch.nn.Module, float] | None:
        """Autoguidance's weak model: the early EMA snapshot of the same run (``weak.pt``; ``flow_weak.pt`` for the
        flow twin; same cost), when the weights ship one (the tiny variant: a second random UNet)."""
        if self.tiny:
            from tasks.images.models import tiny_weak
            return tiny_weak(flow=self.flow).to(self.device), 1.0
        import json

        from tasks.images.models import WEAK
        folder = weights_dir()
        if f"{WEAK[self.generator]}.pt" not in json.loads((folder / "manifest.json").read_text()):
            return None
        return load_net(folder, WEAK[self.generator], self.device), 1.0

    def build_family(self) -> Any:
        """η=1 DDIM/DDPM family over the UNet, cosine schedule (the flow twin: the linear-path flow family, η=1
        same-marginal SDE), x̂0 clipped to [-1, 1] (``unguided_family``)."""
        from tasks.images.models import unguided_family

        return unguided_family(self.unet, flow=self.flow)

    def objective(self, spec: str) -> Objective:
        """``label=<k>``, ``label=all`` or ``compress``; anything else raises ValueError."""
        from tasks.images import inverse
        from tasks.images.objectives import compress_reward, label_oracle, label_proxy, label_targets

        if inverse.is_inverse(spec):
            return inverse_objective(spec)
        if spec == "compress":
            # proxy = oracle = -PNG bytes: an exact reward
            return Objective("compress", compress_reward("proxy"), compress_reward("oracle"), "png_bytes",
                             exact_proxy=True)
        if spec == "quality":
            from tasks.images.objectives import quality_oracle, quality_proxy
            proxy = quality_proxy(self.guide)
            return Objective("quality", proxy, quality_oracle(self.oracle), "fid", grad_proxy=proxy, quality=True)
        targets = label_targets(spec)
        proxy = label_proxy(self.guide, targets)  # a learned guide classifier, scored by a held-out oracle
        return Objective(spec, proxy, label_oracle(self.oracle, targets), "oracle_acc", n_instances=len(targets),
                         grad_proxy=proxy, exact_proxy=False)

    def decode(self, x0: torch.Tensor) -> list[Any]:
        """uint8 (28, 28) numpy images; None for a non-finite sample."""
        ok = torch.isfinite(x0.flatten(1)).all(1).tolist()
        imgs = data.to_uint8(torch.nan_to_num(x0))
        return [img if good else None for img, good in zip(imgs, ok, strict=True)]

    def evaluate(self, objective: Objective, x0: torch.Tensor,
                 instance: torch.Tensor) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Metrics of a finished batch and one row per sample (png_b64 image, target, proxy, oracle, preds)."""
        from tasks.images import inverse
        from tasks.images.evaluate import evaluate_batch, evaluate_inverse

        if inverse.is_inverse(objective.name):
            return evaluate_inverse(self, objective, x0, instance)
        return evaluate_batch(self, objective, x0, instance)

    @classmethod
    def sample_figure(cls, rows: list[dict[str, Any]], path: Path, title: str) -> Path | None:
        """A grid of the first 32 stored samples, captioned with the oracle's label."""
        from tasks.images.figures import grid_from_rows, inverse_grid

        if rows and rows[0].get("truth_b64"):  # an inverse problem: measurement / truth / sample columns
            return inverse_grid(rows, path, title)
        return grid_from_rows(rows, path, title, limit=32) if rows else None

    @staticmethod
    def png_b64(img: np.ndarray) -> str:
        """Base64 PNG of a uint8 (28, 28) image (the JSON-able decoded object)."""
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode("ascii")


def inverse_objective(spec: str) -> Objective:
    """An inverse problem (``tasks.images.inverse``): proxy = the measurement log-likelihood (differentiable, on x0)
    per instance; the oracle is the PSNR against the instance's ground truth (the main metric)."""
    from bench.reward import Reward
    from tasks.images import inverse
    from tasks.images.objectives import FLOOR

    inverse.parse(spec)  # a malformed spec fails here, before any work

    def proxy(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        ok = torch.isfinite(x0.flatten(1)).all(1)  # (N,)
        val = inverse.log_likelihood(spec, torch.where(ok[:, None, None, None], x0, torch.zeros_like(x0)), instance)
        return torch.where(ok, val, torch.full_like(val, FLOOR))

    def oracle(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
        return inverse.psnr(x0, instance)

    p = Reward("meas_loglik", proxy, on="x0", differentiable=True, role="proxy", floor=FLOOR)
    return Objective(spec, p, Reward("psnr", oracle, role="oracle"), main_metric="psnr",
                     n_instances=inverse.N_GT, grad_proxy=p, exact_proxy=False)
