"""Export DICOM files, folders and DICOMDIR media to PNG/JPEG.

The library side of ``dicom-rewrite export``. :func:`render_frame` turns one
frame of a Dataset into the uint8 image a viewer shows (see
:mod:`dicom_rewrite.render.windowing` for the pipeline); :func:`export` walks
inputs and writes images under an output folder, yielding one report entry
per input.

Modules: :mod:`~dicom_rewrite.export.render` (frames to images),
:mod:`~dicom_rewrite.io.names` (the ``--name`` template, shared by every command),
:func:`~dicom_rewrite.io.images.image_writer` (PNG/JPEG files),
:mod:`~dicom_rewrite.export.run` (the batch); DICOM reading (frames,
DICOMDIR) is :mod:`dicom_rewrite.io.dicom_in`.
"""

from dicom_rewrite.export.render import png16_text, render_frame, render_frame_with_info, stored_values_16
from dicom_rewrite.export.run import export, parse_frames
from dicom_rewrite.io.dicom_in import decode_frame
from dicom_rewrite.io.images import EXPORT_FORMATS as FORMATS
from dicom_rewrite.io.names import DEFAULT_NAME, NameTemplate

__all__ = [
    "DEFAULT_NAME",
    "FORMATS",
    "NameTemplate",
    "decode_frame",
    "export",
    "parse_frames",
    "png16_text",
    "render_frame",
    "render_frame_with_info",
    "stored_values_16",
]
