"""The Image Pixel module: choose the SOP class and pixel format, then write.

:func:`plan_pixels` validates and decides (no change to any dataset);
:func:`apply_pixel_module` writes the pixel module for a kind of image through
pydicom's ``set_pixel_data`` (once per kind and batch), with the Modality LUT
and presentation attributes the target IOD needs; :func:`set_pixel_values`
writes one image's Pixel Data and window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicom_rewrite.core import iod
from dicom_rewrite.errors import PixelDataError
from dicom_rewrite.io.images import Raster


@dataclass(frozen=True)
class PixelPlan:
    sop_class: UID
    switched_from: UID | None  # the template class, when we had to switch
    photometric: str
    bits_allocated: int
    bits_stored: int
    rules: iod.PixelRules
    reason: str = ""


def plan_pixels(template_class: str, raster: Raster, mode: str = "auto", gap: str = "") -> PixelPlan:
    """Decide the SOP class and stored format for ``raster``.

    ``mode``: ``auto`` keeps the template's class when the pixels fit its IOD
    and otherwise switches to Secondary Capture; ``keep`` refuses to switch;
    ``secondary-capture`` always writes Secondary Capture. ``gap``: why the
    template's class cannot be written honestly (then Secondary Capture too).
    """
    rows, cols = raster.rows_columns
    if not (0 < rows <= 0xFFFF and 0 < cols <= 0xFFFF):
        # PS3.3 C.7.6.3.1: (0028,0010) Rows and (0028,0011) Columns are US
        raise PixelDataError(
            f"{raster.source}: image of {cols}x{rows} pixels; DICOM Rows and Columns "
            "must be 1..65535"
        )
    tclass = UID(str(template_class))
    kind = f"{raster.samples}-sample {raster.bits}-bit{' signed' if raster.signed else ''}"
    target, reason = _first_choice(tclass, raster, mode, gap)
    ok, bits = _fits(target, raster)
    if target != tclass and mode == "keep":
        raise PixelDataError(f"{raster.source}: {reason}, and the profile says pixel.sop_class: keep")
    if not ok:
        name = tclass.name if tclass.is_valid else str(tclass)
        what = f"{kind} {raster.photometric} pixels"
        if raster.encoded is not None:
            what = f"a JPEG bitstream kept as is ({what})"
        if mode == "keep":
            raise PixelDataError(
                f"{raster.source}: {what} do not fit the template's SOP class "
                f"{name} and the profile says pixel.sop_class: keep"
            )
        reason = f"{what} do not fit {name}"
        target = _secondary_capture(raster)
        ok, bits = _fits(target, raster)
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


#: single-frame classes whose IOD has a multi-frame sibling for frames shown
#: in time (PS3.3 A.6: US Multi-frame)
_MULTIFRAME_SIBLING = {UID("1.2.840.10008.5.1.4.1.1.6.1"): UID("1.2.840.10008.5.1.4.1.1.3.1")}

#: classes whose IOD holds several frames with the Multi-frame module only
#: (no functional groups to fill): US Multi-frame, Multi-frame SC (PS3.3 A.7, A.8.2-A.8.5)
_MULTIFRAME = frozenset({UID("1.2.840.10008.5.1.4.1.1.3.1"), *(
    UID(f"1.2.840.10008.5.1.4.1.1.7.{n}") for n in (2, 3, 4))})


def _first_choice(tclass: UID, raster: Raster, mode: str, gap: str = "") -> tuple[UID, str]:
    """The class to try first, and why when it is not the template's."""
    if mode == "secondary-capture":
        return _secondary_capture(raster), "the profile asks for pixel.sop_class: secondary-capture"
    if gap:
        return _secondary_capture(raster), gap
    if not raster.frames or tclass in _MULTIFRAME:
        return tclass, ""
    name = tclass.name if tclass.is_valid else str(tclass)
    sibling = _MULTIFRAME_SIBLING.get(tclass)
    if sibling is not None and raster.frame_times:
        return sibling, f"{raster.frames} frames in time: the multi-frame sibling of {name}"
    return _secondary_capture(raster), f"{raster.frames} frames in one instance, and {name} is single-frame"


def _secondary_capture(raster: Raster) -> UID:
    """Secondary Capture for one image; for frames, the Multi-frame SC class
    of their kind (PS3.3 A.8.2 Grayscale Byte, A.8.3 Word, A.8.5 True Color)."""
    if not raster.frames:
        return UID(iod.SECONDARY_CAPTURE)
    if raster.samples == 3:
        return UID("1.2.840.10008.5.1.4.1.1.7.4")
    return UID("1.2.840.10008.5.1.4.1.1.7.2" if raster.bits == 8 else "1.2.840.10008.5.1.4.1.1.7.3")


def _fits(sop_class: UID, raster: Raster) -> tuple[bool, int]:
    """:func:`iod.fits`; a JPEG bitstream kept as is fits only without
    widening (PS3.5 8.2.1: Bits Allocated 8 for an 8-bit stream, 16 for 12),
    and frames only a multi-frame class (one image: a single-frame class)."""
    ok, bits = iod.fits(sop_class, samples=raster.samples, bits=raster.bits, signed=raster.signed)
    # one image goes to a single-frame class; frames go to a multi-frame one
    ok = ok and (sop_class in _MULTIFRAME) == bool(raster.frames)
    return ok and (raster.encoded is None or bits == raster.bits), bits


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


def apply_pixel_module(ds: Dataset, raster: Raster, plan: PixelPlan) -> None:
    """Write the Image Pixel module and the Modality LUT / presentation
    attributes for this kind of raster (all but the per-image values, which
    :func:`set_pixel_values` writes). Validates through pydicom's
    ``set_pixel_data``."""
    arr = stored_array(raster, plan)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = plan.sop_class
    # a JPEG bitstream's colour space (YBR_FULL_422 ...) describes the stream,
    # not the decoded array pydicom validates (PS3.5 8.2.1)
    native = plan.photometric if raster.encoded is None or raster.samples == 1 else "RGB"
    ds.set_pixel_data(arr, native, plan.bits_stored, generate_instance_uid=False)
    ds.PhotometricInterpretation = plan.photometric
    if raster.frames:
        _frame_pointers(ds, raster)
    if raster.samples != 1:
        return
    rules = plan.rules
    slope, intercept = _rescale(raster, plan)
    if (slope, intercept) != (1.0, 0.0) or rules.rescale == "required":
        # the source's Modality LUT (a png16 export), else identity
        ds.RescaleIntercept = f"{intercept:.10g}"
        ds.RescaleSlope = f"{slope:.10g}"
        if rules.rescale_type:
            ds.RescaleType = rules.rescale_type
    if rules.presentation_lut:
        ds.PresentationLUTShape = "INVERSE" if plan.photometric == "MONOCHROME1" else "IDENTITY"


def _frame_pointers(ds: Dataset, raster: Raster) -> None:
    """PS3.3 C.7.6.6 Multi-frame and C.7.6.5 Cine: what steps from frame to
    frame. Frames shown in time: (0018,1063) Frame Time when equal, else
    (0018,1065) Frame Time Vector (the increment before each frame, 0 first:
    C.7.6.5.1.2), and (0018,0040) Cine Rate; pages (no times): (0018,2001)
    Page Number Vector (C.8.6.3)."""
    times = raster.frame_times
    if times:
        if len(set(times)) == 1:
            ds.FrameTime = f"{times[0]:g}"
            ds.FrameIncrementPointer = 0x00181063
        else:
            ds.FrameTimeVector = ["0", *(f"{t:g}" for t in times[:-1])]
            ds.FrameIncrementPointer = 0x00181065
        ds.CineRate = max(1, round(1000 * len(times) / max(sum(times), 1)))
    else:
        ds.PageNumberVector = list(range(1, raster.frames + 1))
        ds.FrameIncrementPointer = 0x00182001


def _rescale(raster: Raster, plan: PixelPlan) -> tuple[float, float]:
    """(slope, intercept) written for this raster: the source's own where the
    IOD has a Modality LUT, else identity."""
    if raster.rescale and (plan.rules.rescale == "required"
                           or iod.has_module(plan.sop_class, "modality-lut")):
        return raster.rescale
    return 1.0, 0.0


#: (7FE0,0010) Pixel Data, (0028,1050) Window Center, (0028,1051) Window Width
_PIXEL_DATA, _WINDOW_CENTER, _WINDOW_WIDTH = 0x7FE00010, 0x00281050, 0x00281051


def pixel_payload(raster: Raster, plan: PixelPlan) -> tuple[np.ndarray, str]:
    """The array to store for this raster (checked against Bits Stored) and
    the VR of its Pixel Data (PS3.5 8.1.1: OB for 8 bits, OW above)."""
    arr = stored_array(raster, plan)
    bits = plan.bits_stored
    if bits < arr.dtype.itemsize * 8:
        # the range check of pydicom's set_pixel_data, for values that could exceed it
        lo, hi = (0, (1 << bits) - 1) if arr.dtype.kind == "u" else (
            -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        if int(arr.min()) < lo or int(arr.max()) > hi:
            raise PixelDataError(
                f"{raster.source}: values [{int(arr.min())}, {int(arr.max())}] do not fit "
                f"(0028,0101) Bits Stored {bits} ([{lo}, {hi}])"
            )
    return arr, "OB" if plan.bits_allocated <= 8 else "OW"


def window_values(arr: np.ndarray, raster: Raster, plan: PixelPlan) -> list[tuple[int, str, str]]:
    """``(tag, VR, text)`` of Window Center and Width for one stored array
    (gray only; none for colour)."""
    if raster.samples != 1:
        return []
    slope, intercept = _rescale(raster, plan)
    center, width = window_for(arr, raster.bits)
    # the window is in modality units (PS3.3 C.11.2.1.2)
    center, width = center * slope + intercept, max(width * abs(slope), 1.0)
    return [(_WINDOW_CENTER, "DS", f"{center:g}"), (_WINDOW_WIDTH, "DS", f"{width:g}")]


def set_pixel_values(ds: Dataset, raster: Raster, plan: PixelPlan) -> None:
    """Write this raster's Pixel Data and its window into a dataset whose
    pixel module :func:`apply_pixel_module` wrote for a raster of the same
    kind (same plan, shape and dtype)."""
    arr, vr = pixel_payload(raster, plan)
    if (int(ds.Rows), int(ds.Columns)) != raster.rows_columns:
        raise PixelDataError(f"{raster.source}: shape {arr.shape} does not match the pixel module")
    if raster.encoded is not None:
        # PS3.5 A.4: encapsulated, one fragment per frame holding its JPEG stream as is
        ds.add(DataElement(_PIXEL_DATA, "OB", encapsulate(list(raster.encoded))))
    else:
        data = arr.tobytes()
        # PS3.5 8.1.1: Pixel Data has even length
        ds.add(DataElement(_PIXEL_DATA, vr, data if len(data) % 2 == 0 else data + b"\x00"))
    for tag, vr, text in window_values(arr, raster, plan):
        ds.add(DataElement(tag, vr, text))
