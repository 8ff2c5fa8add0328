"""The report: a pure function of the records (HELM's split between running and summarising).

``write_report(records, out)`` reads the records, refuses dirty or mixed-version records unless allowed
(``hygiene``), groups them into cells (``frame``), computes intervals and paired comparisons (``bench.stats``) and
the ranking per budget (``ranking``), draws figures (``figures``) and sample galleries (``bench.gallery``), and
writes ``leaderboard.md`` (``markdown``) and a static web site (``site``). Same records -> byte-identical files.
"""
from __future__ import annotations

import logging
from pathlib import Path

from bench.gallery import figure_name, record_figure
from bench.records import read_records, samples_file
from bench.report import figures, hygiene, markdown, site
from bench.report.frame import Cell, CellKey, Frame, build_frame, latest
from bench.report.model import Report, compute

__all__ = ["write_report", "build_frame", "Report"]
log = logging.getLogger(__name__)
GENERATED = ("leaderboard.md", "index.html", "task-*.html", "method-*.html", "assets/*", "figures/**/*.png")


def results_root(records_dir: Path) -> Path:
    """The results folder (per-sample paths are relative to it) of a records folder or a results folder."""
    records_dir = Path(records_dir)
    return records_dir.parent if records_dir.name == "records" else records_dir


def galleries(frame: Frame, root: Path, fig_dir: Path) -> dict[CellKey, Path]:
    """One sample figure per cell (lowest seed); names that two cells would share get the cell's setting."""
    by_name: dict[str, list[Cell]] = {}
    for c in frame.cells:
        by_name.setdefault(figure_name(c.records[0]), []).append(c)
    out: dict[CellKey, Path] = {}
    for _, cells in sorted(by_name.items()):
        for c in cells:
            suffix = f"_n{c.key.n}_T{c.key.steps}_{c.key.config_hash[:8]}" if len(cells) > 1 else ""
            path = record_figure(c.records[0], root, fig_dir, suffix)
            if path is not None:
                out[c.key] = path
    return out


def missing_samples(frame: Frame, root: Path) -> list[str]:
    """Run ids of scored records whose per-sample file is not under ``root`` (no gallery, seed-level intervals)."""
    return sorted(r.get("run_id", "?") for c in frame.cells for r in c.records if samples_file(r, root) is None)


def prune(out: Path, written: list[Path]) -> None:
    """Delete generated files a previous report left that this one did not write (a rebuild is exact)."""
    keep = {p.resolve() for p in written}
    for pattern in GENERATED:
        for path in sorted(out.glob(pattern)):
            if path.is_file() and path.resolve() not in keep:
                log.info("removing stale %s", path)
                path.unlink()


def write_report(records_dir: Path, out: Path, allow_dirty: bool = False, allow_mixed: bool = False) -> list[Path]:
    """Write leaderboard.md, figures/ and the web site under ``out``; return the written paths (sorted).

    Raises RecordHygieneError (a ValueError) for dirty or mixed-version records unless allowed, and
    FileNotFoundError when there are no records."""
    records = read_records(records_dir)
    if not records:
        raise FileNotFoundError(f"no records under {records_dir}")
    notes = hygiene.check(latest(records), allow_dirty, allow_mixed)
    root = results_root(records_dir)
    frame = build_frame(records, root)
    rep = compute(frame, notes)
    rep.missing_samples = missing_samples(frame, root)
    rep.stale = hygiene.stale_tables(latest(records))
    if rep.missing_samples:
        log.warning("%d scored records have no per-sample file under %s (listed in the report)",
                    len(rep.missing_samples), root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for (task, obj), cells in frame.groups().items():
        rep.figures[(task, obj)] = {k: p.relative_to(out) for k, p in
                                    figures.task_figures(cells, out / "figures").items()}
    rep.galleries = {k: p.relative_to(out) for k, p in galleries(frame, root, out / "figures" / "samples").items()}
    written = [markdown.write(rep, out / "leaderboard.md"), *site.write(rep, out)]
    written += [out / p for fig in rep.figures.values() for p in fig.values()]
    written += [out / p for p in rep.galleries.values()]
    prune(out, written)
    return sorted(set(written))
