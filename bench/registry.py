"""Lazy registries of tasks and methods ("module:attr" entries, imported on first use).

Three sources, one ``Registry`` per kind:

- built-ins: ``tasks/<name>/__init__.py`` files declaring ``TASK = "module:Class"`` and ``methods/<key>.py`` files
  (key = file name with ``_`` → ``-``) exposing ``METHOD``, plus ``ALIASES`` in ``methods/__init__.py``. They are
  found beside the imported ``bench`` package (never through ``sys.path``), read as text, so listing imports
  nothing and a second top-level ``tasks`` or ``methods`` package on the path cannot hide them;
- plugins: the entry-point groups ``guidebench.tasks`` / ``guidebench.methods`` of installed distributions
  (``importlib.metadata``), e.g. ``mytask = "mypkg.task:MyTask"``; a plugin never replaces a built-in;
- ad hoc: a ``module:attr`` spelling given where a name is expected (``bench run --task mypkg.task:MyTask``),
  imported at once and registered in this process under the object's own name.

See docs/PLUGINS.md for the contract a plugin must meet.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import logging
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("bench")

GROUPS = {"task": "guidebench.tasks", "method": "guidebench.methods"}
BUILTIN = "built-in"
ADHOC = "ad hoc"
_ROOT = Path(__file__).resolve().parent.parent  # the folder holding bench/, tasks/ and methods/


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
    """Name → "module:attr" entries with aliases; duplicate names raise. ``origins[name]`` says where an entry
    came from: ``BUILTIN``, ``ADHOC`` or the providing distribution ("guidebench-example 0.1")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.origins: dict[str, str] = {}
        self._cache: dict[str, Any] = {}

    def register(self, name: str, entry: str, origin: str = BUILTIN) -> None:
        """Add ``name`` → ``entry`` ("module:attr"); a taken name raises ValueError."""
        if name in self.entries or name in self.aliases:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self.entries[name] = entry
        self.origins[name] = origin

    def alias(self, name: str, target: str) -> None:
        if name in self.entries or name in self.aliases:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self.aliases[name] = target

    def names(self, with_aliases: bool = False) -> list[str]:
        return sorted(self.entries) + (sorted(self.aliases) if with_aliases else [])

    def plugins(self) -> list[str]:
        """Names that come from an installed distribution's entry point."""
        return [n for n in self.names() if self.origins.get(n, BUILTIN) not in (BUILTIN, ADHOC)]

    def resolve(self, name: str) -> str:
        """Canonical name for ``name`` (follows aliases; a ``module:attr`` spelling is imported and registered
        under the object's own name); raises UnknownName."""
        if ":" in name:
            return self._register_spec(name)
        name = self.aliases.get(name, name)
        if name not in self.entries:
            raise UnknownName(self.kind, name, self.names(with_aliases=True))
        return name

    def get(self, name: str) -> Any:
        """Import and return the registered object (cached): a Task subclass, or a Method instance (an entry
        naming a Method subclass is instantiated)."""
        key = self.resolve(name)
        if key not in self._cache:
            try:
                self._cache[key] = self._load(self.entries[key], self.origins[key] == BUILTIN)
            except ImportError as err:  # a missing optional package stays an ImportError ("unavailable")
                raise ImportError(f"{self.kind} {key!r} ({self.entries[key]}, {self.origins[key]}): {err}") from err
            except (AttributeError, TypeError) as err:
                raise ValueError(f"{self.kind} {key!r} ({self.entries[key]}, {self.origins[key]}) cannot be "
                                 f"loaded: {err}") from err
        return self._cache[key]

    def _load(self, entry: str, builtin: bool) -> Any:
        module, sep, attr = entry.partition(":")
        if not (sep and module and attr):
            raise ValueError(f"{self.kind} entry {entry!r} is not of the form 'module:attr'")
        if builtin:
            _builtin_package(module.split(".")[0])
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return _checked(self.kind, entry, obj)

    def _register_spec(self, spec: str) -> str:
        try:
            obj = self._load(spec, builtin=False)
        except (ImportError, AttributeError, TypeError) as err:
            raise ValueError(f"cannot load {self.kind} {spec!r}: {type(err).__name__}: {err}") from err
        name = obj.name if self.kind == "task" else obj.key
        if name in self.aliases or (name in self.entries and self.entries[name] != spec):
            have = self.aliases.get(name) or self.entries[name]
            raise ValueError(f"{spec!r} declares the {self.kind} name {name!r}, already taken by {have!r}")
        if name not in self.entries:
            self.register(name, spec, ADHOC)
            self._cache[name] = obj
        return name


def _checked(kind: str, entry: str, obj: Any) -> Any:
    """The loaded object, checked for its kind (a Method class is instantiated); TypeError otherwise."""
    from bench.method import Method
    from bench.task import Task
    if kind == "task" and isinstance(obj, type) and issubclass(obj, Task):
        return obj
    if kind == "method" and isinstance(obj, type) and issubclass(obj, Method):
        obj = obj()
    if kind == "method" and isinstance(obj, Method):
        return obj
    want = "a bench.task.Task subclass" if kind == "task" else "a bench.method.Method instance or subclass"
    raise TypeError(f"{kind} entry {entry!r} is {obj!r}, not {want}")


def _builtin_package(package: str) -> ModuleType:
    """Import guidebench's own top-level ``tasks``/``methods`` package even when another package of that name
    comes first on ``sys.path`` (it is loaded from beside ``bench/``); raise when a foreign one is already
    imported."""
    root = _ROOT / package
    mod = sys.modules.get(package)
    if mod is not None:
        paths = [Path(p).resolve() for p in getattr(mod, "__path__", [])]
        if root in paths:
            return mod
        raise ImportError(f"a different {package!r} package ({paths or mod}) is already imported and hides "
                          f"guidebench's built-in {package} ({root}); rename that package")
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.origin and Path(spec.origin).resolve() == root / "__init__.py":
        return importlib.import_module(package)
    log.warning("another %r package (%s) comes first on sys.path; loading guidebench's built-in one from %s",
                package, spec.origin if spec else None, root)
    spec = importlib.util.spec_from_file_location(package, root / "__init__.py", submodule_search_locations=[
        str(root)])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[package] = mod
    spec.loader.exec_module(mod)
    return mod


def entry_points(kind: str) -> list[tuple[str, str, str]]:
    """(name, "module:attr", "dist version") of every installed entry point of the kind's group, deduplicated
    (a distribution seen twice on the path counts once); nothing is imported."""
    seen: dict[str, tuple[str, str, str]] = {}
    for ep in importlib.metadata.entry_points(group=GROUPS[kind]):
        dist = getattr(ep, "dist", None)
        origin = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"
        if ep.name in seen and seen[ep.name][1] != ep.value:
            log.warning("%s plugin %r (%s, from %s) ignored: %s already provides it", kind, ep.name, ep.value,
                        origin, seen[ep.name][2])
            continue
        seen.setdefault(ep.name, (ep.name, ep.value, origin))
    return sorted(seen.values())


def _add_plugins(reg: Registry) -> None:
    for name, value, origin in entry_points(reg.kind):
        if name in reg.entries or name in reg.aliases:
            log.warning("%s plugin %r (%s, from %s) ignored: the name is a built-in", reg.kind, name, value, origin)
            continue
        reg.register(name, value, origin)


_TASK_RE = re.compile(r"""^TASK\s*=\s*["']([\w.]+:\w+)["']""", re.M)
_ALIAS_RE = re.compile(r"""["']([\w-]+)["']\s*:\s*["']([\w-]+)["']""")
_REGISTRIES: dict[str, Registry] = {}


def tasks() -> Registry:
    """The task registry: ``tasks/*/__init__.py`` beside ``bench/``, then the ``guidebench.tasks`` plugins."""
    if "tasks" not in _REGISTRIES:
        reg = Registry("task")
        for init in sorted((_ROOT / "tasks").glob("*/__init__.py")):
            m = _TASK_RE.search(init.read_text())
            if m:
                reg.register(init.parent.name, m.group(1))
        _add_plugins(reg)
        _REGISTRIES["tasks"] = reg
    return _REGISTRIES["tasks"]


def methods() -> Registry:
    """The method registry: ``methods/*.py`` beside ``bench/`` (aliases from ``methods/__init__.py``), then the
    ``guidebench.methods`` plugins."""
    if "methods" not in _REGISTRIES:
        reg = Registry("method")
        root = _ROOT / "methods"
        for path in sorted(root.glob("*.py")):
            if not path.stem.startswith("_"):
                reg.register(path.stem.replace("_", "-"), f"methods.{path.stem}:METHOD")
        block = re.search(r"ALIASES\s*=\s*\{([^}]*)\}", (root / "__init__.py").read_text())
        for name, target in _ALIAS_RE.findall(block.group(1) if block else ""):
            reg.alias(name, target)
        _add_plugins(reg)
        _REGISTRIES["methods"] = reg
    return _REGISTRIES["methods"]


def reset() -> None:
    """Forget both registries (the next call rediscovers; tests that install a plugin use it)."""
    _REGISTRIES.clear()
