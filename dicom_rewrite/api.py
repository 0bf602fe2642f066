"""The library API, one function per command; the command line is a thin
layer over these (each command is one call here).

Names are imported on first use (PEP 562): ``api.convert_files`` loads the
convert command only, so a command's start-up pays for that command alone.

>>> from dicom_rewrite import convert_image
>>> ds = convert_image("sample_data/gray8.png", "templates/ct.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicom_rewrite.core.lazy import lazy_names

#: public name -> the module that defines it
_PUBLIC = {
    **dict.fromkeys(("ConversionResult", "convert_batch", "convert_files", "convert_image", "dry_run",
                     "expand_inputs"), "dicom_rewrite.convert"),
    **dict.fromkeys(("annotate_dataset", "annotate_files", "annotate_with_gsps"), "dicom_rewrite.annotate"),
    **dict.fromkeys(("iter_series", "prepare_series", "write_derived_series", "write_segmentation",
                     "write_series"),
                    "dicom_rewrite.series"),
    "export": "dicom_rewrite.export",
    **dict.fromkeys(("as_profile", "as_template"), "dicom_rewrite.engine.template"),
    **dict.fromkeys(("DimseSink", "Peer", "StoreError"), "dicom_rewrite.batch.pacs"),
    "DaskExecutor": "dicom_rewrite.distributed",
}

if TYPE_CHECKING:
    from dicom_rewrite.annotate import annotate_dataset, annotate_files, annotate_with_gsps
    from dicom_rewrite.batch.pacs import DimseSink, Peer, StoreError
    from dicom_rewrite.convert import (
        ConversionResult,
        convert_batch,
        convert_files,
        convert_image,
        dry_run,
        expand_inputs,
    )
    from dicom_rewrite.distributed import DaskExecutor
    from dicom_rewrite.engine.template import as_profile, as_template
    from dicom_rewrite.export import export
    from dicom_rewrite.series import (
        iter_series,
        prepare_series,
        write_derived_series,
        write_segmentation,
        write_series,
    )


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC, globals())


def echo(peer: str | Peer, *, calling_aet: str = "DICOM_REWRITE", timeout: float = 10.0) -> str:
    """C-ECHO ``peer`` (``AET@HOST:PORT``); return ``dimse://... success`` or
    raise :class:`StoreError` (an ``OSError``) naming what failed."""
    from dicom_rewrite.batch import pacs

    target = peer if isinstance(peer, pacs.Peer) else pacs.Peer.parse(peer)
    return pacs.echo(target, calling_aet=calling_aet, timeout=timeout)


__all__ = [
    "ConversionResult",
    "DaskExecutor",
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
    "write_derived_series",
    "write_segmentation",
    "write_series",
]
