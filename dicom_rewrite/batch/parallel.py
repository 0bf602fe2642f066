"""Worker processes for a batch: ``--workers N``.

The batch loop stays one (:func:`~dicom_rewrite.batch.pipeline.run_batch`):
what depends on the input order (names, indexes, UIDs seeded per batch) is
decided in the parent by ``plan``, in input order, and only ``make`` runs in
the workers. The work (``make`` under the error policy, holding the
template and profile) is pickled once per worker and builds its engine once
there; results come back in input order, whatever order the workers finish
in. At most ``in_flight`` inputs are out at a time (memory stays bounded).

Workers are spawned (each imports the engine once, in parallel), ignore
Ctrl-C and SIGTERM (the parent stops them after the inputs they hold are
written, so nothing is left half-done), die with the parent on Linux
(``kill -9`` of the parent), and name their temporary files after the
parent, whose death makes them stale for the next run to remove.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from dicom_rewrite.batch.pipeline import Job, Policy
from dicom_rewrite.batch.report import ReportEntry
from dicom_rewrite.errors import InputError
from dicom_rewrite.io.files import set_temporary_owner

#: inputs out at a time, per worker
IN_FLIGHT_PER_WORKER = 4
#: the inputs a worker is worth starting for (a worker costs ~0.3 s to start)
INPUTS_PER_WORKER = 32


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def auto_workers(inputs: int) -> int:
    """``--workers`` by default: the CPUs available, but no more than one
    worker per :data:`INPUTS_PER_WORKER` inputs (a small batch stays in one
    process)."""
    return max(1, min(available_cpus(), inputs // INPUTS_PER_WORKER))


_WORK: Policy | None = None


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies (PR_SET_PDEATHSIG);
    elsewhere a thread looks for the parent twice a second."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
            if os.getppid() == parent:
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _start_worker(work: Policy, owner: int) -> None:
    global _WORK
    _die_with_parent(owner)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    set_temporary_owner(owner)
    _WORK = work


def _run(source: Any) -> list[ReportEntry]:
    assert _WORK is not None
    return _WORK(source)


def _context() -> Any:
    """fork while this process has one thread (the workers start at once,
    with the engine's modules and tables loaded), else spawn (a fork with
    other threads alive may copy a lock one of them holds). Either way each
    worker is a child of the batch's process, so that it can die with it."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class Processes:
    """Jobs made by ``workers`` processes of this machine."""

    def __init__(self, workers: int, in_flight: int | None = None) -> None:
        self.workers = max(1, workers)
        self.in_flight = in_flight or self.workers * IN_FLIGHT_PER_WORKER

    def run(self, work: Policy, jobs: Iterable[Job]) -> Iterator[tuple[Job, list[ReportEntry]]]:
        pool = ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_start_worker,
                                   initargs=(work, os.getpid()))
        try:
            yield from in_order(jobs, lambda job: pool.submit(_run, job.source), self.in_flight, _lost)
        finally:
            # the inputs the workers hold are finished (each within its
            # atomic writes), those not started are dropped
            pool.shutdown(wait=True, cancel_futures=True)


class Pending(Protocol):
    """A job's result to come (a ``concurrent.futures`` or Dask future)."""

    def done(self) -> bool: ...

    def result(self) -> Any: ...


def in_order(jobs: Iterable[Job], submit: Callable[[Job], Pending], in_flight: int,
             lost: tuple[type[BaseException], ...] = ()) -> Iterator[tuple[Job, list[ReportEntry]]]:
    """Submit each job not done already, at most ``in_flight`` out at a
    time, and yield the results in job order. ``lost``: the exceptions that
    say the place running a job died (an :class:`InputError` naming it)."""
    pending: deque[tuple[Job, Pending | None]] = deque()
    for job in jobs:
        pending.append((job, None if job.done is not None else submit(job)))
        while len(pending) >= in_flight or (pending and _ready(pending[0][1])):
            yield _result(*pending.popleft(), lost)
    while pending:
        yield _result(*pending.popleft(), lost)


def _ready(future: Pending | None) -> bool:
    return future is None or future.done()


_lost = (BrokenProcessPool,)


def _result(job: Job, future: Pending | None,
            lost: tuple[type[BaseException], ...]) -> tuple[Job, list[ReportEntry]]:
    if future is None:
        assert job.done is not None
        return job, job.done
    try:
        return job, list(future.result())
    except lost:
        raise InputError(f"{job.source.path}: the process making it died (or one beside it); "
                         "--resume --workers 1 finishes the batch") from None
