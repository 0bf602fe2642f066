"""How a volume's values are stored: as they are when they fit 16 bits
exactly, else through a Modality LUT rescale (PS3.3 C.11.1), with a window
(PS3.3 C.11.2) that shows the data.

The value range comes from one chunked pass over the volume (never a copy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.valuerep import format_number_as_ds

from dicom_rewrite.errors import PixelDataError
from dicom_rewrite.io.volumes import Volume

__all__ = ["WINDOW_TOLERANCE", "Encoding", "decimal_string", "plan_encoding"]

_INT16 = (-32768, 32767)

#: how far (relative to the data range) the ends of a LINEAR window written
#: as Decimal Strings may lie from the data's before LINEAR_EXACT is used
WINDOW_TOLERANCE = 1e-3
_UINT16 = (0, 65535)


@dataclass(frozen=True)
class Encoding:
    """How stored pixel values represent the data: ``data = stored * slope +
    intercept`` (PS3.3 C.11.1 Modality LUT)."""

    stored_dtype: np.dtype
    slope: str = "1"
    intercept: str = "0"
    minimum: float = 0.0
    maximum: float = 0.0
    rescaled: bool = False

    @property
    def window(self) -> tuple[str, str, str | None]:
        """(center, width, VOI LUT Function) covering the data range."""
        lo, hi = self.minimum, self.maximum
        if not self.rescaled:
            # as pixels.window_for for integer data (PS3.3 C.11.2.1.2.1)
            return decimal_string((lo + hi + 1) / 2), decimal_string(max(hi - lo + 1, 2)), None
        rng = hi - lo
        if rng <= 0:
            return decimal_string(lo), "1", None
        # PS3.3 C.11.2.1.2.1: LINEAR maps c - 0.5 -/+ (w - 1) / 2 to the output's
        # ends, so w = range + 1 (always >= 1, as LINEAR requires) and
        # c = (lo + hi + 1) / 2 show exactly [lo, hi], for any range: readers
        # that know LINEAR but not LINEAR_EXACT (dcmtk 3.6.7) render it
        center, width = decimal_string((lo + hi + 1) / 2), decimal_string(rng + 1)
        c, w = float(center), float(width)
        if max(abs(c - 0.5 - (w - 1) / 2 - lo), abs(c - 0.5 + (w - 1) / 2 - hi)) <= WINDOW_TOLERANCE * rng:
            return center, width, None
        # the 16-character strings cannot hold that window: LINEAR_EXACT (C.11.2.1.3.2)
        return decimal_string((lo + hi) / 2), decimal_string(rng), "LINEAR_EXACT"

    def as_dict(self) -> dict[str, object]:
        return {
            "stored": str(self.stored_dtype), "rescale_slope": self.slope,
            "rescale_intercept": self.intercept, "minimum": self.minimum,
            "maximum": self.maximum, "rescaled": self.rescaled,
        }

    def encode(self, values: np.ndarray) -> np.ndarray:
        """One slice of data -> stored values (a new, slice-sized array)."""
        if not self.rescaled:
            if values.dtype == self.stored_dtype:
                return values
            return values.astype(self.stored_dtype)  # exact: range checked
        slope, intercept = float(self.slope), float(self.intercept)
        x = values.astype(np.float64)
        x -= intercept
        x /= slope
        np.rint(x, out=x)
        info = np.iinfo(self.stored_dtype)
        np.clip(x, info.min, info.max, out=x)
        return x.astype(self.stored_dtype)


def decimal_string(value: float) -> str:
    """A Decimal String (at most 16 characters, PS3.5 6.2)."""
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return format_number_as_ds(v)


def _fits(lo: float, hi: float, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= lo and hi <= bounds[1]


def plan_encoding(volume: Volume) -> Encoding:
    """Scan the volume once (chunk by chunk) and choose the stored format.

    * int16 / uint16: stored as they are;
    * bool, int8, uint8, and any integer (or integer-valued float) data whose
      range fits int16 or uint16: stored exactly, identity rescale;
    * anything else: a linear rescale onto 16 bits, with the intercept at 0
      when that costs at most one bit of precision (so 0 stays exactly 0),
      else at the minimum.

    NaN and infinity are refused.
    """
    dt = volume.dtype
    if dt.kind not in "biuf":
        raise PixelDataError(f"{volume.source}: data type {dt} is not a gray-scale number type")
    lo, hi = _value_range(volume)
    if volume.scaling is not None:
        slope, inter, raw = volume.scaling
        stored = np.dtype("<i2") if raw.kind == "i" else np.dtype("<u2")
        return Encoding(stored, decimal_string(slope), decimal_string(inter), lo, hi, True)
    if dt.kind == "b":
        return Encoding(np.dtype("<u2"), minimum=lo, maximum=hi)
    if dt.kind in "iu":
        return _integer_encoding(dt, lo, hi)
    return _float_encoding(volume, lo, hi)


def _value_range(volume: Volume) -> tuple[float, float]:
    """(minimum, maximum) over the volume, chunk by chunk; refuses NaN and infinity."""
    lo, hi = math.inf, -math.inf
    for k0, k1 in volume.chunks():
        slab = volume.slab(k0, k1)
        if slab.size:
            lo = min(lo, float(np.min(slab)))
            hi = max(hi, float(np.max(slab)))
        volume.release()
        if math.isnan(lo) or math.isnan(hi):
            break
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise PixelDataError(f"{volume.source}: {_non_finite(volume)}; a DICOM series cannot store them "
                             "(replace them, e.g. with numpy.nan_to_num, first)")
    return lo, hi


def _integer_encoding(dt: np.dtype, lo: float, hi: float) -> Encoding:
    if dt.itemsize <= 2:
        stored = np.dtype("<i2") if dt.kind == "i" else np.dtype("<u2")
        return Encoding(stored, minimum=lo, maximum=hi)
    if _fits(lo, hi, _UINT16):
        return Encoding(np.dtype("<u2"), minimum=lo, maximum=hi)
    if _fits(lo, hi, _INT16):
        return Encoding(np.dtype("<i2"), minimum=lo, maximum=hi)
    return _rescale(lo, hi)


def _float_encoding(volume: Volume, lo: float, hi: float) -> Encoding:
    if (_fits(lo, hi, _UINT16) or _fits(lo, hi, _INT16)) and _integer_valued(volume):
        stored = np.dtype("<u2") if _fits(lo, hi, _UINT16) else np.dtype("<i2")
        return Encoding(stored, minimum=lo, maximum=hi)
    if not math.isfinite(hi - lo):
        raise PixelDataError(f"{volume.source}: value range [{lo:g}, {hi:g}] is too wide to rescale")
    return _rescale(lo, hi)


def _non_finite(volume: Volume) -> str:
    nan = inf = 0
    for k0, k1 in volume.chunks():
        slab = volume.slab(k0, k1)
        nan += int(np.count_nonzero(np.isnan(slab)))
        inf += int(np.count_nonzero(np.isinf(slab)))
        volume.release()
    parts = [f"{n} {what}" for n, what in ((nan, "NaN"), (inf, "infinite")) if n]
    return " and ".join(parts) + " value(s)" if parts else "non-finite values"


def _integer_valued(volume: Volume) -> bool:
    # slice by slice: np.mod makes a temporary as large as its input
    for k0, k1 in volume.chunks():
        for k in range(k0, k1):
            if not bool(np.all(np.equal(np.mod(volume.slice(k), 1), 0))):
                volume.release()
                return False
        volume.release()
    return True


def _rescale(lo: float, hi: float) -> Encoding:
    rng = hi - lo
    if rng == 0:
        return Encoding(np.dtype("<u2"), "1", decimal_string(lo), lo, hi, True)
    span = max(abs(lo), abs(hi))
    stored: np.dtype[Any]
    if span <= 2 * rng:  # zero-anchored: 0 stays exact, at most one bit lost
        intercept = 0.0
        if lo >= 0:
            stored, slope = np.dtype("<u2"), hi / _UINT16[1]
        elif hi <= 0:
            stored, slope = np.dtype("<i2"), -lo / -_INT16[0]
        else:
            stored, slope = np.dtype("<i2"), span / _INT16[1]
    else:
        stored, slope, intercept = np.dtype("<u2"), rng / _UINT16[1], lo
    return Encoding(stored, decimal_string(slope), decimal_string(intercept), lo, hi, True)
