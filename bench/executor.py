"""Where a matrix's cells run: in this process, in a local process pool, or as Ray tasks.

One driver loop serves all three (``run_cells``). The driver claims each cell (``records.claim_cell``), skips a cell
that already has a final record, hands the rest to the executor, and is the **single writer** of records and sample
files (``runner.commit``); workers only compute (``runner.compute``) and return the record and rows. So a worker
that dies loses nothing and writes nothing twice: its cell is retried (up to ``retries`` times) and then, if its
worker keeps dying, gets one error record. The driver keeps at most ``capacity`` cells claimed and in flight, so
two drivers sharing a folder share the work instead of one claiming everything up front.

Same seeds give the same metrics whichever executor runs a cell: noise comes from counter-based streams
(``bench.rng``) and every worker computes with the same torch thread count (``threads``; the float reduction order
depends on it).

Executors: ``Serial`` (the default), ``Pool(workers)`` (``--workers N``: ``concurrent.futures`` over spawned
processes), ``RayExecutor`` (``--executor ray``: one Ray task per cell with its CPU / GPU request; on a cluster the
driver still writes every record).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from bench import records, registry
from bench.runner import Cell, MissingDependency, Outcome, commit, compute, execute, header

log = logging.getLogger("bench")

RETRIES = 2  # attempts after the first when a worker process dies under a cell


class Executor(Protocol):
    """Runs submitted cells somewhere and hands back their outcomes; ``capacity`` cells may be in flight."""

    capacity: int

    def submit(self, key: int, cell: Cell) -> None:
        """Start computing ``cell``; its outcome comes back from ``completed`` under ``key``."""

    def completed(self, block: bool) -> Iterator[tuple[int, Outcome]]:
        """Finished cells: whatever is done now, or (``block``) at least one, waiting for it."""

    def close(self, abort: bool = False) -> None:
        """Release workers (the executor is not used after this); ``abort``: stop cells in flight at once (the run
        was interrupted and their outcomes would be dropped)."""


def error_record(cell: Cell, err: BaseException) -> dict[str, Any]:
    """The record of a cell that failed outside its run (task build, objective, config, a dead worker): status
    error with the cell's keys filled and no score."""
    sha, dirty = records.git_state()
    objective = cell.objective or ""
    trace = "".join(traceback.format_exception(type(err), err, err.__traceback__, limit=6))
    return {"schema_version": records.SCHEMA_VERSION, "run_id": "", "git_sha": sha, "git_dirty": dirty,
            "task": cell.task, "objective": objective, "method": cell.method, "config_hash": "", "seed": cell.seed,
            "cell": f"{cell.task}|{objective}|{cell.method}|{cell.budget}|{cell.seed}", "n": cell.n,
            "steps": cell.steps, "budget": {"name": cell.budget}, "overrides": dict(cell.overrides),
            "status": "error", "error": f"{type(err).__name__}: {err}\n{trace}", "metrics": {}, "usage": {}}


def compute_or_error(cell: Cell, cache: dict | None = None, show_progress: bool = False) -> Outcome:
    """``runner.compute``, with a failure to build the cell turned into an error outcome (the matrix goes on)."""
    try:
        return compute(cell, cache, show_progress)
    except Exception as err:  # noqa: BLE001 - one cell's failure is its record, never the matrix's end
        return Outcome(error_record(cell, err))


def execute_or_error(cell: Cell, out: Path, cache: dict, resume: bool = False,
                     show_progress: bool = False) -> dict[str, Any]:
    """``runner.execute`` in this process; a failure before the run (task build, objective, config) becomes an
    error record."""
    try:
        return execute(cell, out, show_progress=show_progress, cache=cache, resume=resume)
    except Exception as err:  # noqa: BLE001 - any failure of one cell is recorded, the matrix goes on
        return _write_error(out, cell, err)


def _write_error(out: Path, cell: Cell, err: BaseException) -> dict[str, Any]:
    rec = error_record(cell, err)
    print(f"bench: cell {rec['cell']} failed: {rec['error'].splitlines()[0]}", file=sys.stderr)
    records.append_jsonl(Path(out) / "records" / f"{cell.task}.jsonl", [rec])
    return rec


def run_cells(cells: Iterable[Cell], out: Path, executor: Executor, resume: bool = True,
              announce: Callable[[int, Cell], None] | None = None) -> Iterator[dict[str, Any]]:
    """Run ``cells`` on ``executor`` and yield each cell's record as it is final (completion order): written
    ``ok`` / ``error`` / ``incompatible`` / ... records, and unwritten ``claimed`` (another live process runs it)
    and ``skipped`` (a final record exists and ``resume``) ones. ``announce(i, cell)`` is called when cell i
    starts."""
    cache: dict = {}
    claims: dict[int, records.Claim] = {}
    aborted = False

    def finish(block: bool) -> Iterator[dict[str, Any]]:
        got = 0
        for key, outcome in executor.completed(block):
            got += 1
            try:
                yield commit(out, outcome)
            finally:
                records.release(claims.pop(key))
        if block and not got:
            raise RuntimeError(f"executor {type(executor).__name__} lost {len(claims)} cells in flight")

    try:
        for i, cell in enumerate(cells):
            try:
                rec = header(cell, cache)
            except Exception as err:  # noqa: BLE001 - recorded, the matrix goes on
                yield _write_error(out, cell, err)
                continue
            claim, holder = records.claim_cell(out, rec["cell"], rec["config_hash"])
            if claim is None:
                yield {**rec, "status": "claimed", "error": holder}
                continue
            if resume and (rec["cell"], rec["config_hash"]) in records.done_cells(Path(out) / "records",
                                                                                 rec["task"]):
                records.release(claim)
                yield {**rec, "status": "skipped"}
                continue
            claims[i] = claim
            if announce:
                announce(i, cell)
            executor.submit(i, cell)
            yield from finish(block=len(claims) >= executor.capacity)
        while claims:
            yield from finish(block=True)
    except (KeyboardInterrupt, GeneratorExit):  # interrupted, or the caller stopped reading: drop work in flight
        aborted = True
        raise
    finally:
        for claim in claims.values():
            records.release(claim)
        executor.close(abort=aborted)


class Serial:
    """Cells computed one at a time in this process (tasks built once and cached)."""

    capacity = 1

    def __init__(self, show_progress: bool = False) -> None:
        self.show_progress = show_progress
        self.cache: dict = {}
        self.queue: list[tuple[int, Cell]] = []

    def submit(self, key: int, cell: Cell) -> None:
        self.queue.append((key, cell))

    def completed(self, block: bool) -> Iterator[tuple[int, Outcome]]:
        while self.queue:
            key, cell = self.queue.pop(0)
            yield key, compute_or_error(cell, self.cache, self.show_progress)

    def close(self, abort: bool = False) -> None:
        self.cache.clear()


def portable(cell: Cell) -> Cell:
    """The cell as another process can resolve it: an ad hoc ``module:attr`` task or method by its spelling (a
    worker's fresh registry holds only built-ins and entry points)."""
    def spelled(reg: registry.Registry, name: str) -> str:
        return reg.entries[name] if reg.origins.get(name) == registry.ADHOC else name
    return dataclasses.replace(cell, task=spelled(registry.tasks(), cell.task),
                               method=spelled(registry.methods(), cell.method))


_WORKER_CACHE: dict = {}


def _init_worker(threads: int) -> None:
    """A pool worker: ``threads`` torch threads; a Ctrl-C reaching it ends it quietly (the driver reports it)."""
    import signal

    import torch
    torch.set_num_threads(threads)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a run started ignoring it (a `&` job) still does
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))


def _pool_work(cell: Cell) -> Outcome:
    return compute_or_error(cell, _WORKER_CACHE)


class Pool:
    """Cells computed by ``workers`` spawned local processes, ``threads`` torch threads each. A worker that dies
    breaks the pool: it is rebuilt and the cells that were in flight are resubmitted (each counts an attempt)."""

    def __init__(self, workers: int, threads: int = 1, retries: int = RETRIES) -> None:
        self.workers, self.threads, self.retries = workers, threads, retries
        self.capacity = workers
        self.futures: dict[Any, tuple[int, Cell, int]] = {}
        self.pool = self._new_pool()

    def _new_pool(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.threads,))

    def submit(self, key: int, cell: Cell, attempt: int = 0) -> None:
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool
        try:
            fut = self.pool.submit(_pool_work, portable(cell))
        except BrokenProcessPool as err:  # a worker died since the last round: that round's recovery takes this too
            fut = Future()
            fut.set_exception(err)
        self.futures[fut] = (key, cell, attempt)

    def completed(self, block: bool) -> Iterator[tuple[int, Outcome]]:
        while True:  # a blocking call returns at least one outcome (a recovery may only resubmit)
            got = 0
            for item in self._round(block):
                got += 1
                yield item
            if got or not block or not self.futures:
                return

    def _round(self, block: bool) -> Iterator[tuple[int, Outcome]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool
        done, _ = wait(list(self.futures), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        lost = []
        for fut in done:
            key, cell, attempt = self.futures.pop(fut)
            try:
                outcome = fut.result()
            except BrokenProcessPool as err:
                lost.append((key, cell, attempt, err))
                continue
            yield key, outcome
        if lost:
            yield from self._recover(lost)

    def _recover(self, lost: list) -> Iterator[tuple[int, Outcome]]:
        """A worker died: every unfinished future of the broken pool fails too; resubmit them all to a new pool."""
        from concurrent.futures import wait
        wait(list(self.futures))
        for fut in list(self.futures):
            key, cell, attempt = self.futures.pop(fut)
            if fut.exception() is None:
                yield key, fut.result()
            else:
                lost.append((key, cell, attempt, fut.exception()))
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        for key, cell, attempt, err in lost:
            if attempt < self.retries:
                log.warning("a worker died under %s; retrying (attempt %d)", cell, attempt + 2)
                self.submit(key, cell, attempt + 1)
            else:
                yield key, Outcome(error_record(cell, RuntimeError(f"worker died {attempt + 1} times: {err}")))

    def close(self, abort: bool = False) -> None:
        if abort:  # ProcessPoolExecutor has no public way to stop running work (3.14 adds terminate_workers)
            for proc in list((self.pool._processes or {}).values()):
                proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _ray_work(cell: Cell, threads: int) -> Outcome:
    """A Ray task: one cell in a Ray worker, ``threads`` torch threads, tasks cached per worker process."""
    _init_worker(threads)
    return compute_or_error(cell, _WORKER_CACHE)


def import_ray():
    """The ``ray`` module, or MissingDependency with the install line."""
    try:
        import ray
    except ImportError:
        raise MissingDependency('--executor ray needs Ray: pip install "guidebench[ray]"') from None
    return ray


class RayExecutor:
    """One Ray task per cell, requesting ``cpus`` CPUs (its torch threads) and ``gpus`` GPUs. ``address``: None
    starts a local Ray instance on this machine's cores; "auto" or "HOST:PORT" joins a running cluster. Ray
    retries a task whose worker process dies (``max_retries``); a task that fails for good gets an error record."""

    def __init__(self, address: str | None = None, cpus: float = 1, gpus: float = 0, retries: int = RETRIES) -> None:
        ray = self.ray = import_ray()
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        self.threads = max(1, int(cpus))
        self.task = ray.remote(_ray_work).options(num_cpus=cpus, num_gpus=gpus, max_retries=retries)
        self.capacity = max(1, int(ray.cluster_resources().get("CPU", 1) // max(cpus, 1e-9)))
        self.refs: dict[Any, tuple[int, Cell]] = {}

    def submit(self, key: int, cell: Cell) -> None:
        self.refs[self.task.remote(portable(cell), self.threads)] = (key, cell)

    def completed(self, block: bool) -> Iterator[tuple[int, Outcome]]:
        if not self.refs:
            return
        ready, _ = self.ray.wait(list(self.refs), num_returns=1 if block else len(self.refs),
                                 timeout=None if block else 0)
        for ref in ready:
            key, cell = self.refs.pop(ref)
            try:
                yield key, self.ray.get(ref)
            except self.ray.exceptions.RayError as err:  # the task or its worker failed for good
                yield key, Outcome(error_record(cell, err))

    def close(self, abort: bool = False) -> None:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        if self.started:
            self.ray.shutdown()
