"""`bench compare` against a `bench baseline` CSV: keys, tolerance kinds, and one perturbed method failing alone."""
from __future__ import annotations

import dataclasses
import math

import pytest

from bench import registry
from bench.baseline import D2, EXACT_REL, SMOOTH_REL, SmokeSpec, Z, baseline_rows, run_smoke, tolerance, write_baseline
from bench.cli import main
from bench.compare import collect, compare, read_baseline
from bench.records import read_records

SPEC = SmokeSpec(tasks={"gmm": ["linear"], "toyseq": ["pattern"]}, methods=["none", "best-of-n", "svdd", "smc", "dps"],
                 budgets=["4x"], seeds=[0, 1], n=4, steps=8, kernels=["native"])
META = {"seeds": "0,1", "git_sha": "test"}


@pytest.fixture(scope="module")
def smoke_baseline(tmp_path_factory):
    """A native-only baseline of the small spec (every cell exact) and its CSV."""
    root = tmp_path_factory.mktemp("smoke")
    status, _, _ = run_smoke(SPEC, root / "base")
    assert status == {"ok": 18, "incompatible": 2}  # records (2 seeds); dps needs a gradient: not on toyseq
    path = root / "smoke.csv"
    write_baseline(path, baseline_rows(collect(read_records(root / "base")), []), META)
    return path


def _failing(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.split()[0] in ("DRIFT", "MISSING", "STATUS")]


def test_rerun_matches_exactly(smoke_baseline, tmp_path):
    run_smoke(SPEC, tmp_path)
    failures, lines = compare(smoke_baseline, tmp_path)
    assert failures == 0, _failing(lines)
    meta, df = read_baseline(smoke_baseline)
    assert meta["seeds"] == "0,1" and set(df["tol_kind"]) == {"exact", "status"}
    assert {"reward", "proxy", "usage.nfe"} <= set(df["metric"]) and "sample_s" not in set(df["metric"])


def test_two_workers_match_the_one_process_baseline_exactly(smoke_baseline, tmp_path):
    """`bench smoke --workers 2` (a process pool) writes the records the one-process baseline has, value for value."""
    status, _, cpu = run_smoke(SPEC, tmp_path, workers=2)
    assert status == {"ok": 18, "incompatible": 2} and cpu > 0
    failures, lines = compare(smoke_baseline, tmp_path)
    assert failures == 0, _failing(lines)


def test_perturbing_one_method_output_fails_only_that_method(smoke_baseline, tmp_path, monkeypatch):
    method = registry.methods().get("svdd")
    run = method.run

    def shifted(ctx, cfg):  # the same samples, moved by 1e-4 on the continuous task
        out = run(ctx, cfg)
        return dataclasses.replace(out, x0=out.x0 + 1e-4) if out.x0.is_floating_point() else out
    monkeypatch.setattr(method, "run", shifted)
    run_smoke(SPEC, tmp_path)
    failures, lines = compare(smoke_baseline, tmp_path)
    bad = _failing(lines)
    assert failures == 1 and bad and all("gmm/linear/svdd/" in ln and ln.startswith("DRIFT") for ln in bad), bad


def test_changing_one_method_default_fails_only_that_method(smoke_baseline, tmp_path, monkeypatch):
    method = registry.methods().get("smc")
    fields = {f.name: f for f in dataclasses.fields(method.Config)}
    knob = "every"  # resampling interval: changes smc's output (lam would be reset to the objective's target_lam)
    new_cfg = dataclasses.make_dataclass("Config", [(name, f.type, dataclasses.field(default=(
        f.default + 1 if name == knob else f.default))) for name, f in fields.items()], frozen=True)
    monkeypatch.setattr(method, "Config", new_cfg)
    run_smoke(SPEC, tmp_path)
    failures, lines = compare(smoke_baseline, tmp_path)
    bad = _failing(lines)
    assert failures == 2 and all("/smc/" in ln and ln.startswith("MISSING") for ln in bad), bad  # new config hash
    assert sum(ln.startswith("EXTRA") and "/smc/" in ln for ln in lines) == 2


def test_other_n_or_steps_or_seeds_never_match(smoke_baseline, tmp_path):
    run_smoke(dataclasses.replace(SPEC, n=3), tmp_path / "n")
    failures, lines = compare(smoke_baseline, tmp_path / "n")
    assert failures == 10 and sum(ln.startswith("EXTRA") for ln in lines) == 10
    run_smoke(dataclasses.replace(SPEC, seeds=[0]), tmp_path / "s")
    failures, lines = compare(smoke_baseline, tmp_path / "s")
    assert failures == 9  # every ok cell lacks seed 1; the incompatible cell still matches its status


def test_status_change_fails(smoke_baseline, tmp_path):
    run_smoke(SPEC, tmp_path)
    path = tmp_path / "records" / "toyseq.jsonl"
    path.write_text(path.read_text().replace('"status": "incompatible"', '"status": "error"'))
    failures, lines = compare(smoke_baseline, tmp_path)
    assert failures == 1 and any(ln.startswith("STATUS") and "/dps/" in ln for ln in lines)


def test_cli_compare_exit_codes(smoke_baseline, tmp_path, capsys):
    run_smoke(SPEC, tmp_path)
    assert main(["compare", "--baseline", str(smoke_baseline), "--records", str(tmp_path)]) == 0
    assert main(["compare", "--baseline", str(smoke_baseline), "--records", str(tmp_path / "empty")]) == 1
    assert "MISSING" in capsys.readouterr().out


def test_tolerance_kinds():
    tol, kind, spread = tolerance([1.0, 2.0], [[1.0, 2.0], [1.0, 2.0]], 1.5)
    assert (kind, spread) == ("exact", 0.0) and tol == pytest.approx(EXACT_REL * 1.5)
    eps = 1e-6  # rounding-level difference on one kernel: a kernel tolerance from the range over 3 kernels
    tol, kind, spread = tolerance([1.0, 2.0], [[1.0 + eps, 2.0], [1.0, 2.0]], 1.5)
    assert kind == "kernel" and spread == pytest.approx(eps / 2)
    assert tol == pytest.approx(Z * math.sqrt(2) * (eps / 2) / D2[3])
    jump = 10 * SMOOTH_REL  # a flipped choice on one seed: the cross-seed term (sd of [1, 2] = 1/√2)
    tol, kind, _ = tolerance([1.0, 2.0], [[1.0 + jump, 2.0], [1.0, 2.0]], 1.5)
    assert kind == "seed" and tol == pytest.approx(Z * math.sqrt(2 / 2) / math.sqrt(2))
    assert tolerance([math.nan], [[math.nan]], math.nan)[:2] == (0.0, "exact")
    assert tolerance([math.nan], [[1.0]], math.nan)[:2] == (math.inf, "unstable")


def test_baseline_refuses_a_status_that_depends_on_the_kernel(tmp_path):
    from bench.compare import CellKey, CellRuns
    key = CellKey("gmm", "linear", "none", "h", "1x", 4, 8)
    with pytest.raises(RuntimeError, match="status"):
        baseline_rows({key: CellRuns("ok", [0], {"reward": [1.0]})}, [{key: CellRuns("error", [0])}])


def test_make_baseline_runs_each_kernel_in_a_subprocess(tmp_path):
    """`bench baseline` end to end on a two-method spec: three kernels, metadata, and a rerun that compares clean."""
    import yaml

    from bench.baseline import make_baseline
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"tasks": {"gmm": ["linear"], "toyseq": ["pattern"]}, "methods": ["none", "svdd"],
                                    "budgets": ["1x", "4x"], "seeds": [0, 1], "n": 4, "steps": 8}))
    df, walls = make_baseline(spec, tmp_path / "smoke.csv", work=tmp_path)
    meta, back = read_baseline(tmp_path / "smoke.csv")
    assert set(walls) == {"native", "avx2", "default"} and meta["kernels"] == "native,avx2,default"
    assert (meta["n"], meta["steps"], meta["budgets"], meta["seeds"]) == ("4", "8", "1x,4x", "0,1")
    assert len(back) == len(df) and set(back["tol_kind"]) <= {"exact", "kernel", "seed", "unstable"}
    assert main(["smoke", "--spec", str(spec), "--out", str(tmp_path / "rerun")]) == 0
    assert main(["compare", "--baseline", str(tmp_path / "smoke.csv"), "--records", str(tmp_path / "rerun")]) == 0


def test_a_metric_that_appears_where_the_baseline_has_nan_fails_with_a_hint(smoke_baseline, tmp_path):
    """A metric NaN in the baseline (e.g. written without an optional package) and finite now is a DRIFT that says
    so, never a silent pass: the CI once failed this way on the molecules FCD."""
    meta, df = read_baseline(smoke_baseline)
    row = (df["metric"] == "reward") & df["method"].eq("none") & df["task"].eq("gmm")
    assert row.sum() == 1
    df.loc[row, ["value", "tol"]] = [math.nan, 0.0]
    path = tmp_path / "nan.csv"
    write_baseline(path, df, meta)
    run_smoke(SPEC, tmp_path / "run")
    failures, lines = compare(path, tmp_path / "run")
    bad = _failing(lines)
    assert failures == 1 and len(bad) == 1 and "gmm/linear/none/" in bad[0] and "NaN on one side only" in bad[0], bad


def test_partial_baseline_reruns_only_the_named_tasks_and_keeps_the_rest(tmp_path):
    """`bench baseline --tasks toyseq`: toyseq rows are rerun, gmm rows are the old file's (a planted marker value
    survives), the result compares clean against a full smoke run, and a file of other settings is refused."""
    import yaml

    from bench.baseline import make_baseline
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"tasks": {"gmm": ["linear"], "toyseq": ["pattern"]}, "methods": ["none"],
                                    "budgets": ["1x"], "seeds": [0, 1], "n": 4, "steps": 8, "kernels": ["native"]}))
    out = tmp_path / "smoke.csv"
    make_baseline(spec, out, work=tmp_path)
    meta, full = read_baseline(out)
    planted = full.copy()
    gmm = (planted["task"] == "gmm") & (planted["tol_kind"] == "exact")
    toy = planted["task"] == "toyseq"
    planted.loc[gmm, "value"] = 12345.0  # rows a partial update must keep, not recompute
    planted.loc[toy, "value"] = -1.0  # rows it must recompute
    write_baseline(out, planted, meta)
    make_baseline(spec, out, work=tmp_path, tasks=["toyseq"])
    new_meta, back = read_baseline(out)
    kept = back[(back["task"] == "gmm") & (back["tol_kind"] == "exact")]
    assert len(kept) == int(gmm.sum()) > 0 and (kept["value"] == 12345.0).all()
    redone = back[back["task"] == "toyseq"]
    assert redone["value"].tolist() == full.loc[toy, "value"].tolist() and (redone["value"] != -1.0).all()
    assert len(back) == len(full) and new_meta["git_sha"] == meta["git_sha"]
    assert new_meta["updated"].startswith("tasks=toyseq@") and "smoke_wall_s native=" in new_meta["updated"]
    assert (new_meta["written_by"], new_meta["smoke_wall_s"]) == (meta["written_by"], meta["smoke_wall_s"])
    with pytest.raises(ValueError, match="not in"):
        make_baseline(spec, out, work=tmp_path, tasks=["music"])
    spec.write_text(spec.read_text().replace("n: 4", "n: 2"))
    with pytest.raises(ValueError, match="other settings"):
        make_baseline(spec, out, work=tmp_path, tasks=["toyseq"])


def test_partial_baseline_by_method_reruns_only_that_methods_cells(tmp_path):
    """`bench baseline --methods best-of-n`: best-of-n rows are rerun, every other method's rows (on every task)
    are the old file's; an unknown method is refused before any run."""
    import yaml

    from bench.baseline import make_baseline
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"tasks": {"gmm": ["linear"]}, "methods": ["none", "best-of-n"],
                                    "budgets": ["4x"], "seeds": [0], "n": 4, "steps": 8, "kernels": ["native"]}))
    out = tmp_path / "smoke.csv"
    make_baseline(spec, out, work=tmp_path)
    meta, full = read_baseline(out)
    planted = full.copy()
    keep, redo = planted["method"] == "none", planted["method"] == "best-of-n"
    planted.loc[keep, "value"] = 12345.0
    planted.loc[redo, "value"] = -1.0
    write_baseline(out, planted, meta)
    make_baseline(spec, out, work=tmp_path, methods=["best-of-n"])
    new_meta, back = read_baseline(out)
    assert (back.loc[back["method"] == "none", "value"] == 12345.0).all() and int(keep.sum()) > 0
    assert back.loc[back["method"] == "best-of-n", "value"].tolist() == full.loc[redo, "value"].tolist()
    assert len(back) == len(full) and new_meta["updated"].startswith("methods=best-of-n@")
    with pytest.raises(ValueError, match="not in"):
        make_baseline(spec, out, work=tmp_path, methods=["smc"])
