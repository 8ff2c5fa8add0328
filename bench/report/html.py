"""Small HTML builders for the static site: page frame, tables with sort keys, filter boxes, method links."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from bench import plots
from bench.report.model import HEADER

SITE_CSS, SITE_JS = "assets/site.css", "assets/site.js"


@dataclass(frozen=True)
class Td:
    """One table cell: escaped text or trusted HTML, an optional numeric sort key and CSS class."""

    text: str = ""
    html: str | None = None
    sort: float | None = None
    cls: str = ""


@dataclass
class Row:
    cells: list[Td]
    data: dict[str, str] = field(default_factory=dict)  # data-* attributes (filter keys)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text.replace("=", "-"))


def task_page(task: str) -> str:
    return f"task-{slug(task)}.html"


def method_page(method: str) -> str:
    return f"method-{slug(method.split('[', 1)[0])}.html"


def method_link(method: str) -> str:
    """A coloured swatch and the method label linked to its page."""
    color = plots.method_color(method)
    return (f'<a href="{method_page(method)}"><span class="swatch" style="background:{color}"></span>'
            f"{escape(method)}</a>")


def _td(c: Td) -> str:
    attrs = ""
    if c.sort is not None:
        attrs += f' data-v="{float(c.sort)!r}"' if math.isfinite(c.sort) else ' data-v="nan"'
    cls = " ".join(x for x in (c.cls, "num" if c.sort is not None else "") if x)
    attrs += f' class="{cls}"' if cls else ""
    return f"<td{attrs}>{c.html if c.html is not None else escape(c.text)}</td>"


def table(header: list[str], rows: list[Row], table_id: str = "") -> str:
    ident = f' id="{escape(table_id)}"' if table_id else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        data = "".join(f' data-{k}="{escape(v)}"' for k, v in sorted(r.data.items()))
        body.append(f"<tr{data}>" + "".join(_td(c) for c in r.cells) + "</tr>")
    return (f'<table class="sortable"{ident}><thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(body)
            + "\n</tbody></table>\n")


def filters(table_id: str, options: dict[str, list[str]], defaults: dict[str, str] | None = None) -> str:
    """Select boxes that hide the rows of ``table_id`` whose data-<key> differs from the chosen value."""
    defaults = defaults or {}
    parts = [f'<div class="filters" data-table="{escape(table_id)}">']
    for key, values in options.items():
        opts = '<option value="">all</option>' + "".join(
            f'<option value="{escape(v)}"{" selected" if defaults.get(key) == v else ""}>{escape(v)}</option>'
            for v in values)
        parts.append(f'<label>{escape(key)} <select data-filter="{escape(key)}">{opts}</select></label>')
    parts.append('<span class="count"></span></div>\n')
    return "".join(parts)


def figure(src: str, caption: str) -> str:
    return (f'<figure><a href="{escape(src)}"><img src="{escape(src)}" alt="{escape(caption)}"></a>'
            f"<figcaption>{escape(caption)}</figcaption></figure>\n")


def page(title: str, body: str, nav: list[tuple[str, str]]) -> str:
    """A complete HTML page with the site's header navigation, stylesheet and script (relative links)."""
    links = "".join(f'<a href="{escape(href)}">{escape(name)}</a>' for name, href in nav)
    return (f"<!DOCTYPE html>\n{HEADER}<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><link rel=\"stylesheet\" href=\"{SITE_CSS}\">"
            f"<script src=\"{SITE_JS}\"></script></head>\n<body><header><a class=\"brand\" href=\"index.html\">"
            f"guidebench</a>{links}</header>\n<main>\n<h1>{escape(title)}</h1>\n{body}</main></body></html>\n")
