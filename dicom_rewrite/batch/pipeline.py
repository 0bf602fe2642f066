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

from dicom_rewrite.batch.report import ReportEntry
from dicom_rewrite.batch.sources import Source
from dicom_rewrite.errors import DicomRewriteError, InputError, escape_controls, one_line

_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


def input_error(source: Source, exc: BaseException) -> str:
    """The one-line message of an unexpected error while working on ``source``
    (the message only: a class name is no message)."""
    return f"{escape_controls(str(source.path))}: {one_line(exc)}"


def run_batch(
    sources: Iterable[Source],
    make: Callable[[Source], ReportEntry | Iterable[ReportEntry]],
    *,
    describe: Callable[[Source, BaseException], str] = input_error,
) -> Iterator[ReportEntry]:
    """Run ``make`` on every source and yield its entries, one input's
    failure never stopping the rest. ``make`` returns one entry or several
    (e.g. an image and its presentation state). ``describe`` words an
    unexpected error (``InputError``'s own message is used as it is)."""
    for source in sources:
        if source.error is not None:
            yield ReportEntry.failed(str(source.path), source.error)
            continue
        try:
            made = make(source)
            if not isinstance(made, ReportEntry):
                made = list(made)  # a lazy make fails here, inside the policy
        except InputError as exc:
            yield ReportEntry.failed(str(source.path), one_line(exc))
            continue
        except DicomRewriteError:
            raise
        except _PASS_THROUGH:
            raise
        except BaseException as exc:  # noqa: B036  # a codec's panic is one input's failure
            yield ReportEntry.failed(str(source.path), describe(source, exc))
            continue
        if isinstance(made, ReportEntry):
            yield made
        else:
            yield from made
