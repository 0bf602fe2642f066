"""The library API, one function per command; the command line is a thin
layer over these (each command is one call here).

>>> from dicom_rewrite import convert_image
>>> ds = convert_image("sample_data/gray8.png", "templates/ct.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

from dicom_rewrite.annotate import annotate_dataset, annotate_files, annotate_with_gsps
from dicom_rewrite.batch.pacs import DimseSink, Peer, StoreError
from dicom_rewrite.batch.pacs import echo as _echo
from dicom_rewrite.convert import (
    ConversionResult,
    convert_batch,
    convert_files,
    convert_image,
    dry_run,
    expand_inputs,
)
from dicom_rewrite.engine.template import as_profile, as_template
from dicom_rewrite.export import export
from dicom_rewrite.series import iter_series, prepare_series, write_series


def echo(peer: str | Peer, *, calling_aet: str = "DICOM_REWRITE", timeout: float = 10.0) -> str:
    """C-ECHO ``peer`` (``AET@HOST:PORT``); return ``dimse://... success`` or
    raise :class:`StoreError` (an ``OSError``) naming what failed."""
    return _echo(peer if isinstance(peer, Peer) else Peer.parse(peer), calling_aet=calling_aet, timeout=timeout)


__all__ = [
    "ConversionResult",
    "DimseSink",
    "Peer",
    "StoreError",
    "annotate_dataset",
    "annotate_files",
    "annotate_with_gsps",
    "as_profile",
    "as_template",
    "convert_batch",
    "convert_files",
    "convert_image",
    "dry_run",
    "echo",
    "expand_inputs",
    "export",
    "iter_series",
    "prepare_series",
    "write_series",
]
