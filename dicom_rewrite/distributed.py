"""Batches on a Dask cluster: the one batch pipeline, its inputs made by the
workers of a ``dask.distributed`` scheduler (the only ``dask`` importer).

    from dask.distributed import Client
    from dicom_rewrite import convert_files
    from dicom_rewrite.distributed import DaskExecutor

    for entry in convert_files(["archive/"], "ct.dcm", "/shared/out",
                               executor=DaskExecutor(Client("tcp://scheduler:8786"))):
        ...

or ``dicom-rewrite convert ... --scheduler tcp://HOST:PORT``. As with
``--workers`` (:mod:`dicom_rewrite.batch.parallel`), what depends on the
input order (indexes, names claimed, the seed of the batch's new UIDs) is
decided by the client, in input order; the cluster only makes each input,
so the outputs, UIDs and report are the ones one process would give (one
study and series per batch). The client writes the journal and the report,
in input order. The work (template, profile) is scattered once to every
worker; each worker thread builds its engine once.

A worker lost mid-task loses nothing and duplicates nothing: the scheduler
runs its tasks again elsewhere, and an input's outputs go to the names the
client claimed for it, each written atomically with the same bytes, so a
second run of a task replaces what the first may have finished; temporary
files a killed worker left are removed when the batch ends. The output
folder must be one shared file system, at the same path on the client and
every worker (docs/batch.md, "On a cluster").
"""

from __future__ import annotations

import os
import pickle
import secrets
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from distributed import Client
from distributed.scheduler import KilledWorker

from dicom_rewrite.batch.parallel import IN_FLIGHT_PER_WORKER, in_order
from dicom_rewrite.batch.pipeline import Job, Policy
from dicom_rewrite.batch.report import ReportEntry
from dicom_rewrite.batch.sources import Source
from dicom_rewrite.errors import UsageError
from dicom_rewrite.io.files import set_temporary_owner

_LOCAL = threading.local()


def _run_on_worker(work: Policy, source: Source, owner: int) -> list[ReportEntry]:
    """One input, on a Dask worker: each worker thread keeps its own copy of
    the work (an engine is not shared between threads)."""
    set_temporary_owner(owner)
    mine = getattr(_LOCAL, "work", None)
    if mine is None or mine[0] is not work:
        mine = (work, pickle.loads(pickle.dumps(work)))
        _LOCAL.work = mine
    result: list[ReportEntry] = mine[1](source)
    return result


class DaskExecutor:
    """Makes a batch's inputs on the workers of a Dask scheduler: a
    :class:`distributed.Client`, or the scheduler's address (a client is
    then opened for the batch and closed after it)."""

    def __init__(self, client: Client | str, *, in_flight: int | None = None, timeout: float = 20.0) -> None:
        """``in_flight``: inputs out at a time (default 4 per worker thread);
        ``timeout``: seconds to reach a scheduler given by address."""
        self.client = client
        self.in_flight = in_flight
        self.timeout = timeout

    def _connect(self) -> tuple[Any, bool]:
        """The client (dask.distributed is untyped: Any) and whether it is ours to close."""
        if isinstance(self.client, Client):
            return self.client, False
        connect: Any = Client
        try:
            return connect(self.client, timeout=f"{self.timeout}s", set_as_default=False), True
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"--scheduler {self.client}: cannot reach the Dask scheduler ({exc})") from None

    def run(self, work: Policy, jobs: Iterable[Job]) -> Iterator[tuple[Job, list[ReportEntry]]]:
        client, mine = self._connect()
        try:
            threads = max(1, sum(client.nthreads().values()))
            shared = client.scatter(work, broadcast=True, hash=False)
            token, owner = secrets.token_hex(8), os.getpid()

            def submit(job: Job) -> Any:
                return client.submit(_run_on_worker, shared, job.source, owner, pure=False,
                                     key=f"dicom-rewrite-{token}-{job.seq}")

            yield from in_order(jobs, submit, self.in_flight or threads * IN_FLIGHT_PER_WORKER, (KilledWorker,))
        finally:
            if mine:
                client.close()
