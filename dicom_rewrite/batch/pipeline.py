"""The batch loop and its one error policy.

* An error of one input (:class:`~dicom_rewrite.errors.InputError`, or any
  exception a decoder or codec plugin raises, including ``BaseException``s
  such as a Rust panic) becomes that input's report entry, and the batch goes
  on.
* Any other :class:`~dicom_rewrite.errors.DicomRewriteError` (template,
  profile, usage) stops the batch: it is not about one input.
* ``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from dicom_rewrite.batch.journal import Journal
from dicom_rewrite.batch.report import ReportEntry
from dicom_rewrite.batch.sources import Source
from dicom_rewrite.errors import DicomRewriteError, InputError, escape_controls, one_line

_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


def input_error(source: Source, exc: BaseException) -> str:
    """The one-line message of an unexpected error while working on ``source``
    (the message only: a class name is no message)."""
    return f"{escape_controls(str(source.path))}: {one_line(exc)}"


def run_one(source: Source, make: Callable[[Source], ReportEntry | Iterable[ReportEntry]],
            describe: Callable[[Source, BaseException], str] = input_error) -> list[ReportEntry]:
    """The entries of one source under the error policy."""
    if source.error is not None:
        return [ReportEntry.failed(str(source.path), source.error)]
    try:
        made = make(source)
        if not isinstance(made, ReportEntry):
            made = list(made)  # a lazy make fails here, inside the policy
    except InputError as exc:
        return [ReportEntry.failed(str(source.path), one_line(exc))]
    except DicomRewriteError:
        raise
    except _PASS_THROUGH:
        raise
    except BaseException as exc:  # noqa: B036  # a codec's panic is one input's failure
        return [ReportEntry.failed(str(source.path), describe(source, exc))]
    return [made] if isinstance(made, ReportEntry) else made


@dataclass(frozen=True)
class Policy:
    """``make`` under the error policy: what a worker process runs (it is
    pickled once per worker, so ``make`` must be picklable there)."""

    make: Callable[[Source], ReportEntry | Iterable[ReportEntry]]
    describe: Callable[[Source, BaseException], str] = input_error

    def __call__(self, source: Source) -> list[ReportEntry]:
        return run_one(source, self.make, self.describe)


@dataclass(frozen=True)
class Job:
    """One source of a batch and its place (``seq``) in the input order;
    ``done``: its entries, known already (finished by the run being resumed)."""

    seq: int
    source: Source
    done: list[ReportEntry] | None = None


class Executor(Protocol):
    """Runs the work of a batch's jobs somewhere (this process, worker
    processes, a cluster) and yields each job's entries in job order."""

    def run(self, work: Policy, jobs: Iterable[Job]) -> Iterator[tuple[Job, list[ReportEntry]]]:
        ...


class Serial:
    """Every job in this process, one after the other."""

    def run(self, work: Policy, jobs: Iterable[Job]) -> Iterator[tuple[Job, list[ReportEntry]]]:
        for job in jobs:
            yield job, job.done if job.done is not None else work(job.source)


def run_batch(
    sources: Iterable[Source],
    make: Callable[[Source], ReportEntry | Iterable[ReportEntry]],
    *,
    describe: Callable[[Source, BaseException], str] = input_error,
    plan: Callable[[Source], Source] | None = None,
    executor: Executor | None = None,
    journal: Journal | None = None,
    reuse: Callable[[list[ReportEntry]], bool] | None = None,
) -> Iterator[ReportEntry]:
    """Run ``make`` on every source and yield its entries, one input's
    failure never stopping the rest. ``make`` returns one entry or several
    (e.g. an image and its presentation state). ``describe`` words an
    unexpected error (``InputError``'s own message is used as it is).

    ``plan(source)`` runs here, in input order, before the source is made,
    and returns the source ``make`` gets (``Source.plan`` set: e.g. the
    output names it claimed and the first index of its outputs), so that
    what depends on the order does not depend on where ``make`` runs.
    ``executor`` runs ``make`` (default: here, in order; see
    :mod:`~dicom_rewrite.batch.parallel`); entries are yielded in input order
    whatever it is. ``journal`` records each finished input; the entries of
    an input the run being resumed finished are yielded again without
    making it, when ``reuse(entries)`` (a check of its outputs) says they hold."""
    work = Policy(make, describe)
    jobs = _jobs(sources, plan, journal, reuse)
    for job, entries in (executor or Serial()).run(work, jobs):
        if journal is not None and job.done is None:
            journal.finish(job.seq, entries)
        yield from entries


def _jobs(sources: Iterable[Source], plan: Callable[[Source], Source] | None,
          journal: Journal | None, reuse: Callable[[list[ReportEntry]], bool] | None) -> Iterator[Job]:
    for seq, source in enumerate(sources):
        if plan is not None and source.error is None:
            source = plan(source)
        done = journal.done.get(seq) if journal is not None else None
        if done is not None:
            entries = [ReportEntry.from_dict(d) for d in done]
            if done and all(e.input == str(source.path) for e in entries) and (reuse is None or reuse(entries)):
                yield Job(seq, source, entries)
                continue
        yield Job(seq, source)
