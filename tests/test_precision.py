"""bf16 autocast of the sampling network: float32 out, bf16-sized error, counted like fp32, its own config hash."""
from __future__ import annotations

import pytest
import torch

from bench.meter import Calibration, CountedNet, Meter
from bench.runner import Cell, execute
from bench.validate import InputError


class Lin(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(64, 64)

    def forward(self, x, t):
        return self.lin(x)


def test_autocast_output_is_float32_with_bf16_error_and_counted():
    torch.manual_seed(0)
    net, x, t = Lin(), torch.randn(8, 64, requires_grad=True), torch.zeros(8)
    meter = Meter(cap=None, cal=Calibration())
    full = CountedNet(net, meter)(x, t)
    half = CountedNet(net, meter, autocast=torch.bfloat16)(x, t)
    assert half.dtype == torch.float32
    rel = float((half - full).detach().norm() / full.detach().norm())
    assert 0 < rel < 2 ** -6, rel  # bf16 keeps 8 significant bits: the error is of that order, never zero
    half.sum().backward()
    assert meter.nfe == 16 and meter.backward == 8


def test_precision_is_part_of_the_config(tmp_path):
    recs = {p: execute(Cell(task="images", method="none", tiny=True, n=4, steps=4, precision=p), tmp_path,
                       show_progress=False) for p in ("fp32", "bf16")}
    assert "precision" not in recs["fp32"] and recs["bf16"]["precision"] == "bf16"  # fp32 hashes as before
    assert recs["fp32"]["config_hash"] != recs["bf16"]["config_hash"]
    assert all(r["status"] == "ok" for r in recs.values())
    with pytest.raises(InputError, match="expected one of fp32, bf16"):
        execute(Cell(task="gmm", method="none", precision="fp16"), tmp_path, show_progress=False)
