"""Per-instance prompts in MaskedFamily: a (K, L) prompt table, each row's instance read from its owner.

A toy conditional task (3 instances, different prompt values, the same free positions) runs real masked-family
methods that branch (treeg-sc, svdd, dsearch), resample (smc) or select (best-of-n) particles through the runner's
metered path; every returned row must carry its own instance's prompt, which holds by construction only if
``prior`` reads the owner's row and no primitive re-masks or overwrites a prompt position.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from bench.contract import metered_run
from bench.diffusion.masked import MaskedFamily
from bench.reward import Reward
from bench.rng import Streams
from bench.task import MetricMeta, Objective, Task
from bench.train import seeded

L, V, K = 8, 4, 3
TABLE = torch.tensor([[0, 1, 2, -1, -1, -1, -1, -1],
                      [3, 3, 0, -1, -1, -1, -1, -1],
                      [2, 0, 1, -1, -1, -1, -1, -1]])  # (K, L): prompt on [0, 3), free on [3, L)
FIXED = TABLE >= 0


class _Net(nn.Module):
    """A random linear denoiser over the flattened one-hot, so outputs depend on the prompt."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(L * (V + 1), L * V)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        oh = x if x.dtype != torch.long else nn.functional.one_hot(x, V + 1).float()  # (B, L, V+1)
        return self.lin(oh.flatten(1)).view(-1, L, V)  # (B, L, V)


def _zeros(x0: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """Proxy: number of token 0 on the free positions (methods select / resample on it)."""
    return (x0[:, 3:] == 0).sum(-1).float()  # (N,)


class _PromptTask(Task):
    name, version, family_kind = "prompt-toy", "1", "discrete"
    default_objective, default_steps = "zeros", 6
    metrics = {"zeros": MetricMeta("zeros", True)}

    @classmethod
    def objectives(cls) -> list[str]:
        return ["zeros"]

    def build_family(self) -> MaskedFamily:
        with seeded(0):
            net = _Net()
        return MaskedFamily(net, L, V, prompt=TABLE)

    def objective(self, spec: str) -> Objective:
        r = Reward("zeros", _zeros)
        return Objective("zeros", r, Reward("zeros", _zeros, role="oracle"), "zeros", n_instances=K)

    def decode(self, x0: torch.Tensor) -> list[Any]:
        return x0.tolist()

    def evaluate(self, objective, x0, instance):
        return {"zeros": float(_zeros(x0, instance).mean())}, [{} for _ in range(len(x0))]


@pytest.mark.parametrize("method", ["none", "best-of-n", "smc", "svdd", "treeg-sc", "dsearch"])
def test_every_returned_row_keeps_its_instance_prompt(method: str) -> None:
    n = 7  # not a multiple of K: instances 0, 1, 2, 0, 1, 2, 0
    out, _, _, _ = metered_run(_PromptTask(tiny=True), method, n=n, steps=6, seed=3)
    inst = out.owner.long() % K  # (n,) the runner's instance of each returned sample (one chain)
    assert out.x0.shape == (n, L)
    assert torch.equal(out.x0[FIXED[inst]], TABLE[inst][FIXED[inst]])
    assert (out.x0 < V).all()  # the free positions are filled with real tokens


def test_prior_renoise_and_bridge_keep_each_owner_row() -> None:
    fam = _PromptTask().build_family()
    owner = torch.tensor([0, 1, 2, 3, 4, 5])  # instances 0 1 2 0 1 2
    rng = Streams(0, range(6))
    x = fam.prior(rng, owner)  # (6, L)
    assert torch.equal(x[:, :3], TABLE[owner % K][:, :3]) and (x[:, 3:] == V).all()
    parent = torch.tensor([5, 5, 0, 0, 2, 2])  # branch / resample rows: the owner follows the row
    x0 = fam.point(fam.denoise(x, 1.0))  # (6, L)
    x = fam.bridge(x[parent], 1.0, 0.5, x0[parent], rng, owner[parent])
    back = fam.renoise(x0[parent], 0.0, 1.0, rng, owner[parent])  # re-mask everything that may be re-masked
    for rows in (x, back):
        assert torch.equal(rows[:, :3], TABLE[parent % K][:, :3])
    assert (back[:, 3:] == V).all()


def test_owner_instance_map_overrides_the_modulo_rule() -> None:
    fam = _PromptTask().build_family()
    fam.owner_instance = torch.tensor([2, 2, 0, 1])  # e.g. chains of samples tied to instances 2, 0, 1
    x = fam.prior(Streams(0, range(4)), torch.arange(4))
    assert torch.equal(x[:, :3], TABLE[[2, 2, 0, 1]][:, :3])


def test_a_single_prompt_is_the_old_behaviour() -> None:
    prompt = TABLE[1]  # (L,)
    fam = MaskedFamily(_PromptTask().build_family().net, L, V, prompt=prompt)
    assert fam.n_prompts == 1
    owner = torch.arange(5)
    x = fam.prior(Streams(0, range(5)), owner)
    assert torch.equal(x[:, :3], prompt[:3].expand(5, 3)) and (x[:, 3:] == V).all()
    assert fam.prompt is prompt  # the attribute keeps what was given
    none = MaskedFamily(fam.net, L, V)
    assert none.n_prompts == 0 and (none.prior(Streams(0, range(2)), torch.arange(2)) == V).all()


def test_a_prompt_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="prompt must be"):
        MaskedFamily(_Net(), L, V, prompt=torch.zeros(3, L + 1, dtype=torch.long))


def test_the_prompt_loss_never_masks_or_scores_a_prompt_position() -> None:
    from bench.train.losses import masked_prompt

    seen: list[torch.Tensor] = []

    class Spy(nn.Module):
        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            seen.append(x.clone())
            return torch.zeros(x.shape[0], L, V, requires_grad=True)  # uniform logits: NLL log V per token

    free = ~FIXED[0]  # (L,)
    x0 = torch.randint(0, V, (64, L))
    loss = masked_prompt(V, free)(Spy(), (x0,), torch.Generator().manual_seed(0))
    x_t = seen[0]
    assert torch.equal(x_t[:, ~free], x0[:, ~free])  # the prompt is the condition, never noised
    assert (x_t[:, free] == V).any()
    assert torch.isfinite(loss) and loss > 0
