"""The Image Pixel module: choose the SOP class and pixel format, then write.

:func:`plan_pixels` validates and decides (no change to any dataset);
:func:`apply_pixels` writes the plan into a dataset through pydicom's
``set_pixel_data``, adding the Modality LUT / VOI attributes the target IOD
needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicom_rewrite import iod
from dicom_rewrite.errors import PixelDataError
from dicom_rewrite.raster import Raster


@dataclass(frozen=True)
class PixelPlan:
    sop_class: UID
    switched_from: UID | None  # the template class, when we had to switch
    photometric: str
    bits_allocated: int
    bits_stored: int
    rules: iod.PixelRules
    reason: str = ""


def plan_pixels(template_class: str, raster: Raster, mode: str = "auto") -> PixelPlan:
    """Decide the SOP class and stored format for ``raster``.

    ``mode``: ``auto`` keeps the template's class when the pixels fit its IOD
    and otherwise switches to Secondary Capture; ``keep`` refuses to switch;
    ``secondary-capture`` always writes Secondary Capture.
    """
    tclass = UID(str(template_class))
    kind = f"{raster.samples}-sample {raster.bits}-bit{' signed' if raster.signed else ''}"
    target = tclass if mode != "secondary-capture" else iod.SECONDARY_CAPTURE
    ok, bits = iod.fits(target, samples=raster.samples, bits=raster.bits, signed=raster.signed)
    reason = "the profile asks for pixel.sop_class: secondary-capture" if target != tclass else ""
    if not ok:
        name = tclass.name if tclass.is_valid else str(tclass)
        if mode == "keep":
            raise PixelDataError(
                f"{raster.source}: {kind} pixels do not fit the template's SOP class "
                f"{name} and the profile says pixel.sop_class: keep"
            )
        reason = f"{kind} {raster.photometric} pixels do not fit {name}"
        target = iod.SECONDARY_CAPTURE
        ok, bits = iod.fits(target, samples=raster.samples, bits=raster.bits, signed=raster.signed)
        if not ok:  # pragma: no cover - SC accepts every raster we produce
            raise PixelDataError(f"{raster.source}: {kind} pixels cannot be stored")
    rules = iod.rules_for(target)
    assert rules is not None
    bits_stored = raster.bits_stored if bits == raster.bits else bits
    bits_stored = max(bits_stored, rules.min_bits_stored)
    return PixelPlan(
        UID(str(target)), tclass if target != tclass else None, raster.photometric, bits,
        bits_stored, rules, reason,
    )


def stored_array(raster: Raster, plan: PixelPlan) -> np.ndarray:
    """The array to store: widened to ``bits_allocated``, little-endian."""
    a = raster.array
    if plan.bits_allocated == 16 and a.dtype.itemsize == 1:
        a = a.astype("<i2" if a.dtype.kind == "i" else "<u2")
    # pydicom's set_pixel_data writes arr.tobytes(): force little-endian
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))


def window_for(arr: np.ndarray, bits: int) -> tuple[float, float]:
    """A window (center, width) that shows the data as the source image did.

    8-bit sources map 0..255 to 0..255 exactly (PS3.3 C.11.2.1.2.1:
    center 128, width 256); wider data uses its own min..max.
    """
    if bits == 8:
        return 128.0, 256.0
    lo, hi = int(arr.min()), int(arr.max())
    width = max(hi - lo + 1, 2)
    return (lo + hi + 1) / 2, float(width)


def apply_pixels(ds: Dataset, raster: Raster, plan: PixelPlan) -> None:
    """Write the pixels and the pixel-dependent attributes into ``ds``."""
    arr = stored_array(raster, plan)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = plan.sop_class
    ds.set_pixel_data(arr, plan.photometric, plan.bits_stored, generate_instance_uid=False)
    if raster.samples != 1:
        return
    rules = plan.rules
    slope, intercept = raster.rescale or (1.0, 0.0)
    if rules.rescale == "required" or (raster.rescale and iod.has_module(plan.sop_class, "modality-lut")):
        # the source's Modality LUT (a png16 export), else identity
        ds.RescaleIntercept = f"{intercept:.10g}"
        ds.RescaleSlope = f"{slope:.10g}"
        if rules.rescale_type:
            ds.RescaleType = rules.rescale_type
    else:
        slope, intercept = 1.0, 0.0
    center, width = window_for(arr, raster.bits)
    # the window is in modality units (PS3.3 C.11.2.1.2)
    center, width = center * slope + intercept, max(width * abs(slope), 1.0)
    ds.WindowCenter = f"{center:g}"
    ds.WindowWidth = f"{width:g}"
    if rules.presentation_lut:
        ds.PresentationLUTShape = "INVERSE" if plan.photometric == "MONOCHROME1" else "IDENTITY"
