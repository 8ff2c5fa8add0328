"""Quality guidance (bench.quality): the combination rule, the identity-attention switch, CFG against the analytic
conditional score, exact costs with an interval, and reward methods composed on a quality base."""
from __future__ import annotations

import pytest
import torch
from conftest import run_method

from bench import registry
from bench.diffusion.schedules import gaussian_alphas_bar
from bench.meter import CountedNet, Meter
from bench.nets import PerturbableLayer, TokenTransformer, identity_attention
from bench.quality import GuidedNet, QualitySource, QualitySpec, parse_base
from bench.runner import Cell, execute
from tasks.gmm.objectives import MEANS, STD
from tasks.gmm.task import AnalyticEps


def test_parse_base_round_trips_and_names_the_accepted_form():
    assert parse_base("pag:3") == QualitySpec("pag", 3.0)
    assert parse_base("cfg:2@0.2-0.8").label() == "cfg:2@0.2-0.8"
    for bad in ("pag", "xyz:3", "pag:3@0.8-0.2", "cfg:-1"):
        with pytest.raises(ValueError, match="KIND|expected one of|need w"):
            parse_base(bad)


@pytest.mark.parametrize("w", [0.0, 1.0, 2.5])
def test_combination_rule_is_weak_plus_w_times_the_difference_and_reduces_at_w_1_and_0(w):
    x, t = torch.randn(5, 3), torch.full((5,), 7)
    strong, weak = (lambda x, t: 2 * x + 1), (lambda x, t: x - 4)
    out = GuidedNet(strong, weak, w, {7.0})(x, t)
    assert torch.allclose(out, weak(x, t) + w * (strong(x, t) - weak(x, t)))
    if w == 1.0:
        assert torch.equal(out, strong(x, t))
    if w == 0.0:
        assert torch.allclose(out, weak(x, t))
    assert torch.equal(GuidedNet(strong, weak, w, set())(x, t), strong(x, t))  # outside the interval


def test_masked_family_combination_is_the_renormalised_product_of_the_two_distributions():
    """On logits the rule gives p_strong^w · p_weak^(1−w) / Z at every position (the family's log-softmax)."""
    from bench.diffusion.masked import MaskedFamily
    torch.manual_seed(0)
    a, b = torch.randn(2, 4, 5), torch.randn(2, 4, 5)
    fam = MaskedFamily(GuidedNet(lambda x, t: a, lambda x, t: b, 3.0, {1.0}), 4, 5)
    x = torch.full((2, 4), 5)
    got = fam.denoise(x, 1.0).logp.exp()
    want = (a.softmax(-1) ** 3 * b.softmax(-1) ** -2)
    assert torch.allclose(got, want / want.sum(-1, keepdim=True), atol=1e-5)


def test_identity_attention_returns_the_value_projection_exactly():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    h = torch.randn(3, 7, 16)
    diag = torch.full((7, 7), -torch.inf).fill_diagonal_(0.0)  # every query may attend only to itself
    ref, _ = mha(h, h, h, attn_mask=diag, need_weights=False)
    v = h @ mha.in_proj_weight[32:].T + mha.in_proj_bias[32:]  # (3, 7, 16) V
    assert torch.allclose(identity_attention(mha, h), ref, atol=1e-6)
    assert torch.allclose(identity_attention(mha, h), mha.out_proj(v), atol=1e-6)


def test_perturbable_layer_is_the_torch_layer_when_off_and_the_switch_is_scoped():
    torch.manual_seed(0)
    net = TokenTransformer(vocab=6, length=8, d=16, layers=3, heads=2).eval()
    plain = torch.nn.TransformerEncoderLayer(16, 2, 64, 0.0, activation="gelu", batch_first=True, norm_first=True)
    plain.load_state_dict(net.encoder.layers[0].state_dict())
    h = torch.randn(2, 8, 16)
    assert isinstance(net.encoder.layers[0], PerturbableLayer)
    assert torch.allclose(net.encoder.layers[0](h), plain.eval()(h), atol=1e-6)
    x = torch.randint(0, 6, (2, 8))
    before = net(x)
    with net.attention_perturbed():
        perturbed = net(x)
    assert not torch.allclose(perturbed, before) and torch.equal(net(x), before)
    assert not any(layer.perturb for layer in net.encoder.layers)


def test_cfg_on_gmm_uses_the_analytic_conditional_score():
    """The strong branch is the exact ε of component k alone: (x_t − √ᾱ μ_k)·√(1−ᾱ)/(ᾱ s² + 1 − ᾱ)."""
    net, k = AnalyticEps(), 3
    meter = Meter()
    src = QualitySource(CountedNet(net, meter), net, condition=k)
    strong, weak = src.branches("cfg")
    x, t = torch.randn(6, 2), torch.full((6,), 400)
    a = gaussian_alphas_bar("cosine").float()[400]
    exact = (x - a.sqrt() * MEANS[k]) * (1 - a).sqrt() / (a * STD**2 + 1 - a)
    assert torch.allclose(strong(x, t), exact, atol=1e-5)
    assert torch.allclose(weak(x, t), net(x, t), atol=1e-6)  # the null label is the mixture
    assert meter.nfe == 12


def test_guidance_interval_runs_the_weak_branch_only_on_its_steps_and_the_cost_model_matches():
    spec = QualitySpec("cfg", 2.0, 0.25, 0.75)
    assert spec.active_steps(8) == [False, False, True, True, True, True, False, False]
    out, meter, cfg, _ = run_method("gmm", "cfg", "label=2", n=4, steps=8, w=2.0, lo=0.25, hi=0.75)
    assert meter.nfe == 4 * (8 + 4)
    assert registry.methods().get("cfg").counts(cfg, 8).forward == 12


def test_autoguidance_weak_model_is_metered_at_its_relative_cost():
    meter = Meter()
    net = CountedNet(AnalyticEps(), meter, weight=0.25)
    net(torch.randn(8, 2), torch.full((8,), 10))
    assert meter.nfe == 0 and meter.weak_nfe == 2.0 and meter.cost() == 2.0


def test_quality_methods_refuse_a_task_without_the_capability(tmp_path):
    rec = execute(Cell(task="gmm", method="cfg", objective="linear", n=4, steps=4), tmp_path, show_progress=False)
    assert rec["status"] == "incompatible" and "conditional objective" in rec["error"]
    rec = execute(Cell(task="gmm", method="pag", n=4, steps=4), tmp_path, show_progress=False)
    assert rec["status"] == "incompatible" and "attention" in rec["error"]


REWARD_METHODS = [m for m in registry.methods().names()
                  if not registry.methods().get(m).quality and m != "none"]
BASES = {"toyseq": ("pattern", "pag:3"), "gmm": ("bump", "autoguidance:2")}  # a base each toy supports


@pytest.mark.parametrize("method", REWARD_METHODS)
def test_every_reward_method_runs_on_a_quality_base_within_its_cap(method, tmp_path):
    """The composition contract: on each compatible toy the method runs on the guided prediction, the base's
    forwards are metered (cost factor 2 with the full interval) and the cap holds."""
    from bench.method import Incompatible
    m, ran = registry.methods().get(method), 0
    for task, (objective, base) in BASES.items():
        t = registry.tasks().get(task)()
        obj = t.objective(objective)
        try:
            m.check(t.family_kind, obj.grad_proxy is not None, obj.answer is not None)
        except Incompatible:
            continue
        rec = execute(Cell(task=task, method=method, objective=objective, budget="32x", n=4, steps=8, base=base),
                      tmp_path, show_progress=False)
        assert rec["status"] in ("ok", "over_budget_min"), rec["error"]
        assert rec["base"] == base and rec["budget"]["base_factor"] == 2.0
        assert rec["usage"]["cost"] <= rec["budget"]["cost_cap"] + 1e-6
        ran += rec["status"] == "ok"
    assert ran, f"{method} ran on no quality base"


def test_cfg_pp_at_lambda_0_is_unconditional_sampling_and_differs_from_cfg_at_lambda_1():
    """λ = 0: x̂0_∅ renoised with ε̂_∅ is the base transition itself, so the samples equal `none`'s draw for draw;
    λ = 1: the conditional x̂0 renoised with ε̂_∅, which is not conditional sampling (cfg at w = 1)."""
    base, _, _, _ = run_method("gmm", "none", "label=3", n=8, steps=10)
    zero, meter, _, _ = run_method("gmm", "cfg-pp", "label=3", n=8, steps=10, w=0.0)
    assert torch.allclose(zero.x0, base.x0, atol=1e-6) and meter.nfe == 8 * 20
    one, _, _, _ = run_method("gmm", "cfg-pp", "label=3", n=8, steps=10, w=1.0)
    cond, _, _, _ = run_method("gmm", "cfg", "label=3", n=8, steps=10, w=1.0)
    assert not torch.allclose(one.x0, cond.x0, atol=1e-3)


def test_report_labels_a_composed_row_with_its_base_and_keeps_the_method_colour():
    from bench.gallery import method_label
    from bench.plots import method_color
    assert method_label({"method": "smc", "base": "pag:3"}) == "smc on pag:3"
    assert method_label({"method": "smc", "overrides": {"k": 8}, "base": "cfg:2"}) == "smc[k=8] on cfg:2"
    assert method_color("smc on pag:3") == method_color("smc")


def test_saliency_switch_records_attention_received_with_mean_one_and_is_scoped():
    from tasks.images.net import UNet
    torch.manual_seed(0)
    net = UNet(8, (1, 2, 2), 32, attn=(14, 7), n_classes=10).eval()
    x, i = torch.randn(3, 1, 28, 28), torch.full((3,), 500.0)
    plain = net(x, i)
    with net.attention_saliency() as read:
        out = net(x, i)
        sal = read()  # (3, 7, 7)
    assert sal.shape == (3, 7, 7) and torch.allclose(sal.mean((1, 2)), torch.ones(3), atol=1e-5)
    assert torch.allclose(out, plain, atol=1e-5)  # capturing changes nothing
    assert not net.attn["mid"].capture and net.attn["mid"].saliency is None
    with pytest.raises(ValueError, match="middle self-attention"):
        with UNet(8, (1, 2, 2), 32, attn=(14,)).attention_saliency():
            pass


def test_gaussian_blur_of_a_delta_is_the_kernel_and_keeps_a_constant():
    from methods.sag import KERNEL, gaussian_blur
    x = torch.zeros(1, 1, 15, 15)
    x[0, 0, 7, 7] = 1.0
    r = torch.arange(KERNEL, dtype=torch.float32) - (KERNEL - 1) / 2
    k = torch.exp(-0.5 * (r / 1.5) ** 2)
    k = k / k.sum()
    assert torch.allclose(gaussian_blur(x, 1.5)[0, 0, 3:12, 3:12], k[:, None] * k[None], atol=1e-7)
    c = torch.full((2, 1, 28, 28), 0.3)
    assert torch.allclose(gaussian_blur(c, 1.0), c, atol=1e-6)


def test_sag_with_an_empty_mask_is_unguided_sampling_and_counts_two_forwards_per_step(monkeypatch):
    """M = 0: the renoised input is x_t itself, so ε̃ = ε̂ and the draw is `none`'s up to float32 round-off
    (the captured attention takes the unfused kernel; w = 3 amplifies the difference): at least two orders of
    magnitude below the move of the real mask. The weak forward still runs and is metered."""
    import methods.sag as sag
    base, _, _, _ = run_method("images", "none", "quality", n=4, steps=6, tiny=True)
    guided, meter, cfg, _ = run_method("images", "sag", "quality", n=4, steps=6, tiny=True, w=3.0)
    assert meter.nfe == 4 * 12 and registry.methods().get("sag").counts(cfg, 6).forward == 12
    moved = (guided.x0 - base.x0).abs().mean()
    monkeypatch.setattr(sag, "saliency_mask", lambda s, shape: torch.zeros(s.shape[0], 1, *shape[-2:]))
    empty, _, _, _ = run_method("images", "sag", "quality", n=4, steps=6, tiny=True, w=3.0)
    assert moved > 0.05 and (empty.x0 - base.x0).abs().mean() < 1e-2 * moved


def test_sag_refuses_networks_without_the_switch_and_is_never_a_base(tmp_path):
    rec = execute(Cell(task="gmm", method="sag", n=4, steps=4), tmp_path, show_progress=False)
    assert rec["status"] == "incompatible" and "attention_saliency" in rec["error"]
    rec = execute(Cell(task="toyseq", method="sag", n=4, steps=4), tmp_path, show_progress=False)
    assert rec["status"] == "incompatible"
    with pytest.raises(ValueError, match="expected KIND"):
        parse_base("sag:1.5")
