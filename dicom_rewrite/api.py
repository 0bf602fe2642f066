"""The library API, one function per command; the command line is a thin
layer over these (each command is one call here).

>>> from dicom_rewrite import convert_image
>>> ds = convert_image("sample_data/gray8.png", "templates/ct.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

from dicom_rewrite.annotate import annotate_dataset, annotate_files, annotate_with_gsps
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

__all__ = [
    "ConversionResult", "annotate_dataset", "annotate_files", "annotate_with_gsps", "as_profile",
    "as_template", "convert_batch", "convert_files", "convert_image", "dry_run", "expand_inputs",
    "export", "iter_series", "prepare_series", "write_series",
]
