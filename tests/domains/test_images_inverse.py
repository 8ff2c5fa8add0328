"""Inverse problems on images: the operators (by hand, adjoints), seeded measurements, the proxy's gradient, the
metrics against the ground truth, and bad specs refused."""
from __future__ import annotations

import math

import pytest
import torch

from tasks.images import inverse
from tasks.images.task import ImagesTask

SPECS = ["sr=4", "sr=7", "inpaint=box", "inpaint=random:0.3", "deblur=1.0@0.1"]


def test_superresolution_averages_each_block_and_its_adjoint_spreads_back():
    x = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28)
    y = inverse.parse("sr=4")(x, torch.zeros(1))
    assert y.shape == (1, 1, 7, 7)
    assert float(y[0, 0, 0, 0]) == float(x[0, 0, :4, :4].mean())  # the first 4×4 block by hand
    back = inverse.parse("sr=4").adjoint(torch.ones(1, 1, 7, 7), torch.zeros(1))
    assert torch.allclose(back, torch.full((1, 1, 28, 28), 1 / 16))


def test_box_inpainting_zeroes_the_central_box_and_blur_of_a_delta_is_the_kernel():
    op = inverse.parse("inpaint=box")
    y = op(torch.ones(1, 1, 28, 28), torch.zeros(1))
    assert float(y[0, 0, 7:21, 7:21].abs().sum()) == 0 and float(y.sum()) == 28 * 28 - 14 * 14
    blur = inverse.parse("deblur=1.0")
    delta = torch.zeros(1, 1, 28, 28)
    delta[0, 0, 14, 14] = 1.0
    k = blur.kernel()[0, 0]  # (7, 7)
    assert torch.allclose(blur(delta, torch.zeros(1))[0, 0, 11:18, 11:18], k, atol=1e-7)
    assert abs(float(k.sum()) - 1) < 1e-6


@pytest.mark.parametrize("spec", SPECS)
def test_adjoint_identity(spec):
    op, inst = inverse.parse(spec), torch.arange(5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 1, 28, 28, generator=g, dtype=torch.float64)
    ax = op(x.float(), inst).double()
    y = torch.randn(ax.shape, generator=g, dtype=torch.float64)
    lhs = (ax * y).sum()
    rhs = (x * op.adjoint(y.float(), inst).double()).sum()
    assert abs(float(lhs - rhs)) < 1e-3 * float(lhs.abs() + 1)


def test_measurements_are_seeded_per_instance_and_masks_per_instance():
    inverse.measurements.cache_clear()
    a = inverse.measurements("sr=4").clone()
    inverse.measurements.cache_clear()
    assert torch.equal(a, inverse.measurements("sr=4"))
    assert not torch.equal(a, inverse.measurements("sr=4@0.1"))
    op = inverse.parse("inpaint=random:0.5")
    m = op.mask(torch.tensor([0, 1, 0]))
    assert torch.equal(m[0], m[2]) and not torch.equal(m[0], m[1])


@pytest.mark.parametrize("spec", ["sr=4", "inpaint=box"])
def test_the_truth_is_consistent_with_its_measurement(spec):
    """At the ground truth the residual per measured value is χ²_m/m in units of σ_y²: mean 1, sd √(2/m) per image;
    over 64 images 5 standard errors is below 0.2 for m ≥ 49."""
    x, _ = inverse.ground_truth()
    r = inverse.residual(spec, x, torch.arange(64))
    m = float(inverse.parse(spec).observed(torch.zeros(1))[0])
    assert abs(float(r.mean()) - 1) < 5 * math.sqrt(2 / m) / 8


def test_proxy_gradient_matches_finite_differences():
    obj = ImagesTask(tiny=True).objective("deblur=1.0")
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 0.5
    inst = torch.tensor([0, 5])
    x.requires_grad_(True)
    obj.proxy(x, inst).sum().backward()
    d = torch.randn_like(x) * 1e-3
    with torch.no_grad():
        fd = obj.proxy(x + d, inst).sum() - obj.proxy(x - d, inst).sum()
    assert abs(float(fd) - 2 * float((x.grad * d).sum())) < 1e-6 * max(1.0, abs(float(fd)))


def test_bad_specs_are_refused_with_the_accepted_forms():
    for bad in ("sr=3", "inpaint=disc", "inpaint=random:1.5", "deblur=-1", "sr=4@-0.1", "sr=4@x"):
        with pytest.raises(ValueError, match="expected sr=<f>"):
            ImagesTask(tiny=True).objective(bad)


def test_evaluation_scores_against_the_truth_and_counts_invalid_samples():
    task = ImagesTask(tiny=True)
    obj = task.objective("sr=4")
    gt, _ = inverse.ground_truth()
    x0 = torch.cat([gt[:3], torch.full((1, 1, 28, 28), float("nan"))])
    metrics, rows = task.evaluate(obj, x0, torch.arange(4))
    assert rows[0]["psnr"] > 40 and rows[3]["psnr"] == 0.0 and rows[3]["png_b64"] is None
    assert metrics["invalid_frac"] == 0.25 and abs(metrics["ssim"] - 0.75) < 0.01
    assert set(metrics) <= set(task.metrics)
