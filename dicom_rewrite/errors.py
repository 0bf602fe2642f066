"""Exception types of dicom-rewrite.

Every error the library raises on bad input derives from
:class:`DicomRewriteError` and also from the builtin that fits it, so callers
may catch either. Messages are one line and name the file, the value received
and the rule that was broken.
"""

from __future__ import annotations


class DicomRewriteError(Exception):
    """Base class of every error dicom-rewrite raises on purpose.

    :class:`InputError` is about one input (a batch reports it and goes on);
    the others (usage, template, profile) stop the whole run.
    """


class UsageError(DicomRewriteError, ValueError):
    """Bad command line arguments or option values."""


class TemplateError(DicomRewriteError, ValueError):
    """The reference DICOM (template) cannot be used."""


class ProfileError(DicomRewriteError, ValueError):
    """The YAML profile is invalid."""


class ManifestError(DicomRewriteError, ValueError):
    """The metadata manifest (``--metadata``) is invalid or does not match
    the inputs."""


class InputError(DicomRewriteError, ValueError):
    """One input file cannot be converted (the batch goes on)."""


class PixelDataError(InputError):
    """Pixel data that cannot be represented or decoded."""


class CodecUnavailableError(DicomRewriteError, RuntimeError):
    """A codec plugin needed for a transfer syntax is not installed."""


#: what an exception without a message of its own is, in words
_PLAIN = {
    MemoryError: "out of memory",
    RecursionError: "nested too deeply",
    ZeroDivisionError: "division by zero",
    EOFError: "unexpected end of data",
    TimeoutError: "timed out",
}


def one_line(exc: BaseException) -> str:
    """Return ``exc`` as a single line of text (no newlines, no traceback),
    control characters (e.g. in file names) escaped."""
    text = str(exc)
    if not text or text == type(exc).__name__:
        text = describe(exc)
    return escape_controls(" ".join(text.split(" ")).strip())


def describe(exc: BaseException) -> str:
    """A plain description of an exception that has no message of its own."""
    for kind, words in _PLAIN.items():
        if isinstance(exc, kind):
            return words
    return "unexpected failure"


def escape_controls(text: str) -> str:
    """``text`` with every control character (newline, tab, ESC, ...) shown
    as an escape, so one message stays one line and cannot drive a terminal."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)
