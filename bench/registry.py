"""Lazy registries of tasks and methods ("module:attr" entries, imported on first use).

Tasks are discovered from ``tasks/<name>/__init__.py`` files declaring ``TASK = "module:Class"``; methods from
``methods/<key>.py`` files (key = file name with ``_`` → ``-``) exposing ``METHOD``, plus ``ALIASES`` in
``methods/__init__.py``. Discovery reads files as text, so listing names imports nothing heavy.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any


class UnknownName(KeyError):
    """An unknown registry name; the message lists the closest matches and every available name."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Available: {', '.join(available)}")
        self.kind, self.name, self.close = kind, name, close

    def __str__(self) -> str:
        return str(self.args[0])


class Registry:
    """Name → "module:attr" entries with aliases; duplicate names raise."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self._cache: dict[str, Any] = {}

    def register(self, name: str, entry: str) -> None:
        if name in self.entries or name in self.aliases:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self.entries[name] = entry

    def alias(self, name: str, target: str) -> None:
        if name in self.entries or name in self.aliases:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self.aliases[name] = target

    def names(self, with_aliases: bool = False) -> list[str]:
        return sorted(self.entries) + (sorted(self.aliases) if with_aliases else [])

    def resolve(self, name: str) -> str:
        """Canonical name for ``name`` (follows aliases); raises UnknownName."""
        name = self.aliases.get(name, name)
        if name not in self.entries:
            raise UnknownName(self.kind, name, self.names(with_aliases=True))
        return name

    def get(self, name: str) -> Any:
        """Import and return the registered object (cached)."""
        key = self.resolve(name)
        if key not in self._cache:
            module, attr = self.entries[key].split(":")
            self._cache[key] = getattr(importlib.import_module(module), attr)
        return self._cache[key]


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {package!r} is not importable; install guidebench (pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0])


_TASK_RE = re.compile(r"""^TASK\s*=\s*["']([\w.]+:\w+)["']""", re.M)
_ALIAS_RE = re.compile(r"""["']([\w-]+)["']\s*:\s*["']([\w-]+)["']""")
_REGISTRIES: dict[str, Registry] = {}


def tasks() -> Registry:
    """The task registry, discovered from ``tasks/*/__init__.py``."""
    if "tasks" not in _REGISTRIES:
        reg = Registry("task")
        for init in sorted(_package_dir("tasks").glob("*/__init__.py")):
            m = _TASK_RE.search(init.read_text())
            if m:
                reg.register(init.parent.name, m.group(1))
        _REGISTRIES["tasks"] = reg
    return _REGISTRIES["tasks"]


def methods() -> Registry:
    """The method registry, discovered from ``methods/*.py``; aliases from ``methods/__init__.py``."""
    if "methods" not in _REGISTRIES:
        reg = Registry("method")
        root = _package_dir("methods")
        for path in sorted(root.glob("*.py")):
            if not path.stem.startswith("_"):
                reg.register(path.stem.replace("_", "-"), f"methods.{path.stem}:METHOD")
        block = re.search(r"ALIASES\s*=\s*\{([^}]*)\}", (root / "__init__.py").read_text())
        for name, target in _ALIAS_RE.findall(block.group(1) if block else ""):
            reg.alias(name, target)
        _REGISTRIES["methods"] = reg
    return _REGISTRIES["methods"]
