"""Step 1 of the grayscale pipeline: the Modality LUT (PS3.3 C.11.1), and
the per-frame view of enhanced multi-frame images (PS3.3 C.7.6.16)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_modality_lut

from dicom_rewrite.errors import PixelDataError


def frame_view(ds: Dataset, frame: int = 0) -> Dataset:
    """Return a flat view of ``ds`` with the frame's functional group values.

    Enhanced multi-frame images (PS3.3 C.7.6.16) keep Rescale Slope/Intercept
    and the window in (5200,9229) *Shared* or (5200,9230) *Per-frame
    Functional Groups Sequence*. This copies those of ``frame`` to the top
    level of a shallow copy so the rest of the pipeline reads one place.
    ``ds`` itself is not changed. Without functional groups ``ds`` is returned.
    """
    groups: list[Dataset] = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and 0 <= frame < len(per_frame):
        groups.append(per_frame[frame])
    if not groups:
        return ds
    view = Dataset()
    view.update(ds)
    if hasattr(ds, "file_meta"):
        view.file_meta = ds.file_meta
    for group in groups:  # per-frame values override the shared ones
        for seq_kw in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            items = group.get(seq_kw)
            if items:
                for elem in items[0]:
                    view[elem.tag] = elem
    return view


def modality_values(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    """Apply the Modality LUT (PS3.3 C.11.1) and return float64 values.

    Rescale Slope/Intercept go through pydicom's ``apply_modality_lut``. The
    (0028,3000) *Modality LUT Sequence* is applied here: pydicom builds a
    ``uint{bits}`` dtype from the LUT Descriptor (no such dtype for 10-14
    bits) and subtracts the first mapped value in the pixel dtype (wraps for
    unsigned pixels and a negative first mapped value).
    """
    seq = ds.get("ModalityLUTSequence")
    if seq and usable_lut(seq[0]):
        return _apply_lut_item(seq[0], arr, ds, "Modality LUT Sequence")
    if has_rescale(ds):
        if seq:  # an unusable LUT item: pydicom would try it before the rescale
            ds = _without_lut(ds)
        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    return np.asarray(arr, dtype=np.float64)


def has_rescale(ds: Dataset) -> bool:
    """Rescale Slope and Intercept both present with a value (an empty one,
    as some writers leave them, means no rescale: PS3.3 C.11.1)."""
    return all(ds.get(kw) not in (None, "") for kw in ("RescaleSlope", "RescaleIntercept"))


def _without_lut(ds: Dataset) -> Dataset:
    view = Dataset()
    view.update(ds)
    del view.ModalityLUTSequence
    return view


def usable_lut(item: Dataset) -> bool:
    """Whether a LUT item has a three-valued LUT Descriptor and LUT Data.

    A Modality LUT item without them cannot be applied (PS3.3 C.11.1: both
    Type 1); like dcmtk ("incomplete or missing 'LookupTableDescriptor' ...
    ignoring LUT"), the pipeline then goes on with the rescale or identity.
    """
    try:
        values = list(item.LUTDescriptor)
    except (AttributeError, TypeError):
        return False
    return len(values) == 3 and bool(item.get("LUTData"))


def lut_descriptor(item: Dataset, what: str) -> tuple[int, int, int]:
    try:
        entries, first, bits = (int(v) for v in item.LUTDescriptor)
    except (AttributeError, TypeError, ValueError):
        raise PixelDataError(f"{what}: (0028,3002) LUT Descriptor must have 3 values") from None
    entries = entries or 65536  # PS3.3 C.11.1.1.1: 0 means 2^16 entries
    if first > 32767:  # US-encoded descriptor of a signed image (PS3.3 C.11.1.1.1)
        first -= 65536
    return entries, first, bits


def lut_data(item: Dataset, ds: Dataset, entries: int) -> np.ndarray:
    elem = item["LUTData"]
    value = elem.value
    if isinstance(value, bytes | bytearray):
        little = True
        if hasattr(ds, "file_meta") and "TransferSyntaxUID" in ds.file_meta:
            little = ds.file_meta.TransferSyntaxUID.is_little_endian
        dtype: np.dtype[Any] = np.dtype("<u2" if little else ">u2")
        if len(value) < 2 * entries and len(value) >= entries:
            dtype = np.dtype("u1")
        data: np.ndarray = np.frombuffer(value, dtype=dtype)[:entries]
    else:
        data = np.asarray(_as_list(value), dtype=np.int64)[:entries]
    return data.astype(np.float64)


def _apply_lut_item(item: Dataset, arr: np.ndarray, ds: Dataset, what: str) -> np.ndarray:
    entries, first, _bits = lut_descriptor(item, what)
    lut = lut_data(item, ds, entries)
    if lut.size == 0:
        raise PixelDataError(f"{what}: (0028,3006) LUT Data is empty")
    # PS3.3 C.11.1.1.1: values below the first mapped value take the first
    # entry, values beyond the last take the last entry
    index = np.clip(np.rint(np.asarray(arr, dtype=np.float64)) - first, 0, lut.size - 1)
    out: np.ndarray = lut[index.astype(np.intp)]
    return out


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, MultiValue | list | tuple) else [value]
