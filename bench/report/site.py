"""The static web site: overview (best per task, ranking per budget, unscored records), one page per task
(figures, a sortable and filterable table of every cell × metric, galleries), one page per method."""
from __future__ import annotations

from html import escape
from pathlib import Path

from bench import stats
from bench.report import anchors, text
from bench.report.frame import Cell, budget_x
from bench.report.html import Row, Td, figure, filters, method_link, page, table, task_page
from bench.report.methods import method_pages, method_papers
from bench.report.model import KEY_TEXT, RANK_TEXT, Report, unscored
from bench.report.ranking import Entry

ASSETS = Path(__file__).resolve().parent.parent / "site"


def nav(rep: Report) -> list[tuple[str, str]]:
    tasks = sorted({t for t, _ in rep.frame.groups()})
    return [("overview", "index.html")] + [(t, task_page(t)) for t in tasks] + [("methods", "index.html#methods")]


def _cmp_td(c: stats.Comparison | None) -> Td:
    return Td(text.comparison(c), sort=c.diff if c is not None else None, cls=c.outcome if c is not None else "")


def _with_ties(method: str, tied: tuple[str, ...]) -> str:
    return method_link(method) + (" <small>(tied: " + ", ".join(method_link(t) for t in tied) + ")</small>"
                                  if tied else "")


def best_table(rep: Report) -> str:
    rows = [Row([Td(html=f'<a href="{task_page(e.task)}">{escape(e.task)}</a>'),
                 Td(e.objective + rep.stale_mark(e.task, e.objective),
                    cls="flag" if rep.stale_mark(e.task, e.objective) else ""),
                 Td(e.budget, sort=budget_x(e.budget)), Td(html=_with_ties(e.method, b.tied)), Td(e.cell.main),
                 Td(text.interval(e.cell.interval(e.cell.main)), sort=e.value),
                 Td(text.size(e.cell.interval(e.cell.main))), _cmp_td(e.vs_reference)])
            for b in rep.best for e in [b.entry]]
    return table(["task", "objective", "budget", "best method", "metric", "mean [95% CI]", "n×seeds",
                  "vs best-of-n"], rows, "best")


def ranking_tables(rep: Report) -> str:
    out = []
    for budget, rows in rep.standings.items():
        body = [Row([Td(str(i), sort=i), Td(html=method_link(s.method)), Td(text.pct(s.win_rate), sort=s.win_rate),
                     Td(text.num(s.norm, 3), sort=s.norm), Td(str(s.tasks), sort=s.tasks),
                     Td(str(s.forfeits), sort=s.forfeits),
                     Td(str(s.natural_flags), sort=s.natural_flags, cls="flag" if s.natural_flags else "")])
                for i, s in enumerate(rows, 1)]
        out.append(f"<h3>{escape(budget)}</h3>\n" + table(
            ["rank", "method", "mean win rate", "mean normalised score", "task×objectives", "forfeits", "natural ⚠"],
            body,
            f"rank-{budget}"))
    return "".join(out)


def unscored_table(rep: Report) -> str:
    rows = [Row([Td(u.task), Td(u.objective), Td(html=method_link(u.method)), Td(u.budget, sort=budget_x(u.budget)),
                 Td(str(u.seed), sort=u.seed), Td(u.status), Td(text.num(u.cost), sort=u.cost), Td(u.detail)],
                {"status": u.status}) for u in unscored(rep.frame)]
    return table(["task", "objective", "method", "budget", "seed", "status", "cost/sample", "detail"], rows,
                 "unscored") if rows else "<p>none</p>\n"


def method_list(rep: Report) -> str:
    """Every method page, with the method's paper."""
    items = "".join(f"<li>{method_link(key)} <small>{escape(paper)}</small></li>"
                    for key, paper in method_papers(rep).items())
    return f"<ul>{items}</ul>\n"


def anchors_html(rep: Report) -> str:
    rows = [Row([Td(c) for c in r]) for r in anchors.table_rows(rep.entries)]
    if not rows:
        return ""
    why = "".join(f"<li>{escape(t)}: {escape(d)}</li>" for t, d in anchors.differences())
    return (f"<h2>The anchors' claims beside ours</h2>\n<p class=\"note\">{escape(anchors.INTRO)}</p>\n"
            + table(anchors.HEADER, rows, "anchors") + f'<details class="note"><summary>Where our setting differs'
            f"</summary><ul>{why}</ul></details>\n")


def index_page(rep: Report) -> str:
    notes = "".join(f"<li>{escape(n)}</li>" for n in rep.notes)
    body = [f'<p class="note">Statistics: {escape(stats.METHOD_TEXT)}</p><p class="note">{escape(KEY_TEXT)}</p>',
            f'<details class="note"><summary>{len(rep.notes)} accepted record problem(s) (--allow-dirty / '
            f'--allow-mixed)</summary><ul>{notes}</ul></details>' if notes else "",
            f'<details class="note flag"><summary>{len(rep.missing_samples)} record(s) without a per-sample file'
            f'</summary><p>{escape(rep.missing_text())}</p></details>' if rep.missing_text() else "",
            f'<details class="note flag"><summary>{len(rep.stale)} table(s) from an older task version</summary>'
            f'<ul>{"".join(f"<li>{escape(t)} / {escape(o)}: {escape(x)}</li>" for (t, o), x in rep.stale.items())}'
            '</ul></details>' if rep.stale else "",
            "<h2>Best per task per budget</h2>\n", best_table(rep),
            f'<h2>Ranking per budget</h2>\n<p class="note">{escape(RANK_TEXT)}</p>\n', ranking_tables(rep),
            anchors_html(rep),
            "<h2>Records not scored</h2>\n", unscored_table(rep), "<h2 id=\"methods\">Methods</h2>\n",
            method_list(rep)]
    return page("guidebench leaderboard", "".join(body), nav(rep))


def _metric_row(c: Cell, metric: str, e: Entry | None, gallery: Td) -> Row:
    """One cell × metric row; the ranking columns are filled on the main metric of a ranked cell only."""
    iv, main = c.interval(metric), metric == c.main
    ranked = e if main else None
    return Row([
        Td(c.key.objective), Td(html=method_link(c.key.method) + escape(text.same_as(c))),
        Td(c.key.budget, sort=c.key.budget_x),
        Td(str(c.key.n), sort=c.key.n), Td(str(c.key.steps), sort=c.key.steps),
        Td(metric + (" (main)" if main else "")), Td(text.num(iv.mean), sort=iv.mean),
        Td(f"[{text.num(iv.lo)}, {text.num(iv.hi)}]" if iv.has_interval else text.NA, sort=iv.lo),
        Td(text.size(iv)), Td(iv.kind), Td(text.num(c.cost), sort=c.cost),
        _cmp_td(ranked.vs_reference) if ranked else Td("–"),
        Td(text.num(ranked.norm, 3), sort=ranked.norm) if ranked else Td("–"),
        Td(text.pct(ranked.win_rate), sort=ranked.win_rate) if ranked else Td("–"),
        Td(", ".join(ranked.natural_worse), cls="flag") if ranked else Td(""), gallery],
        {"objective": c.key.objective, "budget": c.key.budget, "metric": metric, "kind": "main" if main else "other"})


def _cell_rows(rep: Report, task: str) -> list[Row]:
    rows = []
    for (t, _), cells in rep.frame.groups().items():
        for c in cells if t == task else []:
            shot = rep.galleries.get(c.key)
            link = Td(html=f'<a href="{escape(shot.as_posix())}">samples</a>') if shot else Td("–")
            rows += [_metric_row(c, m, rep.entry(c), link) for m in c.metrics]
    return rows


def task_body(rep: Report, task: str) -> str:
    groups = [(o, cells) for (t, o), cells in rep.frame.groups().items() if t == task]
    out = [f'<p class="note">Statistics: {escape(stats.METHOD_TEXT)}</p>']
    for obj, cells in groups:
        n, steps = rep.setting(task, obj)
        natural = ", ".join(cells[0].objective.naturalness) or "none declared"
        out.append(f"<h2>{escape(obj)}</h2>\n<p class=\"note\">main metric {escape(cells[0].main)}; ranked cells "
                   f"at n = {n}, {steps} steps; naturalness metrics: {escape(natural)}</p>\n")
        if (task, obj) in rep.stale:
            out.append(f'<p class="note flag">{escape(rep.stale[(task, obj)])}</p>\n')
        out += [figure(p.as_posix(), f"{task} / {obj}: {kind}")
                for kind, p in sorted(rep.figures.get((task, obj), {}).items())]
    rows = _cell_rows(rep, task)
    options = {k: sorted({r.data[k] for r in rows}, key=budget_x if k == "budget" else str)
               for k in ("objective", "budget", "metric", "kind")}
    out += ["<h2>All cells</h2>\n", filters(f"cells-{task}", options, {"kind": "main"}),
            table(["objective", "method", "budget", "n", "steps", "metric", "mean", "95% CI", "n×seeds",
                   "CI method", "cost/sample", "vs best-of-n", "norm. score", "win rate", "natural ⚠", "gallery"], rows,
                  f"cells-{task}")]
    shots = [(c, rep.galleries[c.key]) for _, cells in groups for c in cells if c.key in rep.galleries]
    if shots:
        out.append('<h2>Samples (lowest seed)</h2>\n<div class="gallery">' + "".join(
            figure(p.as_posix(), f"{c.key.objective} {c.key.method} {c.key.budget} n={c.key.n}") for c, p in shots)
                   + "</div>\n")
    return "".join(out)


def write(rep: Report, out: Path) -> list[Path]:
    """Write index.html, task-*.html, method-*.html and assets/ under ``out``; return the paths."""
    (out / "assets").mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("site.css", "site.js"):
        (out / "assets" / name).write_bytes((ASSETS / name).read_bytes())
        written.append(out / "assets" / name)
    pages = {"index.html": index_page(rep)}
    for task in sorted({t for t, _ in rep.frame.groups()}):
        pages[task_page(task)] = page(f"{task}", task_body(rep, task), nav(rep))
    pages.update({name: page(title, body, nav(rep)) for name, (title, body) in method_pages(rep).items()})
    for name, html in sorted(pages.items()):
        (out / name).write_text(html)
        written.append(out / name)
    return written
