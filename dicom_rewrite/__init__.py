"""dicom-rewrite: write DICOM the way a real scanner would, and read it back."""

from __future__ import annotations

__version__ = "0.1.0"
