"""Helpers shared by the sub-commands: reports, progress, error lines."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dicom_rewrite.batch.report import ReportFile
from dicom_rewrite.errors import DicomRewriteError, InputError, UsageError, escape_controls

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
    """Print one error line on stderr (control characters escaped: a file
    name holding a newline keeps the message on one line)."""
    print(f"dicom-rewrite: error: {escape_controls(message)}", file=sys.stderr)


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


def add_name_option(p: Any) -> None:
    """``--name``: the output names of a command that writes DICOM (export's name language)."""
    p.add_argument("--name", metavar="TEMPLATE",
                   help="output path template over the output's DICOM keywords, {stem}, {frame} and {index}, "
                        "e.g. '{PatientID}/{StudyInstanceUID}/{SeriesNumber}/{InstanceNumber:04d}'")


def add_tls_options(p: Any) -> None:
    """DICOM over TLS (PS3.15 B.1) for --send and echo."""
    p.add_argument("--tls-ca", metavar="CA.pem",
                   help="associate over TLS, trusting this certificate authority (or the PACS's own certificate)")
    p.add_argument("--tls-cert", metavar="CERT.pem", help="TLS: our certificate, if the PACS asks for one")
    p.add_argument("--tls-key", metavar="KEY.pem", help="TLS: the private key of --tls-cert")


def add_send_options(p: Any, *, local: bool = True) -> None:
    """Destination options of the commands that write DICOM: a file-set
    (``local``), a PACS, a DICOMweb server."""
    if local:
        p.add_argument("--dicomdir", action="store_true",
                       help="make --out a DICOM file-set (PS3.10 media: 8-character file IDs and a DICOMDIR); "
                            "an existing file-set is added to")
    p.add_argument("--send", metavar="AET@HOST:PORT",
                   help="also store every output in this PACS by DICOM C-STORE (one association per batch)")
    p.add_argument("--calling-aet", default="DICOM_REWRITE", metavar="AET",
                   help="our AE title for --send (default DICOM_REWRITE)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="network timeout in seconds for --send and --stow (default 30)")
    add_tls_options(p)
    p.add_argument("--stow", metavar="URL",
                   help="also store every output in this DICOMweb server by STOW-RS "
                        "(its base URL, e.g. http://pacs:8042/dicom-web)")
    p.add_argument("--token-env", metavar="NAME",
                   help="environment variable holding a bearer token for --stow (never the token itself)")


def require_destination(args: Any, command: str) -> None:
    """Refuse a run with nowhere to put its outputs, before anything is read."""
    if not args.out and not getattr(args, "send", None) and not getattr(args, "stow", None):
        raise UsageError(f"{command}: --out DIR, --send AET@HOST:PORT or --stow URL is required")


def tls_options(args: Any) -> Any:
    """The TLS context of --tls-ca/--tls-cert/--tls-key (None: no TLS)."""
    ca, cert, key = (getattr(args, f"tls_{k}", None) for k in ("ca", "cert", "key"))
    if ca is None and cert is None and key is None:
        return None
    from dicom_rewrite.batch.pacs import tls_context

    return tls_context(ca, cert, key)


def send_sinks(args: Any) -> list[Any]:
    """The network sinks the --send and --stow options name (none without them)."""
    sinks: list[Any] = []
    tls = tls_options(args)
    if getattr(args, "send", None):
        from dicom_rewrite.batch.pacs import DimseSink, Peer

        sinks.append(DimseSink(Peer.parse(args.send), calling_aet=args.calling_aet, timeout=args.timeout,
                               tls=tls))
    if getattr(args, "stow", None):
        from dicom_rewrite.batch.stow import StowSink

        sinks.append(StowSink(args.stow, token_env=args.token_env, timeout=args.timeout))
    elif getattr(args, "token_env", None):
        raise UsageError("--token-env is the bearer token of --stow; give --stow URL too")
    if not getattr(args, "send", None) and tls is not None:
        raise UsageError("--tls-ca, --tls-cert and --tls-key are for --send; give --send AET@HOST:PORT too")
    return sinks


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
