"""leaderboard.md: best per task per budget, the ranking per budget, then one section per task × objective."""
from __future__ import annotations

from pathlib import Path

from bench import stats
from bench.report import anchors, text
from bench.report.model import HEADER, KEY_TEXT, RANK_TEXT, Report, unscored

ALT = str.maketrans("[]", "()")  # brackets would end a markdown image's alt text


def _table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in [header, *rows]]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in esc[1:]]) + "\n"


def best_section(rep: Report) -> str:
    rows = [[e.task, e.objective + rep.stale_mark(e.task, e.objective), e.budget,
             e.method + text.same_as(e.cell) + (f" (tied: {', '.join(b.tied)})" if b.tied else ""), e.cell.main,
             text.interval(e.cell.interval(e.cell.main)), text.size(e.cell.interval(e.cell.main)),
             text.comparison(e.vs_reference)] for b in rep.best for e in [b.entry]]
    return "\n## Best per task per budget\n\n" + _table(
        ["task", "objective", "budget", "best method", "metric", "mean [95% CI]", "n×seeds", "vs best-of-n"], rows)


def anchors_section(rep: Report) -> str:
    rows = anchors.table_rows(rep.entries)
    if not rows:
        return ""
    notes = "".join(f"- {task}: {why}.\n" for task, why in anchors.differences())
    return (f"\n## The anchors' claims beside ours\n\n{anchors.INTRO}\n\n" + _table(anchors.HEADER, rows)
            + f"\nWhere our setting differs:\n\n{notes}")


def ranking_section(rep: Report) -> str:
    out = ["\n## Ranking per budget\n\n" + RANK_TEXT + "\n"]
    for budget, rows in rep.standings.items():
        body = [[str(i), s.method, text.pct(s.win_rate), text.num(s.norm, 3), str(s.tasks), str(s.forfeits),
                 str(s.natural_flags)] for i, s in enumerate(rows, 1)]
        out.append(f"\n### {budget}\n\n" + _table(
            ["rank", "method", "mean win rate", "mean normalised score", "task×objectives", "forfeits", "natural"],
            body))
    return "".join(out)


def _grid(rep: Report, task: str, objective: str, cell_text) -> str:
    by_budget = rep.ranked(task, objective)
    budgets = list(by_budget)
    methods = sorted({m for at in by_budget.values() for m in at})
    rows = [[m] + [cell_text(by_budget[b][m]) if m in by_budget[b] else "–" for b in budgets] for m in methods]
    return _table(["method", *budgets], rows)


def _task_section(rep: Report, task: str, objective: str) -> str:
    cells = rep.frame.groups()[(task, objective)]
    main = cells[0].main
    n, steps = rep.setting(task, objective)
    obj = cells[0].objective
    natural = ", ".join(obj.naturalness) or "none declared"
    out = [f"\n## {task} / {objective} — {main} ({cells[0].info(main).display}, "
           f"{'higher' if cells[0].info(main).higher_is_better else 'lower'} is better)\n\n",
           f"**{rep.stale[(task, objective)]}.**\n\n" if (task, objective) in rep.stale else "",
           f"n = {n} samples per seed, {steps} steps. Naturalness metrics: {natural}.\n\n",
           "Mean [95% CI] (n×seeds):\n\n",
           _grid(rep, task, objective,
                 lambda c: f"{text.interval(c.interval(main))} ({text.size(c.interval(main))}){text.same_as(c)}"),
           "\nPaired against best-of-n at the same budget (matched seeds; difference in the metric, 95% CI):\n\n",
           _grid(rep, task, objective, lambda c: text.comparison(e.vs_reference) if (e := rep.entry(c)) else "–"),
           "\nNormalised score / win rate / naturalness worse than none:\n\n",
           _grid(rep, task, objective, lambda c: _rank_text(rep, c)),
           "\nProxy reward (what the methods optimised):\n\n",
           _grid(rep, task, objective, lambda c: text.interval(c.interval("proxy"))),
           "\nForward-equivalents per returned sample:\n\n",
           _grid(rep, task, objective, lambda c: text.num(c.cost))]
    others = rep.others(task, objective)
    if others:
        out += ["\nCells at other settings (not ranked):\n\n", _table(
            ["method", "budget", "n", "steps", "config", "mean [95% CI]", "n×seeds"],
            [[c.key.method, c.key.budget, str(c.key.n), str(c.key.steps), c.key.config_hash[:8],
              text.interval(c.interval(main)), text.size(c.interval(main))] for c in others])]
    for kind, path in sorted(rep.figures.get((task, objective), {}).items()):
        out.append(f"\n![{task} {objective} {kind}]({path.as_posix()})\n")
    shots = [(c, rep.galleries[c.key]) for c in cells if c.key in rep.galleries]
    if shots:
        out.append("\nSamples (lowest seed):\n\n" + "\n".join(
            f"![{f'{c.key.method} {c.key.budget}'.translate(ALT)}]({p.as_posix()})" for c, p in shots) + "\n")
    return "".join(out)


def _rank_text(rep: Report, cell) -> str:
    e = rep.entry(cell)
    if e is None:
        return "–"
    flag = (" ⚠ " + ",".join(e.natural_worse)) if e.natural_worse else ""
    return f"{text.num(e.norm, 3)} / {text.pct(e.win_rate)}{flag}"


def unscored_section(rep: Report) -> str:
    rows = [[u.task, u.objective, u.method, u.budget, str(u.seed), u.status, text.num(u.cost), u.detail]
            for u in unscored(rep.frame)]
    return "\n## Records not scored\n\n" + _table(
        ["task", "objective", "method", "budget", "seed", "status", "cost/sample", "detail"], rows) if rows else ""


def write(rep: Report, path: Path) -> Path:
    """Write leaderboard.md."""
    parts = [HEADER, "# guidebench leaderboard\n\n", f"Statistics: {stats.METHOD_TEXT}\n\n{KEY_TEXT}\n"]
    if rep.notes:
        parts.append("\nRecord problems accepted by --allow-dirty / --allow-mixed:\n\n" +
                     "".join(f"- {n}\n" for n in rep.notes))
    if rep.missing_text():
        parts.append(f"\n{rep.missing_text()}\n")
    if rep.stale:
        parts.append("\nTables from an older task version (marked (stale) below):\n\n" +
                     "".join(f"- {t} / {o}: {line}\n" for (t, o), line in rep.stale.items()))
    parts += [best_section(rep), ranking_section(rep), anchors_section(rep)]
    parts += [_task_section(rep, t, o) for t, o in rep.frame.groups()]
    parts.append(unscored_section(rep))
    path.write_text("".join(parts))
    return path
