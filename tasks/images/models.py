"""Loading the images task's networks from a weights folder through `bench.weights` (sha256 checked once per
process; a missing or corrupt file is named in the error)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.train.fit import seeded
from bench.weights import load_state
from tasks.images.data import SHAPE
from tasks.images.net import GuideNet, OracleNet, UNet

NETS: dict[str, type[torch.nn.Module]] = {"unet": UNet, "weak": UNet, "flow": UNet, "flow_weak": UNet,
                                         "guide": GuideNet, "oracle": OracleNet}
WEAK = {"unet": "weak", "flow": "flow_weak"}  # each generator's early EMA snapshot (autoguidance's weak model)
FLOW_TIME_SCALE = 1000.0  # the velocity UNet sees τ ∈ [0, 1] scaled to the ε UNet's timestep range


def load_net(folder: Path, name: str, device: str | torch.device = "cpu") -> torch.nn.Module:
    """``folder/<name>.pt`` (a key of ``NETS``) as a network in eval mode without gradients."""
    return build_net(name, load_state(folder, f"{name}.pt", device), device)


def build_net(name: str, blob: dict[str, Any], device: str | torch.device = "cpu") -> torch.nn.Module:
    """A ``NETS[name]`` network from a saved ``{"state", "config"}`` blob (a weights file or a training snapshot),
    in eval mode without gradients."""
    net = NETS[name](**{k: tuple(v) if isinstance(v, list) else v for k, v in blob["config"].items()})
    net.load_state_dict(blob["state"])
    return net.to(device).eval().requires_grad_(False)


def unguided_family(net: torch.nn.Module, flow: bool = False) -> Any:
    """The task's sampler over ``net``: the η=1 DDPM (cosine schedule, ε prediction, linspace steps) or, for the
    flow twin, the linear-path flow family; x̂0 clipped to [-1, 1] in both."""
    from bench.diffusion.flow import FlowFamily
    from bench.diffusion.gaussian import GaussianFamily
    if flow:
        return FlowFamily(net, SHAPE, eta=1.0, clip=1.0)
    return GaussianFamily(net, SHAPE, schedule="cosine", eta=1.0, clip=1.0, prediction="eps", spacing="linspace")


TINY_UNET = {"ch": 8, "mult": (1, 2), "emb": 32, "attn": (14,), "n_classes": 10}


def _tiny_unet(flow: bool) -> UNet:
    return UNet(**TINY_UNET, time_scale=FLOW_TIME_SCALE if flow else 1.0)


def tiny_nets(seed: int = 0, flow: bool = False) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """The random-weight miniatures (unet, guide, oracle) of ``--tiny``, built under ``fork_rng``; the UNet has
    the committed recipe's attention and class input, so every quality-guidance method runs on it (``flow``: the
    velocity twin's time scale)."""
    with seeded(seed):
        nets = _tiny_unet(flow), GuideNet(8), OracleNet(8)
    return tuple(n.eval().requires_grad_(False) for n in nets)


def tiny_weak(seed: int = 1, flow: bool = False) -> torch.nn.Module:
    """The tiny variant's autoguidance weak model: a second random UNet of the same shape."""
    with seeded(seed):
        return _tiny_unet(flow).eval().requires_grad_(False)
