"""Helpers shared by the sub-commands: reports, progress, error lines."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dicom_rewrite.batch.report import ReportFile
from dicom_rewrite.errors import DicomRewriteError, InputError, UsageError

#: Exit codes of the command line tool (documented in README.md).
EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def exit_code(exc: DicomRewriteError) -> int:
    """The exit code of an error that stopped the run: 1 for an input that
    could not be converted, 2 for usage, template and profile errors."""
    return EXIT_SOME_FAILED if isinstance(exc, InputError) else EXIT_USAGE

T = TypeVar("T")


def progress(items: Sequence[T] | Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap ``items`` in a tqdm progress bar when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, unit="file", file=sys.stderr, leave=False)


def error_line(message: str) -> None:
    """Print one error line on stderr."""
    print(f"dicom-rewrite: error: {message}", file=sys.stderr)


def add_output_options(p: Any) -> None:
    """Options every command that writes files shares."""
    p.add_argument("--no-fsync", dest="durable", action="store_false",
                   help="do not fsync outputs (faster; for scratch output that need not survive a power loss)")


def add_metadata_options(p: Any) -> None:
    """Options of the commands that take per-image metadata (``{meta[Column]}``)."""
    p.add_argument("--metadata", metavar="FILE",
                   help="a manifest (.csv, .tsv, .json list, .jsonl) with one row per input image, "
                        "for the profile's {meta[Column]} values")
    p.add_argument("--metadata-key", metavar="COLUMN",
                   help="the column naming each row's input (default: the first whose values match "
                        "the input file names, stems or relative paths)")
    p.add_argument("--metadata-optional", action="store_true",
                   help="allow inputs without a row (converted without the metadata values) and rows "
                        "without an input")


def metadata_options(args: Any) -> dict[str, Any]:
    """The keyword arguments of the --metadata options for the api."""
    return {"metadata": args.metadata, "metadata_key": args.metadata_key,
            "metadata_optional": args.metadata_optional}


def _workers(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"--workers {text}: give a whole number of processes (1 or more) or auto")
    return n


def add_batch_options(p: Any) -> None:
    """Options of the commands whose batch can run in parallel and resume."""
    p.add_argument("--workers", type=_workers, default=None, metavar="N",
                   help="worker processes (default auto: the CPUs available, one per 32 inputs at most); "
                        "outputs are the same whatever N")
    p.add_argument("--resume", action="store_true",
                   help="finish the batch an interrupted run left in --out (same study, series, UIDs, names)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="make the inputs on this Dask cluster (--out on a file system all its workers share)")


def batch_executor(args: Any) -> Any:
    """Where --scheduler says the batch runs (None: here, --workers)."""
    if not getattr(args, "scheduler", None):
        return None
    from dicom_rewrite import api

    return api.DaskExecutor(args.scheduler)


def add_send_options(p: Any) -> None:
    """Options of the commands that can send their outputs to a PACS."""
    p.add_argument("--send", metavar="AET@HOST:PORT",
                   help="also store every output in this PACS by DICOM C-STORE (one association per batch)")
    p.add_argument("--calling-aet", default="DICOM_REWRITE", metavar="AET",
                   help="our AE title for --send (default DICOM_REWRITE)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="network timeout in seconds for --send (default 30)")


def send_sinks(args: Any) -> list[Any]:
    """The PACS sinks the --send options name (none without --send)."""
    if not getattr(args, "send", None):
        return []
    from dicom_rewrite.batch.pacs import DimseSink, Peer

    return [DimseSink(Peer.parse(args.send), calling_aet=args.calling_aet, timeout=args.timeout)]


def check_report_path(path: str | Path | None) -> None:
    """Refuse a --report that cannot be written, before any output is."""
    if path and Path(path).is_dir():
        raise UsageError(f"--report {path}: is a folder; name a file such as report.json or report.jsonl")


def write_report(path: str | Path | None, entries: list[dict[str, Any]]) -> None:
    """Write the report: a JSON list, atomically (``.jsonl``: JSON Lines)."""
    with ReportFile(path) as out:
        for entry in entries:
            out.add(entry)


def collect(results: Iterable[dict[str, Any]], report: str | Path | None, *,
            total: int | None = None, desc: str = "") -> list[dict[str, Any]]:
    """Run a batch under the progress bar, writing its ``--report`` as it
    goes (``.jsonl``: a line per entry, flushed; ``.json``: atomically at the
    end, also when the batch is interrupted or fails)."""
    with ReportFile(report) as out:
        for entry in progress(results, total=total, desc=desc):
            out.add(entry)
    return out.entries


def summarise(entries: list[dict[str, Any]], noun: str = "input") -> int:
    """Print the failures at the end of a batch and return the exit code."""
    failed = [e for e in entries if e.get("status") == "error"]
    ok = len(entries) - len(failed)
    for e in failed:
        message = str(e["error"])
        # engine errors already start with the file name
        error_line(message if message.startswith(str(e["input"])) else f"{e['input']}: {message}")
    if failed:
        print(f"dicom-rewrite: {ok} {noun}(s) done, {len(failed)} failed", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
