"""One page per method: its paper, update rule (the method module's docstring), config defaults, and its cells."""
from __future__ import annotations

import dataclasses
import inspect
import logging
from html import escape
from typing import Any

from bench import registry
from bench.report import text
from bench.report.frame import budget_x
from bench.report.html import Row, Td, method_link, method_page, table, task_page
from bench.report.model import Report

log = logging.getLogger(__name__)


def _method(key: str) -> Any | None:
    try:
        return registry.methods().get(key)
    except (registry.UnknownName, ImportError) as err:
        log.warning("method %r not importable here: %s", key, err)
        return None


def _config_table(m: Any) -> str:
    rows = []
    for f in dataclasses.fields(m.Config):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)")
        rows.append(Row([Td(f.name), Td(repr(default)), Td(str(f.type))]))
    return table(["field", "default", "type"], rows, "config")


def _about(key: str, m: Any | None) -> str:
    if m is None:
        return "<p>This method is not in this checkout's registry.</p>\n"
    doc = inspect.getdoc(inspect.getmodule(type(m))) or "(no module docstring)"
    return (f"<p><b>Paper:</b> {escape(m.paper or 'n/a')}</p>\n<p><b>Version</b> {escape(str(m.version))}; "
            f"supports {escape(', '.join(sorted(m.supports)))}; needs reward gradients: {m.needs_grad}; "
            f"couples particles: {m.population}.</p>\n<h2>Update rule</h2>\n<pre class=\"doc\">{escape(doc)}</pre>\n"
            f"<h2>Config defaults</h2>\n{_config_table(m)}")


def _cells_table(rep: Report, key: str) -> str:
    rows = []
    for e in sorted((e for e in rep.entries if e.cell.method == key),
                    key=lambda e: (e.task, e.objective, budget_x(e.budget), e.method)):
        iv = e.cell.interval(e.cell.main)
        rows.append(Row([Td(html=f'<a href="{task_page(e.task)}">{escape(e.task)}</a>'), Td(e.objective),
                         Td(html=method_link(e.method)), Td(e.budget, sort=budget_x(e.budget)), Td(e.cell.main),
                         Td(text.interval(iv), sort=iv.mean), Td(text.size(iv)),
                         Td(text.comparison(e.vs_reference), sort=e.vs_reference.diff if e.vs_reference else None,
                            cls=e.vs_reference.outcome if e.vs_reference else ""),
                         Td(text.num(e.norm, 3), sort=e.norm), Td(text.pct(e.win_rate), sort=e.win_rate),
                         Td(", ".join(e.natural_worse), cls="flag")]))
    if not rows:
        return "<p>No ranked cells.</p>\n"
    return table(["task", "objective", "label", "budget", "metric", "mean [95% CI]", "n×seeds", "vs best-of-n",
                  "norm. score", "win rate", "natural ⚠"], rows, "cells")


def method_keys(rep: Report) -> list[str]:
    """Every registered method and every method in the records."""
    return sorted(set(registry.methods().names()) | {c.method for c in rep.frame.cells})


def method_papers(rep: Report) -> dict[str, str]:
    """method key -> its paper ("" when unknown here)."""
    return {k: (getattr(_method(k), "paper", "") or "") for k in method_keys(rep)}


def method_pages(rep: Report) -> dict[str, tuple[str, str]]:
    """page file name -> (title, body) for every registered method and every method in the records."""
    out = {}
    for key in method_keys(rep):
        body = _about(key, _method(key)) + "<h2>Ranked cells</h2>\n" + _cells_table(rep, key)
        out[method_page(key)] = (key, body)
    return out
