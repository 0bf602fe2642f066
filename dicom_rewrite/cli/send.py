"""``dicom-rewrite send FILES|FOLDERS --send AET@HOST:PORT | --stow URL``:
existing DICOM files to a PACS or a DICOMweb server."""

from __future__ import annotations

import argparse

from dicom_rewrite import api
from dicom_rewrite.cli.common import add_send_options, check_report_path, collect, send_sinks, summarise
from dicom_rewrite.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="DICOM",
                   help="DICOM files, folders (recursive; other files skipped) or DICOMDIRs")
    p.add_argument("--report", metavar="report.json", help="report of every file (.jsonl: a line each, as it goes)")
    add_send_options(p, local=False)


def run(args: argparse.Namespace) -> int:
    if not args.send and not args.stow:
        raise UsageError("send: give --send AET@HOST:PORT or --stow URL (or both)")
    check_report_path(args.report)
    entries = collect(api.send_files(args.inputs, send_sinks(args)), args.report, desc="send")
    return summarise(entries, noun="file")
