"""``dicom-rewrite echo AET@HOST:PORT``: check a PACS answers (C-ECHO)."""

from __future__ import annotations

import argparse

from dicom_rewrite import api
from dicom_rewrite.cli.common import EXIT_OK, EXIT_SOME_FAILED, add_tls_options, error_line, tls_options
from dicom_rewrite.errors import one_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("peer", metavar="AET@HOST:PORT", help="the PACS to check, e.g. ORTHANC@127.0.0.1:4242")
    p.add_argument("--calling-aet", default="DICOM_REWRITE", metavar="AET", help="our AE title")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="network timeout in seconds")
    add_tls_options(p)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the peer answers, 1 when it does not, 2 for a bad AET@HOST:PORT."""
    try:
        print(api.echo(args.peer, calling_aet=args.calling_aet, timeout=args.timeout, tls=tls_options(args)))
    except api.StoreError as exc:
        error_line(one_line(exc))
        return EXIT_SOME_FAILED
    return EXIT_OK
