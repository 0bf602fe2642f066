"""The ``dicom-rewrite`` command line: argparse, one library call, an exit code.

Each sub-command lives in its own module ``dicom_rewrite.cli.<name>`` with two
functions: ``add_arguments(parser)`` and ``run(args) -> int``. No DICOM logic
lives here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from dicom_rewrite import __version__
from dicom_rewrite.cli.common import EXIT_USAGE, exit_code
from dicom_rewrite.errors import DicomRewriteError, one_line

#: sub-command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("dicom_rewrite.cli.convert", "images -> DICOM in a template's dialect"),
    "export": ("dicom_rewrite.cli.export", "DICOM files, folders, DICOMDIR -> PNG/JPEG"),
    "annotate": ("dicom_rewrite.cli.annotate", "burn boxes and labels into RGB copies of DICOM images (+ GSPS)"),
    "profile": ("dicom_rewrite.cli.profile", "check, describe (JSON Schema) and start YAML site profiles"),
    "series": ("dicom_rewrite.cli.series", "a volume (.npy, .npz, NIfTI) -> one DICOM series"),
    "echo": ("dicom_rewrite.cli.echo", "check that a PACS answers (DICOM C-ECHO)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicom-rewrite",
        description="Write DICOM the way a real scanner would, and read it back.",
    )
    parser.add_argument("--version", action="version", version=_version_text())
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _version_text() -> str:
    import platform

    import pydicom

    return (
        f"dicom-rewrite {__version__} (pydicom {pydicom.__version__}, "
        f"Python {platform.python_version()})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (never raises on bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    # pydicom reports odd values of third-party files as warnings; they are
    # details for -v, not errors (errors are one line each, below)
    logging.captureWarnings(True)
    quiet = logging.INFO if args.verbose else logging.ERROR
    logging.getLogger("pydicom").setLevel(quiet)
    # its association errors are said in our one line
    logging.getLogger("pynetdicom").setLevel(logging.INFO if args.verbose else logging.CRITICAL)
    logging.getLogger("py.warnings").setLevel(quiet)
    try:
        return int(args._run(args))
    except DicomRewriteError as exc:
        print(f"dicom-rewrite: error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("dicom-rewrite: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"dicom-rewrite: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
