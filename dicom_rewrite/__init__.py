"""dicom-rewrite: write DICOM the way a real scanner would, and read it back."""

from __future__ import annotations

__version__ = "0.1.0"

from dicom_rewrite.api import (  # noqa: E402
    ConversionResult,
    convert_batch,
    convert_files,
    convert_image,
    dry_run,
)
from dicom_rewrite.engine import Converter, Template  # noqa: E402
from dicom_rewrite.errors import (  # noqa: E402
    DicomRewriteError,
    InputError,
    PixelDataError,
    ProfileError,
    TemplateError,
    UsageError,
)
from dicom_rewrite.profile import Profile  # noqa: E402

__all__ = [
    "ConversionResult", "Converter", "DicomRewriteError", "InputError", "PixelDataError",
    "Profile", "ProfileError", "Template", "TemplateError", "UsageError", "__version__",
    "convert_batch", "convert_files", "convert_image", "dry_run",
]
