"""math task (tiny variant): the task's rewards on hand-made rows, invalid samples as failures, the instance
order, per-instance prompts kept by real methods, an end-to-end runner record and determinism under a seed."""
from __future__ import annotations

import math

import pytest
import torch

from bench.contract import metered_run
from bench.runner import Cell, execute
from tasks.math import instances, tokens
from tasks.math.task import MathTask

PROBS = instances.problems()


@pytest.fixture(scope="module")
def task() -> MathTask:
    return MathTask(tiny=True)


def _rows(pairs: list[tuple[int, str | None]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0 (N, L), instance (N,)) for (instance, solution text) pairs; None leaves the answer region masked."""
    x = torch.stack([torch.tensor(tokens.encode(PROBS[i].problem, s)) for i, s in pairs])  # (N, L)
    return x, torch.tensor([i for i, _ in pairs])


def _first(split: str, family: str) -> int:
    return next(i for i, p in enumerate(PROBS) if p.split == split and p.family == family)


def test_instances_interleave_splits_and_families() -> None:
    assert len(PROBS) == 900 and len({p.problem for p in PROBS}) == 900
    for k in range(0, 300, 37):
        trio = PROBS[3 * k: 3 * k + 3]
        assert [p.split for p in trio] == ["original", "simple", "hard"]
        assert len({p.problem_id for p in trio}) == 1 and trio[0].family == PROBS[3 * (k % 6)].family
    assert len({PROBS[3 * k].family for k in range(6)}) == 6  # 18 consecutive instances: every split x family


def test_rewards_on_hand_made_rows(task: MathTask) -> None:
    h = _first("hard", "LIN")
    p = PROBS[h]
    wrong = p.solution.split("#")[0] + "#" + str(int(p.answer) + 1)
    x, inst = _rows([(h, p.solution), (h, wrong), (h, "9+=2332"), (h, None), (h, f"#{p.shortcut_answer}")])
    verify, steps = task.objective("verify"), task.objective("steps")
    assert verify.oracle(x, inst).tolist() == [1, 0, 0, 0, 0]
    assert verify.proxy(x, inst).tolist() == [1, 0, 0, 0, 0]  # LIN: substitute-back is exact
    st = steps.proxy(x, inst)
    assert st[0] == 1 and st[2] == 0 and st[3] == 0 and st[1] < 1  # a dangling wrong answer fails consistency


def test_invalid_and_mismatched_rows_are_failures(task: MathTask) -> None:
    good = [(i, PROBS[i].solution) for i in range(6)]  # instances 0..5: two problems x three splits, all correct
    bad = [(6, "9+=2332"), (7, None), (8, "#")]  # malformed, still masked, empty answer
    x, inst = _rows(good + bad)
    other = torch.tensor(tokens.encode(PROBS[1].problem, PROBS[1].solution))  # instance 1's correct row ...
    x, inst = torch.cat([x, other[None]]), torch.cat([inst, torch.tensor([9])])  # ... tied to instance 9
    metrics, rows = task.evaluate(task.objective("verify"), x, inst)
    assert metrics["accuracy"] == pytest.approx(6 / 10)
    assert metrics["invalid_rate"] == pytest.approx(3 / 10)
    assert metrics["prompt_mismatch"] == 1 and rows[-1]["accuracy"] == 0 and not rows[-1]["prompt_ok"]
    # per split: original holds instances 0, 3, 6, 9 (two correct), simple 1, 4, 7 and hard 2, 5, 8 (two each)
    assert (metrics["acc_o"], metrics["acc_s"], metrics["acc_h"]) == pytest.approx((2 / 4, 2 / 3, 2 / 3))
    assert metrics["gap_sh"] == pytest.approx(0.0) and metrics["shortcut_rate"] == 0
    assert metrics["hack_r_check"] == 0  # every r_check = 1 sample here is correct
    assert all(math.isfinite(r["nll"]) for r in rows)
    assert task.oracle_reward()(x, inst)[-1] == 0  # the oracle refuses a row of another instance too


def test_decode_gives_none_for_a_broken_layout(task: MathTask) -> None:
    x, _ = _rows([(0, PROBS[0].solution)])
    broken = x.clone()
    broken[0, tokens.P - 1] = tokens.PAD_ID  # no A at P-1
    out = task.decode(torch.cat([x, broken]))
    assert out[0] is not None and PROBS[0].problem.replace(" ", "") in out[0].replace(" ", "") and out[1] is None


@pytest.mark.parametrize("method", ["treeg-sc", "smc", "svdd", "best-of-n"])
def test_methods_keep_each_instance_prompt(task: MathTask, method: str) -> None:
    n = 20  # not a multiple of 18: any prefix of the instance order
    out, _, _, _ = metered_run(task, method, n=n, steps=4, seed=1)
    table = instances.prompt_table()[out.owner.long() % 900]  # (n, L) the runner's instance j % 900
    assert torch.equal(out.x0[:, : tokens.P], table[:, : tokens.P])


def test_determinism_under_a_seed(task: MathTask) -> None:
    runs = [metered_run(task, "smc", n=9, steps=4, seed=s)[0].x0 for s in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_tiny_end_to_end_record(tmp_path) -> None:
    rec = execute(Cell(task="math", method="treeg-sc", n=8, steps=8, tiny=True), tmp_path, show_progress=False,
                  resume=False)
    assert rec["status"] == "ok", rec.get("error")
    m = rec["metrics"]
    assert rec["main_metric"] == "acc_h" and m["prompt_mismatch"] == 0
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["invalid_rate"] <= 1


def test_committed_weights_load_through_the_manifest() -> None:
    from tasks.math.models import load_denoiser
    from tasks.math.task import WEIGHTS_DIR

    net = load_denoiser(WEIGHTS_DIR)
    assert net.config["length"] == tokens.L and net.config["vocab"] == tokens.V
    assert 0.5e6 < sum(p.numel() for p in net.parameters()) < 1.5e6  # the "about 1M parameters"


def test_stream_batcher_resumes_to_the_same_batches() -> None:
    from tasks.math import stream
    from tasks.math.pretrain import StreamBatcher

    gen = torch.Generator()
    a = StreamBatcher(stream.TrainStream(stream.TrainConfig(seed=3)), 4)
    a.draw(gen)
    state = a.state_dict()
    nxt = a.draw(gen)[0]
    b = StreamBatcher(stream.TrainStream(stream.TrainConfig(seed=3)), 4)
    b.load_state_dict(state)
    assert torch.equal(b.draw(gen)[0], nxt) and nxt.shape == (4, tokens.L)


def test_best_of_chains_rows_keep_their_instance_prompt(task: MathTask, monkeypatch) -> None:
    """With k chains per sample (rows c·n + j), each chain of sample j carries instance j's prompt: the runner
    hands the family its stream -> instance map (owner % 900 would give row c·n + j instance (c·n + j) % 900).
    The selection is forced to the last chain, so a chain other than the first is what is checked."""
    import bench.runner as R
    from bench.meter import Meter
    from bench.method import Output
    from bench.registry import methods

    monkeypatch.setattr(R, "best_of_chains", lambda ctx, out, n: Output(out.x0[-n:], out.owner[-n:] % n,
                                                                        out.diagnostics))
    sample = R.sample

    n, chains = 5, 3
    objective = task.objective("verify")
    method = methods().get("none")
    out, inst = sample(task, objective, method, method.config(), n, 4, 0, Meter(None), chains=chains)
    table = instances.prompt_table()[inst]  # (n, L) the prompt of each returned sample's instance
    assert torch.equal(out.x0[:, : tokens.P], table[:, : tokens.P])
    assert torch.equal(inst, torch.arange(n) % objective.n_instances)
