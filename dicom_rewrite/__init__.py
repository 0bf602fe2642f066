"""dicom-rewrite: write DICOM the way a real scanner would, and read it back."""

from __future__ import annotations

__version__ = "0.1.0"

from dicom_rewrite.api import (
    ConversionResult,
    convert_batch,
    convert_files,
    convert_image,
    dry_run,
)
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

__all__ = [
    "ConversionResult", "Converter", "DicomRewriteError", "InputError", "PixelDataError",
    "Profile", "ProfileError", "Template", "TemplateError", "UsageError", "__version__",
    "convert_batch", "convert_files", "convert_image", "dry_run",
]
