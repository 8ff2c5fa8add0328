"""Record hygiene: the report refuses records it cannot vouch for unless the user asks for them.

- records from a dirty tree (``git_dirty``) need ``--allow-dirty``;
- per table (task × objective: what one leaderboard compares), records from more than one git sha, task version, or
  version of one method need ``--allow-mixed``. Tables of one task may come from different commits (an objective
  added later is run at its own commit), each one from a single commit.

Only the records the report would use are checked (the latest record of each cell and seed), so a rerun that
replaces an old record clears it.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

MAX_LISTED = 6


class RecordHygieneError(ValueError):
    """Records the report refuses; the message names them and the flag that accepts them."""


def _names(recs: list[dict[str, Any]]) -> str:
    ids = sorted(r.get("run_id") or r.get("cell", "?") for r in recs)
    more = f" (+{len(ids) - MAX_LISTED} more)" if len(ids) > MAX_LISTED else ""
    return ", ".join(ids[:MAX_LISTED]) + more


def dirty_problems(records: list[dict[str, Any]]) -> list[str]:
    dirty = [r for r in records if r.get("git_dirty")]
    return [f"{len(dirty)} record(s) from a dirty tree: {_names(dirty)}"] if dirty else []


def _versions(records: list[dict[str, Any]], what: str, field: str) -> list[str]:
    """One problem line per distinct value of ``field`` beyond the first, naming the records."""
    by_value: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_value[str(r.get(field, "?"))].append(r)
    if len(by_value) < 2:
        return []
    parts = [f"{field}={v[:12]} ({len(rs)}): {_names(rs)}" for v, rs in sorted(by_value.items())]
    return [f"{what} mixes {len(by_value)} values of {field}: " + "; ".join(parts)]


def mixed_problems(records: list[dict[str, Any]]) -> list[str]:
    by_table: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_table[(r["task"], str(r.get("objective") or ""))].append(r)
    out: list[str] = []
    for (name, objective), recs in sorted(by_table.items()):
        task = f"{name}/{objective}"
        out += _versions(recs, f"task {task}", "git_sha") + _versions(recs, f"task {task}", "task_version")
        by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in recs:
            by_method[r["method"]].append(r)
        for method, mrecs in sorted(by_method.items()):
            out += _versions(mrecs, f"task {task} method {method}", "method_version")
    return out


def stale_tables(records: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Tables (task, objective) whose records are of another task version than this checkout's task (weights or
    scoring changed since they ran): each with the line the report shows beside it. A task this checkout does not
    have is left alone (its plugin is not installed)."""
    from bench import registry
    from bench.registry import UnknownName

    versions: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        versions[(r["task"], str(r.get("objective") or ""))].add(str(r.get("task_version", "?")))
    out = {}
    for (task, objective), got in sorted(versions.items()):
        try:
            now = str(registry.tasks().get(task).version)
        except UnknownName:
            continue
        if got != {now}:
            out[(task, objective)] = (f"stale: task {task} version {', '.join(sorted(got))} (this checkout: {now}); "
                                      "the weights or scoring changed since these records ran, rerun to refresh")
    return out


def check(records: list[dict[str, Any]], allow_dirty: bool = False, allow_mixed: bool = False) -> list[str]:
    """Raise RecordHygieneError for refused records; return the accepted problems (shown in the report)."""
    dirty, mixed = dirty_problems(records), mixed_problems(records)
    refused = ([p + " -- pass --allow-dirty to report them" for p in dirty] * (not allow_dirty)
               + [p + " -- pass --allow-mixed to report them" for p in mixed] * (not allow_mixed))
    if refused:
        raise RecordHygieneError("bench report refuses these records:\n  " + "\n  ".join(refused))
    return dirty + mixed
