"""bench.diskcache: a value is built once per key across processes, never served to another key, kernel or
source, rebuilt when its file is unreadable, and identical to the uncached value (DNA's objective reference)."""
from __future__ import annotations

import torch

from bench import diskcache


def _counter():
    calls = []

    def build():
        calls.append(1)
        return 0.25, torch.arange(4.0)
    return build, calls


def test_built_once_per_key_and_equal_to_the_built_value(tmp_path, monkeypatch):
    monkeypatch.setenv(diskcache.ENV, str(tmp_path))
    build, calls = _counter()
    a = diskcache.cached("x", {"k": 1}, build)
    b = diskcache.cached("x", {"k": 1}, build)
    assert len(calls) == 1 and a[0] == b[0] == 0.25 and torch.equal(a[1], b[1])
    diskcache.cached("x", {"k": 2}, build)
    assert len(calls) == 2 and len(list(tmp_path.glob("x-*.pt"))) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_kernel_capability_and_source_are_in_the_key(tmp_path, monkeypatch):
    build, _ = _counter()
    d0 = diskcache.digest({"k": 1}, build)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "NO_SUCH_KERNEL")
    assert diskcache.digest({"k": 1}, build) != d0

    def other():
        return 0.5, torch.zeros(4)
    assert diskcache.digest({"k": 1}, other) != diskcache.digest({"k": 1}, build)


def test_off_always_builds_and_a_corrupt_file_is_rebuilt(tmp_path, monkeypatch, caplog):
    build, calls = _counter()
    monkeypatch.setenv(diskcache.ENV, "off")
    diskcache.cached("x", {}, build)
    diskcache.cached("x", {}, build)
    assert len(calls) == 2
    monkeypatch.setenv(diskcache.ENV, str(tmp_path))
    diskcache.cached("x", {}, build)
    path, = tmp_path.glob("x-*.pt")
    path.write_bytes(b"not a torch file")
    value = diskcache.cached("x", {}, build)
    assert len(calls) == 4 and value[0] == 0.25 and "unreadable" in caplog.text


def test_dna_objective_reference_is_the_same_with_and_without_the_cache(tmp_path, monkeypatch):
    from bench import registry
    from tasks.dna.evaluate import objective_reference
    monkeypatch.setenv(diskcache.ENV, "off")
    task = registry.tasks().get("dna")(tiny=True)
    obj = task.objective("hepg2")
    thr, spec, cells = objective_reference(task, obj)
    monkeypatch.setenv(diskcache.ENV, str(tmp_path))
    for _ in range(2):  # the second fresh task reads the file
        fresh = registry.tasks().get("dna")(tiny=True)
        t2, s2, c2 = objective_reference(fresh, fresh.objective("hepg2"))
        assert t2 == thr and torch.equal(s2, spec) and torch.equal(c2, cells)
    assert len(list(tmp_path.glob("dna-objective-reference-*.pt"))) == 1
