"""`images_flow`: Fashion-MNIST on a flow-matching model, the flow twin of `images` (``tasks.images``).

Everything but the sampled network is the images task's: data, objectives (label, compress, quality, inverse
problems), guide and oracle classifiers, FID reference sets, metrics, decoding and figures. The network is
``flow.pt``: the same UNet recipe trained as a velocity field u(x_τ, τ) on the linear path x_τ = (1 − τ)·x1 + τ·ε
(``bench.train.flow``, seed + 3), sampled by ``bench.diffusion.flow.FlowFamily`` with η = 1 (the same-marginal SDE,
which resampling and tree search need; η = 0 is the Euler ODE). Autoguidance's weak model is the flow run's own
early EMA snapshot (``flow_weak.pt``). The weights live in the images folder (``weights_owner``) and are trained by
the images recipe: ``bench pretrain --task images_flow`` = ``bench pretrain --task images``. The report then shows
each method on a DDPM (`images`) and a flow model (`images_flow`) of the same data side by side.
"""
from __future__ import annotations

from tasks.images.task import ImagesTask


class ImagesFlowTask(ImagesTask):
    """The images task sampled from its velocity-UNet flow twin."""

    name = "images_flow"
    version = "1"
    generator = "flow"
    flow = True
    weights_owner = ImagesTask
