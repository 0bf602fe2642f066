"""One frame of a Dataset -> the image a viewer shows (uint8), or its
stored values (uint16, for ``png16``).

Decoding is :func:`dicom_rewrite.io.dicom_in.decode_frame`; the pipeline
(Modality LUT, VOI, presentation) is :mod:`dicom_rewrite.render.windowing`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.errors import PixelDataError
from dicom_rewrite.io.dicom_in import decode_frame, decode_frame_with_plugin
from dicom_rewrite.render import windowing

__all__ = ["png16_text", "render_frame", "render_frame_decoded", "render_frame_with_info", "stored_values_16"]


def render_frame(ds: Dataset, frame: int = 0, **voi_options: Any) -> np.ndarray:
    """Return frame ``frame`` (0-based) of ``ds`` rendered to uint8, as a viewer shows it.

    ``voi_options`` are passed to :func:`dicom_rewrite.render.windowing.render`:
    ``window``, ``window_index``, ``voi``, ``voi_function``,
    ``apply_presentation``, ``overlays``.
    """
    return render_frame_with_info(ds, frame, **voi_options)[0]


def render_frame_with_info(
    ds: Dataset, frame: int = 0, **voi_options: Any
) -> tuple[np.ndarray, windowing.RenderInfo]:
    """Like :func:`render_frame`, also returning what was applied."""
    arr, info, _ = render_frame_decoded(ds, frame, **voi_options)
    return arr, info


def render_frame_decoded(
    ds: Dataset, frame: int = 0, **voi_options: Any
) -> tuple[np.ndarray, windowing.RenderInfo, str | None]:
    """Like :func:`render_frame_with_info`, also naming the decoder plugin
    that decoded the frame (None for native pixel data)."""
    arr, plugin = decode_frame_with_plugin(ds, frame)
    image, info = windowing.render_with_info(ds, arr, frame=frame, **voi_options)
    return image, info, plugin


def stored_values_16(ds: Dataset, frame: int = 0) -> np.ndarray:
    """The stored values of a grayscale frame as uint16, for ``png16``.

    Signed images (Pixel Representation 1) keep their 16-bit two's complement
    bit pattern, so the values are unchanged bit for bit.
    """
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if spp != 1:
        raise PixelDataError(
            f"png16 holds grayscale stored values; (0028,0002) Samples per Pixel is {spp} (use --format png)"
        )
    if "PixelData" not in ds:
        raise PixelDataError("png16 needs integer (7FE0,0010) Pixel Data; this image has float pixel data")
    bits = int(ds.get("BitsStored", 0) or 0)
    if bits > 16:
        raise PixelDataError(f"png16 holds at most 16 bits; (0028,0101) Bits Stored is {bits} (use --format png)")
    arr = decode_frame(ds, frame, raw=True)
    if arr.dtype.kind == "i":
        return arr.astype(np.int16).view(np.uint16)
    return arr.astype(np.uint16)


def png16_text(ds: Dataset, frame: int = 0) -> dict[str, str]:
    """PNG text chunks that let ``convert`` read a png16 export back exactly:
    Pixel Representation, Bits Stored and the Modality LUT (rescale)."""
    from dicom_rewrite.io.images import PNG16_KEYS

    text = {
        PNG16_KEYS["pixel_representation"]: str(int(ds.get("PixelRepresentation", 0) or 0)),
        PNG16_KEYS["bits_stored"]: str(int(ds.get("BitsStored", 16) or 16)),
        PNG16_KEYS["photometric_interpretation"]: str(ds.get("PhotometricInterpretation", "")),
    }
    view = windowing.frame_view(ds, frame)  # per-frame rescale of enhanced images
    slope, intercept = view.get("RescaleSlope"), view.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        text[PNG16_KEYS["rescale_slope"]] = f"{float(slope):.10g}"
        text[PNG16_KEYS["rescale_intercept"]] = f"{float(intercept):.10g}"
    return text
