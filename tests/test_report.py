"""The report's statistics, hygiene, cell keys and ranking, on synthetic records written to a temp results folder."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import stats
from bench.cli import main
from bench.records import read_records, write_samples
from bench.report import build_frame, write_report
from bench.report.hygiene import RecordHygieneError
from bench.report.model import compute

N_BOOT_TEST = 400  # per-interval resamples in the coverage test (quantile noise is small next to the binomial)


def record(root: Path, method: str = "none", budget: str = "1x", seed: int = 0, values: list[float] | None = None,
           n: int = 8, steps: int = 8, hib: bool = True, natural: dict[str, list[float]] | None = None,
           **fields) -> dict:
    """A schema-complete record of task gmm (objective linear) with per-sample ``score`` values in its rows."""
    values = values if values is not None else [0.0] * n
    natural = natural or {}
    rows = [{"score": v, "proxy": v, "oracle": v, **{k: vs[i] for k, vs in natural.items()}, "index": i}
            for i, v in enumerate(values)]
    run_id = f"gmm_linear_{method}_{budget}_{seed}_n{n}_T{steps}_{fields.get('git_sha', 'sha0')}"
    metrics = {"score": float(np.mean(values)), "proxy": float(np.mean(values)),
               **{k: float(np.mean(v)) for k, v in natural.items()}}
    meta = {"score": {"display": "score", "higher_is_better": hib, "per_sample": True, "naturalness": False},
            "proxy": {"display": "proxy", "higher_is_better": True, "per_sample": False, "naturalness": False},
            **{k: {"display": k, "higher_is_better": True, "per_sample": True, "naturalness": True} for k in natural}}
    bx = float(budget.rstrip("x"))
    rec = {"schema_version": 1, "run_id": run_id, "git_sha": "sha0", "git_dirty": False, "task": "gmm",
           "task_version": "1", "objective": "linear", "method": method, "method_version": "1", "config": {},
           "config_hash": f"h-{method}-{budget}-{n}-{steps}", "cell": f"gmm|linear|{method}|{budget}|{seed}",
           "seed": seed, "n": n, "steps": steps, "n_samples": n, "main_metric": "score", "status": "ok",
           "error": None, "metrics": metrics, "metric_meta": meta, "overrides": {},
           "objective_meta": {"exact_proxy": True, "target_lam": None, "naturalness": sorted(natural)},
           "budget": {"name": budget, "nfe": bx * steps, "nfe_total": bx * steps * n},
           "usage": {"nfe": int(bx * steps * n), "cost": bx * steps * n, "cost_per_sample": bx * steps},
           "samples_path": write_samples(root, "gmm", run_id, rows)}
    rec.update(fields)
    return rec


def save(root: Path, recs: list[dict]) -> Path:
    path = root / "records" / "gmm.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return root


def test_nested_bootstrap_covers_the_true_mean_at_the_nominal_rate():
    """Seeds with a random effect (sd 1) and samples (sd 1): coverage of the true mean 0 over R synthetic cells
    matches the expected coverage of this design within 3 binomial standard deviations. The expected coverage is
    not exactly 95%: a percentile bootstrap over S seeds scales the variance by (S-1)/S, the nested resampling adds
    the within-seed variance once more, and the seed-mean spread is a chi-square with S-1 degrees of freedom."""
    from scipy.stats import t as student_t

    reps, n_seeds, n, sd_seed, sd = 300, 30, 10, 1.0, 1.0
    rng = np.random.default_rng(0)
    between = sd_seed**2 + sd**2 / n
    ratio = ((n_seeds - 1) / n_seeds * between + sd**2 * (n - 1) / n**2) / between  # bootstrap var / true var
    expected = 2 * student_t.cdf(1.959964 * math.sqrt(ratio), n_seeds - 1) - 1
    hits = 0
    for _ in range(reps):
        groups = [rng.normal(rng.normal(0, sd_seed), sd, n) for _ in range(n_seeds)]
        iv = stats.nested_interval(groups, n_boot=N_BOOT_TEST)
        hits += iv.lo <= 0 <= iv.hi
    tol = 3 * math.sqrt(expected * (1 - expected) / reps)
    assert abs(hits / reps - expected) <= tol, (hits / reps, expected, tol)


def test_pooled_samples_would_undercover_so_the_coverage_test_can_fail():
    """The same design resampling samples only (ignoring seeds) covers far less often: the test above detects it."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(100):
        pooled = np.concatenate([rng.normal(rng.normal(0, 1.0), 1.0, 10) for _ in range(30)])
        hits += (iv := stats.nested_interval([pooled], n_boot=N_BOOT_TEST)).lo <= 0 <= iv.hi
    assert hits / 100 < 0.8


def test_set_level_interval_needs_enough_seeds_and_is_deterministic():
    assert stats.MIN_SEEDS == 4  # 3**-3 = 3.7% > 2.5%: with 3 seeds the lower end would be the lowest seed
    iv = stats.seed_interval([0.5])
    assert not iv.has_interval and iv.seeds == 1 and iv.kind == "none"
    for k in range(2, stats.MIN_SEEDS):  # Student t below MIN_SEEDS, wider than the seeds' range
        iv = stats.seed_interval([float(i) for i in range(k)])
        assert iv.kind == "t" and iv.seeds == k and iv.mean == pytest.approx((k - 1) / 2)
        assert iv.lo < 0 and iv.hi > k - 1
    a, b = stats.seed_interval([0.1, 0.5, 0.3, 0.9]), stats.seed_interval([0.1, 0.5, 0.3, 0.9])
    assert a == b and a.has_interval and 0.1 < a.lo < a.mean < a.hi < 0.9


def test_paired_comparison_win_tie_loss():
    rng = np.random.default_rng(2)
    base = {s: rng.normal(0, 1, 32) for s in range(3)}
    plus = {s: v + 0.5 for s, v in base.items()}
    assert stats.paired_nested(plus, base, True).outcome == "win"
    assert stats.paired_nested(plus, base, False).outcome == "loss"
    same = stats.paired_nested(base, base, True)
    assert same.outcome == "tie" and same.diff == 0
    shifted = {s: rng.normal(0, 1, 20) for s in range(3)}  # unequal sizes: unpaired within seeds, still seeded
    c1, c2 = stats.paired_nested(shifted, base, True), stats.paired_nested(shifted, base, True)
    assert c1 == c2 and c1.lo < c1.diff < c1.hi
    few = stats.paired_seeds({0: 1.0, 1: 2.0}, {0: 0.0, 1: 0.0, 2: 5.0}, True)  # matched seeds 0, 1: diffs 1, 2
    assert few.seeds == 2 and few.diff == 1.5 and few.outcome == "tie"  # t interval 1.5 ± 12.7·0.5 covers 0
    assert stats.paired_seeds({0: 1.0}, {0: 0.0}, True).outcome == "n/a"  # one seed: no interval


def test_report_refuses_dirty_and_mixed_records(tmp_path, capsys):
    recs = [record(tmp_path, seed=0), record(tmp_path, seed=1, git_dirty=True, run_id="the-dirty-one")]
    save(tmp_path, recs)
    assert main(["report", "--records", str(tmp_path), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert "the-dirty-one" in err and "--allow-dirty" in err
    assert main(["report", "--records", str(tmp_path), "--out", str(tmp_path / "rep"), "--allow-dirty"]) == 0
    save(tmp_path, [record(tmp_path, seed=0), record(tmp_path, seed=1, method_version="2", run_id="v2-run")])
    with pytest.raises(RecordHygieneError, match="allow-mixed") as err:
        write_report(tmp_path / "records", tmp_path / "rep")
    assert "v2-run" in str(err.value) and "method_version" in str(err.value)
    write_report(tmp_path / "records", tmp_path / "rep", allow_mixed=True)
    assert "method_version" in (tmp_path / "rep" / "leaderboard.md").read_text()


def test_tables_of_one_task_may_come_from_different_commits_but_one_table_may_not(tmp_path):
    from bench.report.hygiene import mixed_problems
    a = record(tmp_path, seed=0, git_sha="a" * 40)
    b = {**record(tmp_path, seed=0, git_sha="b" * 40), "objective": "other"}
    assert mixed_problems([a, b]) == []
    c = record(tmp_path, seed=1, git_sha="c" * 40)
    assert any("git_sha" in p for p in mixed_problems([a, b, c]))


def test_cells_never_pool_runs_of_different_n_or_steps(tmp_path):
    recs = [record(tmp_path, seed=s, values=[1.0] * 8) for s in range(2)]
    recs += [record(tmp_path, seed=0, n=4, values=[5.0] * 4), record(tmp_path, seed=0, steps=16, values=[7.0] * 8)]
    frame = build_frame(recs, tmp_path)
    means = sorted((c.key.n, c.key.steps, c.interval("score").mean, len(c.records)) for c in frame.cells)
    assert means == [(4, 8, 5.0, 1), (8, 8, 1.0, 2), (8, 16, 7.0, 1)]
    rep = compute(frame, [])
    assert rep.setting("gmm", "linear") == (8, 8) and len(rep.others("gmm", "linear")) == 2


@pytest.mark.parametrize("hib", [True, False])
def test_ranking_normalised_score_and_win_rate(tmp_path, hib):
    sign = 1.0 if hib else -1.0
    recs = [record(tmp_path, method=m, seed=s, hib=hib, values=list(sign * v + np.arange(8) * 0.01))
            for m, v in (("none", 0.0), ("best-of-n", 1.0), ("smc", 2.0)) for s in range(2)]
    rep = compute(build_frame(recs, tmp_path), [])
    got = {e.method: (round(e.norm, 6), e.win_rate) for e in rep.entries}
    assert got == {"none": (0.0, 0.0), "best-of-n": (0.5, 0.5), "smc": (1.0, 1.0)}
    assert [s.method for s in rep.standings["1x"]] == ["smc", "best-of-n", "none"]
    assert [(b.entry.method, b.tied) for b in rep.best] == [("smc", ())]
    vs = {e.method: e.vs_reference.outcome for e in rep.entries if e.vs_reference}
    assert vs == {"none": "loss", "smc": "win"}


def test_naturalness_flag_and_unscored_records(tmp_path):
    good, bad = [1.0] * 8, [1.0, 0.0] * 4
    recs = [record(tmp_path, method="none", seed=s, natural={"validity": good}) for s in range(2)]
    recs += [record(tmp_path, method="smc", seed=s, values=[1.0] * 8, natural={"validity": bad}) for s in range(2)]
    recs += [record(tmp_path, method="tds", seed=0, status="error", error="RuntimeError: boom\ntrace")]
    save(tmp_path, recs)
    write_report(tmp_path / "records", tmp_path / "rep")
    rep = compute(build_frame(recs, tmp_path), [])
    assert {e.method: e.natural_worse for e in rep.entries} == {"none": (), "smc": ("validity",)}
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    assert "⚠ validity" in md and "| gmm | linear | tds | 1x | 0 | error |" in md and "RuntimeError: boom" in md
    assert "tds" not in {c.method for c in rep.frame.cells}


def test_old_records_fall_back_to_nfe_equiv_and_declared_metrics(tmp_path):
    old = record(tmp_path, metrics={"reward": 0.5, "proxy": 0.5}, main_metric="reward", usage={"nfe": 64,
                 "nfe_equiv": 96}, samples_path=None)
    for k in ("metric_meta", "objective_meta"):
        del old[k]
    cell = build_frame([old], tmp_path).cells[0]
    assert cell.cost == 96 / 8 and cell.info("reward").higher_is_better and not cell.info("reward").per_sample
    assert cell.interval("reward").mean == 0.5 and not cell.interval("reward").has_interval


def test_same_records_give_byte_identical_reports(tmp_path):
    rng = np.random.default_rng(3)
    recs = [record(tmp_path, method=m, budget=b, seed=s, values=list(rng.normal(i, 1, 8)),
                   natural={"validity": list(rng.uniform(0, 1, 8))})
            for i, m in enumerate(("none", "best-of-n", "smc")) for b in ("1x", "4x") for s in range(3)]
    save(tmp_path, recs)
    trees = []
    for name in ("a", "b"):
        written = write_report(tmp_path / "records", tmp_path / name)
        trees.append({p.relative_to(tmp_path / name).as_posix(): p.read_bytes() for p in written})
    assert trees[0] == trees[1]
    assert {"leaderboard.md", "index.html", "task-gmm.html", "method-smc.html", "assets/site.js",
            "figures/gmm_linear.png", "figures/gmm_linear_pareto.png", "figures/gmm_linear_proxy.png"} <= set(trees[0])
    assert b"tEXt" not in trees[0]["figures/gmm_linear.png"]  # no Software tag or other text chunks
    md = trees[0]["leaderboard.md"].decode()
    assert md.index("Best per task per budget") < md.index("Ranking per budget") < md.index("## gmm / linear")
    assert "8×3" in md and "nested" in md


def test_t_quantiles_match_scipy():
    scipy_stats = pytest.importorskip("scipy.stats", reason='needs scipy: pip install -e ".[dev]"')
    for df, q in stats.T975.items():
        assert q == pytest.approx(float(scipy_stats.t.ppf(0.975, df)), rel=1e-12)
    assert set(stats.T975) == set(range(1, stats.MIN_SEEDS - 1))


def test_t_interval_covers_at_nominal_rate():
    rng = np.random.default_rng(5)
    for k in (2, 3):
        hits = sum((iv := stats.seed_interval(list(rng.normal(0.0, 1.0, k)))).lo <= 0 <= iv.hi for _ in range(2000))
        # 95% nominal: binomial sd of the hit rate over 2000 trials is 0.0049; 4.5 sd either side
        assert abs(hits / 2000 - 0.95) < 0.022, (k, hits)


def test_over_budget_min_forfeits_and_the_normalised_floor(tmp_path):
    """A method whose chain does not fit the cap forfeits the cell (win rate 0, counted); a catastrophic score
    counts as -1 in the normalised mean, so it cannot outweigh the rest; standings order by win rate first."""
    recs = [record(tmp_path, method=m, seed=s, values=[v + 0.01 * i for i in range(8)])
            for m, v in (("none", 0.0), ("best-of-n", 1.0), ("smc", 2.0), ("tfg", -50.0)) for s in range(2)]
    recs += [record(tmp_path, method="dps", seed=s, status="over_budget_min", metrics={}) for s in range(2)]
    rep = compute(build_frame(recs, tmp_path), [])
    at = {s.method: s for s in rep.standings["1x"]}
    assert at["dps"].forfeits == 1 and at["dps"].tasks == 1 and at["dps"].win_rate == 0.0
    assert at["tfg"].norm == -1.0  # (-50 - 0) / (2 - 0) = -25, floored
    assert [s.method for s in rep.standings["1x"]][:3] == ["smc", "best-of-n", "none"]


def test_cells_whose_sized_config_is_another_method_are_marked(tmp_path, caplog):
    """best-of-n sized to N = 1 is `none`: the report says so beside its numbers (markdown grid, best table, site);
    a config this checkout cannot rebuild is reported as unchecked, not as a failure."""
    recs = [record(tmp_path, method="none", seed=s, values=[0.0] * 8) for s in range(2)]
    recs += [record(tmp_path, method="best-of-n", seed=s, values=[1.0] * 8, config={"N": 1}) for s in range(2)]
    recs += [record(tmp_path, method="best-of-n", budget="4x", seed=s, values=[2.0] * 8, config={"N": 4})
             for s in range(2)]
    recs += [record(tmp_path, method="svdd", seed=s, values=[0.5] * 8, config={"bogus": 1}) for s in range(2)]
    recs += [record(tmp_path, method="smc", seed=s, values=[0.7] * 8, config={"k": 1}, base="cfg:3",
                    config_hash="h-smc-base") for s in range(2)]  # one particle on a cfg base is cfg alone
    save(tmp_path, recs)
    written = write_report(tmp_path / "records", tmp_path / "out")
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert md.count("(≡ none)") == 2  # the 1x grid cell and the 1x best-of-task row; 4x (N = 4) is unmarked
    assert "≡ best-of-n" not in md
    site = (tmp_path / "out" / "task-gmm.html").read_text()
    assert "(≡ none)" in site
    assert "cannot rebuild the config of svdd" in caplog.text
    frame = build_frame(recs, tmp_path)
    assert {c.key.method: c.reduces_to for c in frame.cells if c.key.budget == "1x"} == {
        "none": None, "best-of-n": "none", "svdd": None, "smc on cfg:3": "cfg:3"}
    assert written


def test_tables_of_an_older_task_version_are_marked_stale(tmp_path):
    """A table whose records ran under another task version than this checkout's (new weights, changed scoring)
    is listed at the top and marked (stale) in the best table and its own section; a current one is not."""
    from bench import registry
    now = str(registry.tasks().get("gmm").version)
    old = str(int(now) - 1)
    recs = [record(tmp_path, method=m, seed=s, task_version=old) for m in ("none", "best-of-n") for s in (0, 1)]
    recs += [{**record(tmp_path, method=m, seed=s, task_version=now), "objective": "bump",
              "cell": f"gmm|bump|{m}|1x|{s}"} for m in ("none", "best-of-n") for s in (0, 1)]
    out = tmp_path / "report"
    write_report(save(tmp_path, recs) / "records", out)
    md = (out / "leaderboard.md").read_text()
    line = f"stale: task gmm version {old} (this checkout: {now})"
    assert f"- gmm / linear: {line}" in md and "gmm / bump: stale" not in md
    assert "| gmm | linear (stale) |" in md and "| gmm | bump |" in md
    section = md.split("## gmm / linear")[1].split("\n## ")[0]
    assert f"**{line}" in section and "stale" not in md.split("## gmm / bump")[1].split("\n## ")[0]
    assert "1 table(s) from an older task version" in (out / "index.html").read_text()


@pytest.mark.parametrize("hib", [True, False])
def test_anchor_claims_compare_the_familys_best_with_the_best_other_guidance_method(tmp_path, hib):
    """The claim's form on records: the family's best cell against the best other cell (none excluded), gain in
    percent of the other's value, positive when the family is better under either metric direction."""
    from bench.report import anchors
    from bench.report.model import compute
    vals = {"none": 9.0, "best-of-n": 2.0, "svdd": 4.0, "smc": 3.0}  # per-sample constant scores
    recs = [record(tmp_path, method=m, seed=s, values=[v + 0.01 * s] * 8, hib=hib)
            for m, v in vals.items() for s in (0, 1)]
    save(tmp_path, recs)
    rep = compute(build_frame(read_records(tmp_path / "records"), tmp_path), [])
    claim = anchors.GainClaim("test", "toy", 10.0, "gmm", "linear", ("svdd", "smc"), "-")
    (row,) = anchors.gain_rows(rep.entries, (claim,))
    ours, other = ("svdd", "best-of-n") if hib else ("smc", "best-of-n")
    assert (row.ours.method, row.best_other.method, row.budget) == (ours, other, "1x")  # none (9.0) never counts
    want = 100 * ((4.005 - 2.005) if hib else (2.005 - 3.005)) / 2.005
    assert row.gain_pct == pytest.approx(want)
