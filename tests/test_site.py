"""The static site's content without a browser: pages, links, filters, method pages, one colour per method."""
from __future__ import annotations

import re

import numpy as np
from test_report import record, save

from bench import plots, registry
from bench.report import write_report


def test_one_stable_colour_per_registered_method():
    names = registry.methods().names()
    colors = [plots.method_color(m) for m in names]
    assert len(set(colors)) == len(names)  # distinct, from the registry order (not from which records exist)
    assert plots.method_color("smc[k=8]") == plots.method_color("smc") and plots.method_marker("smc") == "o"


def test_site_pages_links_and_filters(tmp_path):
    rng = np.random.default_rng(4)
    recs = [record(tmp_path, method=m, budget=b, seed=s, values=list(rng.normal(i, 1, 8)))
            for i, m in enumerate(("none", "best-of-n", "smc")) for b in ("1x", "4x") for s in range(2)]
    recs.append(record(tmp_path, method="tds", seed=0, status="over_budget_min",
                       usage={"nfe": 0, "min_cost_per_sample": 48.0}))
    save(tmp_path, recs)
    out = tmp_path / "rep"
    write_report(tmp_path / "records", out)
    index, task = (out / "index.html").read_text(), (out / "task-gmm.html").read_text()
    assert index.index("Best per task per budget") < index.index("Ranking per budget")
    assert "over_budget_min" in index and "min cost/sample 48.0" in index
    for page in (index, task):  # every relative link and image resolves to a written file
        for ref in re.findall(r'(?:href|src)="([^"#]+)', page):
            assert (out / ref).is_file(), ref
    for key in ("objective", "budget", "metric", "kind"):
        assert f'data-filter="{key}"' in task
    assert task.count("<tr data-budget=") == 3 * 2 * len(recs[0]["metrics"])  # every cell × metric is a row
    smc = (out / "method-smc.html").read_text()
    assert registry.methods().get("smc").paper in smc and "Update rule" in smc and "return_all" in smc
    assert f"background:{plots.method_color('smc')}" in smc
