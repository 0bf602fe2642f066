"""The ``dicom-rewrite`` command line: argparse, one library call, an exit code.

Each sub-command lives in its own module ``dicom_rewrite.cli.<name>`` with two
functions: ``add_arguments(parser)`` and ``run(args) -> int``. No DICOM logic
lives here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

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


class _VersionAction(argparse.Action):
    """``--version``: imports pydicom only to name its version, and only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str = "show the version and exit") -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: object, values: object,
                 option_string: str | None = None) -> None:
        parser.exit(message=_version_text() + "\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the module of ``command`` is imported (the others
    appear in the help by name), so start-up costs what that command needs.
    ``None``: every command's module (the full parser)."""
    parser = argparse.ArgumentParser(
        prog="dicom-rewrite",
        description="Write DICOM the way a real scanner would, and read it back.",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is one)."""
    return next((a for a in argv if a in COMMANDS), None)


def _version_text() -> str:
    import platform
    from importlib.metadata import version

    return (
        f"dicom-rewrite {__version__} (pydicom {version('pydicom')}, "
        f"Python {platform.python_version()})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (never raises on bad input)."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(words) or "")
    args = parser.parse_args(words)
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
    # a Dask worker lost and replaced is the cluster's business: the batch says what failed
    logging.getLogger("distributed").setLevel(logging.INFO if args.verbose else logging.CRITICAL)
    logging.getLogger("py.warnings").setLevel(quiet)
    previous = _on_sigterm()
    try:
        return int(args._run(args))
    except _Terminated:
        print("dicom-rewrite: terminated", file=sys.stderr)
        return 143
    except DicomRewriteError as exc:
        print(f"dicom-rewrite: error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("dicom-rewrite: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"dicom-rewrite: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(SystemExit):
    """SIGTERM, raised where the program is, so that the batch ends as on
    Ctrl-C: the report is written, no temporary file stays."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)


def _on_sigterm() -> Any:
    """Turn SIGTERM into :class:`_Terminated` (main thread only); return the
    handler it replaces (None when it could not be set)."""
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, AttributeError):  # not the main thread, or no SIGTERM
        return None
