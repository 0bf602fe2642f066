"""dicom-rewrite: write DICOM the way a real scanner would, and read it back.

The public names below are imported on first use (PEP 562), so that
``import dicom_rewrite`` (and ``dicom-rewrite --version``) costs nothing
until a name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicom_rewrite.core.lazy import lazy_names

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "ConversionResult": "dicom_rewrite.convert",
    "convert_batch": "dicom_rewrite.convert",
    "convert_files": "dicom_rewrite.convert",
    "convert_image": "dicom_rewrite.convert",
    "dry_run": "dicom_rewrite.convert",
    "Converter": "dicom_rewrite.engine.converter",
    "Template": "dicom_rewrite.engine.template",
    "Profile": "dicom_rewrite.profile",
    "DicomRewriteError": "dicom_rewrite.errors",
    "InputError": "dicom_rewrite.errors",
    "PixelDataError": "dicom_rewrite.errors",
    "ProfileError": "dicom_rewrite.errors",
    "TemplateError": "dicom_rewrite.errors",
    "UsageError": "dicom_rewrite.errors",
}

if TYPE_CHECKING:
    from dicom_rewrite.convert import ConversionResult, convert_batch, convert_files, convert_image, dry_run
    from dicom_rewrite.engine.converter import Converter
    from dicom_rewrite.engine.template import Template
    from dicom_rewrite.errors import (
        DicomRewriteError,
        InputError,
        PixelDataError,
        ProfileError,
        TemplateError,
        UsageError,
    )
    from dicom_rewrite.profile import Profile


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC, globals())


__all__ = [
    "ConversionResult", "Converter", "DicomRewriteError", "InputError", "PixelDataError",
    "Profile", "ProfileError", "Template", "TemplateError", "UsageError", "__version__",
    "convert_batch", "convert_files", "convert_image", "dry_run",
]
