"""Rendering maths: stored pixel values -> the 8-bit image a viewer shows.

Pure numpy, no I/O. The grayscale pipeline follows PS3.4 N.2.1.1:

1. Modality LUT (PS3.3 C.11.1): Rescale Slope/Intercept or the Modality LUT
   Sequence, giving modality values (Hounsfield units for CT).
2. VOI LUT (PS3.3 C.11.2): an explicit window, else the file's N-th window,
   else its VOI LUT Sequence, else a min-max window over the frame. Windows use
   the (0028,1056) *VOI LUT Function*: LINEAR, LINEAR_EXACT or SIGMOID.
3. Presentation LUT: (2050,0020) *Presentation LUT Shape* INVERSE inverts
   the VOI output, IDENTITY does not; without it MONOCHROME1 (PS3.3
   C.7.6.3.1.2, minimum value is white) inverts.

Colour images skip those steps: PALETTE COLOR goes through its palette LUT
(pydicom's :func:`~pydicom.pixels.apply_color_lut`), YBR is converted to RGB
by pydicom's decoder, and samples are scaled to 8 bits.

References:
    PS3.3 C.11.1, C.11.2, C.11.2.1.2, C.11.2.1.3, C.11.6; PS3.4 N.2.1.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut

from dicom_rewrite.errors import PixelDataError, UsageError
from dicom_rewrite.render.modality import (
    _apply_lut_item,
    _as_list,
    frame_view,
    has_rescale,
    lut_data,
    lut_descriptor,
    modality_values,
    usable_lut,
)
from dicom_rewrite.render.overlays import burn_overlays

__all__ = [
    "PRESETS",
    "RenderInfo",
    "frame_view",
    "lut_data",
    "lut_descriptor",
    "linear_window",
    "modality_values",
    "parse_window",
    "render",
    "render_with_info",
]

#: Named windows as (center, width) in modality units (Hounsfield units for CT).
PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40, 80),
    "subdural": (75, 215),
    "stroke": (40, 40),
    "lung": (-600, 1500),
    "mediastinum": (50, 350),
    "abdomen": (50, 400),
    "liver": (30, 150),
    "bone": (400, 1800),
    "soft-tissue": (50, 350),
}

#: (0028,1056) *VOI LUT Function* values (PS3.3 C.11.2.1.3).
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")

_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")


@dataclass(frozen=True, slots=True)
class RenderInfo:
    """What :func:`render_with_info` did to one frame (for sidecar JSON)."""

    photometric_interpretation: str
    frame: int
    modality_lut: str = "none"
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    voi: str = "none"
    voi_source: str = "none"
    window_center: float | None = None
    window_width: float | None = None
    voi_function: str | None = None
    inverted: bool = False
    presentation_lut_shape: str | None = None
    color: str | None = None
    overlays: tuple[str, ...] = field(default_factory=tuple)
    #: attributes of the file the rendering could not use and skipped
    ignored: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {name: _jsonable(getattr(self, name)) for name in self.__slots__
                if name != "ignored" or self.ignored}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


# ---------------------------------------------------------------------------
# Window text and presets
# ---------------------------------------------------------------------------


def parse_window(text: str) -> tuple[float, float]:
    """Parse ``"C,W"`` (center, width) or a preset name from :data:`PRESETS`.

    Raises :class:`~dicom_rewrite.errors.UsageError` (one line) for anything
    else, including a width below 1 (PS3.3 C.11.2.1.2: LINEAR needs W >= 1).
    """
    raw = str(text).strip()
    key = raw.lower()
    if key in PRESETS:
        center, width = PRESETS[key]
        return float(center), float(width)
    parts = raw.split(",")
    if len(parts) != 2:
        names = ", ".join(PRESETS)
        raise UsageError(
            f"--window {raw!r}: expected CENTER,WIDTH (e.g. 40,400) or a preset ({names})"
        )
    try:
        center, width = (float(p) for p in parts)
    except ValueError:
        raise UsageError(f"--window {raw!r}: CENTER and WIDTH must be numbers") from None
    if not (math.isfinite(center) and math.isfinite(width)):
        raise UsageError(f"--window {raw!r}: CENTER and WIDTH must be finite numbers")
    if width < 1:
        raise UsageError(f"--window {raw!r}: WIDTH must be at least 1 (PS3.3 C.11.2.1.2)")
    return center, width


# ---------------------------------------------------------------------------
# Step 2: VOI LUT
# ---------------------------------------------------------------------------


def linear_window(
    values: np.ndarray,
    center: float,
    width: float,
    *,
    function: str = "LINEAR",
    out_max: float = 255,
) -> np.ndarray:
    """Window ``values`` into ``[0, out_max]`` (float64), exactly as PS3.3 says.

    ``function`` is the (0028,1056) *VOI LUT Function*:

    * LINEAR (C.11.2.1.2.1), W >= 1::

        x <= c - 0.5 - (w-1)/2  -> 0
        x >  c - 0.5 + (w-1)/2  -> out_max
        else ((x - (c - 0.5)) / (w-1) + 0.5) * out_max

    * LINEAR_EXACT (C.11.2.1.3.2), W > 0::

        x <= c - w/2 -> 0;  x > c + w/2 -> out_max;  else ((x - c)/w + 0.5) * out_max

    * SIGMOID (C.11.2.1.3.1), W > 0: ``out_max / (1 + exp(-4 (x - c) / w))``.
    """
    func = (function or "LINEAR").strip().upper()
    x = np.asarray(values, dtype=np.float64)
    c, w, ymax = float(center), float(width), float(out_max)
    if func == "LINEAR":
        if not w >= 1:
            raise UsageError(f"window width {width!r} is invalid: LINEAR needs a width >= 1 (PS3.3 C.11.2.1.2.1)")
        lower = c - 0.5 - (w - 1) / 2
        upper = c - 0.5 + (w - 1) / 2
        if w == 1:  # (w-1) = 0: a threshold at c - 0.5
            return np.where(x <= lower, 0.0, ymax)
        y = ((x - (c - 0.5)) / (w - 1) + 0.5) * ymax
        return np.where(x <= lower, 0.0, np.where(x > upper, ymax, np.clip(y, 0.0, ymax)))
    if func == "LINEAR_EXACT":
        if not w > 0:
            raise UsageError(f"window width {width!r} is invalid: LINEAR_EXACT needs a width > 0 (PS3.3 C.11.2.1.3.2)")
        y = ((x - c) / w + 0.5) * ymax
        return np.where(x <= c - w / 2, 0.0, np.where(x > c + w / 2, ymax, np.clip(y, 0.0, ymax)))
    if func == "SIGMOID":
        if not w > 0:
            raise UsageError(f"window width {width!r} is invalid: SIGMOID needs a width > 0 (PS3.3 C.11.2.1.3.1)")
        with np.errstate(over="ignore"):
            return ymax / (1.0 + np.exp(-4.0 * (x - c) / w))
    raise UsageError(
        f"(0028,1056) VOI LUT Function {function!r} is not one of {', '.join(VOI_FUNCTIONS)}"
    )


def _file_windows(ds: Dataset) -> list[tuple[float, float]]:
    """The (center, width) pairs of (0028,1050)/(0028,1051), in file order."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return []
    centers, widths = ds["WindowCenter"].value, ds["WindowWidth"].value
    if centers is None or widths is None:
        return []
    pairs = []
    for c, w in zip(_as_list(centers), _as_list(widths), strict=False):
        try:
            pairs.append((float(c), float(w)))
        except (TypeError, ValueError):
            pairs.append((math.nan, math.nan))
    return pairs


def _voi_function(ds: Dataset) -> str:
    func = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    return func if func in VOI_FUNCTIONS else "LINEAR"


def _valid_width(width: float, function: str) -> bool:
    if not math.isfinite(width):
        return False
    return width >= 1 if function == "LINEAR" else width > 0


def _minmax_window(values: np.ndarray) -> tuple[float, float]:
    """The LINEAR window mapping the frame's minimum to 0 and maximum to the top."""
    lo, hi = float(np.min(values)), float(np.max(values))
    # with c = (lo + hi + 1)/2 and w = hi - lo + 1, C.11.2.1.2.1 sends lo -> ymin
    # and hi -> ymax (the choice dcmtk makes for +Wm)
    return (lo + hi + 1) / 2, hi - lo + 1


# ---------------------------------------------------------------------------
# The whole pipeline
# ---------------------------------------------------------------------------


def render(
    ds: Dataset,
    arr: np.ndarray | None = None,
    *,
    frame: int = 0,
    window: tuple[float, float] | None = None,
    window_index: int | None = None,
    voi: str | None = None,
    apply_presentation: bool = True,
    overlays: bool = False,
    voi_function: str | None = None,
) -> np.ndarray:
    """Render one frame to uint8: (H, W) grayscale or (H, W, 3) RGB.

    See :func:`render_with_info` for the parameters.
    """
    return render_with_info(
        ds,
        arr,
        frame=frame,
        window=window,
        window_index=window_index,
        voi=voi,
        apply_presentation=apply_presentation,
        overlays=overlays,
        voi_function=voi_function,
    )[0]


def render_with_info(
    ds: Dataset,
    arr: np.ndarray | None = None,
    *,
    frame: int = 0,
    window: tuple[float, float] | None = None,
    window_index: int | None = None,
    voi: str | None = None,
    apply_presentation: bool = True,
    overlays: bool = False,
    voi_function: str | None = None,
) -> tuple[np.ndarray, RenderInfo]:
    """Render one frame and say which transforms were applied.

    Parameters
    ----------
    ds : Dataset
        The image. It is never modified.
    arr : numpy.ndarray, optional
        The decoded frame as ``pydicom.pixels.pixel_array(ds, index=frame)``
        returns it (YBR already converted to RGB). Decoded from ``ds`` if None.
    frame : int
        0-based frame number (selects per-frame functional groups and overlays).
    window : (center, width), optional
        An explicit window in modality units; overrides everything in the file.
    window_index : int, optional
        0-based index of the file's (0028,1050)/(0028,1051) window to use.
    voi : {"minmax", "none"}, optional
        ``"minmax"`` maps the frame's min..max to 0..255; ``"none"`` skips the
        VOI step (modality values are scaled from their possible range).
    apply_presentation : bool
        Apply MONOCHROME1 and Presentation LUT Shape inversion (default True).
    overlays : bool
        Burn in the (60xx,3000) overlays of this frame as white.
    voi_function : {"LINEAR", "LINEAR_EXACT", "SIGMOID"}, optional
        Overrides (0028,1056) *VOI LUT Function* for the window used; an
        explicit ``window`` is LINEAR unless this says otherwise.
    """
    voi_function = _checked_voi(voi, voi_function)
    pi = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if arr is None:
        from pydicom.pixels.utils import pixel_array

        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        arr = pixel_array(ds, index=frame if n_frames > 1 else None)
    view = frame_view(ds, frame)
    info: dict[str, Any] = {"photometric_interpretation": pi, "frame": frame}

    if pi in _MONOCHROME or (arr.ndim == 2 and pi not in ("PALETTE COLOR",)):
        out = _render_gray(view, arr, pi, info, window, window_index, voi, apply_presentation, voi_function)
    else:
        out = _render_color(view, arr, pi, info)

    if overlays:
        out = burn_overlays(ds, out, frame, info)
    return out, RenderInfo(**info)


def _checked_voi(voi: str | None, voi_function: str | None) -> str | None:
    """Refuse a bad ``voi``; ``voi_function`` upper-cased and checked."""
    if voi not in (None, "minmax", "none"):
        raise UsageError(f"--voi {voi!r}: expected 'minmax' or 'none'")
    if voi_function is None:
        return None
    voi_function = str(voi_function).strip().upper()
    if voi_function not in VOI_FUNCTIONS:
        raise UsageError(f"VOI LUT function {voi_function!r} is not one of {', '.join(VOI_FUNCTIONS)}")
    return voi_function


def _modality_info(ds: Dataset, info: dict[str, Any]) -> None:
    """Record the Modality LUT (PS3.4 N.2.1.1 step 1) in ``info``."""
    seq = ds.get("ModalityLUTSequence")
    if seq and usable_lut(seq[0]):
        info["modality_lut"] = "Modality LUT Sequence"
        return
    if seq:
        _ignore(info, "(0028,3000) Modality LUT Sequence has no usable LUT Descriptor or LUT Data")
    if has_rescale(ds):
        info["modality_lut"] = "rescale"
        info["rescale_slope"] = float(ds.RescaleSlope)
        info["rescale_intercept"] = float(ds.RescaleIntercept)


def _ignore(info: dict[str, Any], what: str) -> None:
    info["ignored"] = (*info.get("ignored", ()), what)


def _inverts(ds: Dataset, pi: str, apply_presentation: bool, info: dict[str, Any]) -> bool:
    """Whether the Presentation LUT step (PS3.4 N.2.1.1 step 3) inverts.

    (2050,0020) Presentation LUT Shape, when present, decides the polarity:
    the DX, MG and IO IODs (PS3.3 C.8.11.6) require INVERSE with MONOCHROME1
    and IDENTITY with MONOCHROME2. Without it, MONOCHROME1 (PS3.3
    C.7.6.3.1.2, minimum is white) implies INVERSE. dcmtk decides the same way.
    """
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper() or None
    info["presentation_lut_shape"] = shape
    if shape in ("IDENTITY", "INVERSE"):
        wants_inverse = shape == "INVERSE"
    else:
        wants_inverse = pi == "MONOCHROME1"
    invert = apply_presentation and wants_inverse
    info["inverted"] = bool(invert)
    return invert


def _render_gray(
    ds: Dataset,
    arr: np.ndarray,
    pi: str,
    info: dict[str, Any],
    window: tuple[float, float] | None,
    window_index: int | None,
    voi: str | None,
    apply_presentation: bool,
    voi_function: str | None,
) -> np.ndarray:
    if arr.ndim != 2:
        raise PixelDataError(f"{pi} frame has shape {arr.shape}, expected (rows, columns)")
    # PS3.4 N.2.1.1 step 1: Modality LUT
    _modality_info(ds, info)
    # Every step below is a function of each pixel's stored value alone, so
    # for integer pixels the steps run once per stored value in the frame's
    # range (a lookup table, as dcmtk does) and the table is then indexed:
    # the same numbers, computed over fewer values. Statistics (a min-max
    # window) use the values present in the frame only.
    domain = _value_domain(arr)
    if domain is not None:
        lo, present = domain
        values = modality_values(ds, np.arange(lo, lo + present.size).astype(arr.dtype))
    else:
        present = None
        values = modality_values(ds, arr)

    # step 2: VOI LUT
    y = _apply_voi(ds, values, info, window, window_index, voi, voi_function, present)

    # step 3: Presentation LUT
    invert = _inverts(ds, pi, apply_presentation, info)
    out = _to_uint8(255.0 - y if invert else y)
    if domain is not None:
        return out[arr.astype(np.intp) - domain[0]]
    return out


#: below this many pixels a frame is windowed directly (no lookup table)
_MIN_TABLE_PIXELS = 4096


def _value_domain(arr: np.ndarray) -> tuple[int, np.ndarray] | None:
    """``(lowest stored value, which values of lowest..highest occur)`` for an
    integer frame worth a lookup table (no larger than the frame), else None."""
    if arr.dtype.kind not in "iu" or arr.dtype.itemsize > 2 or arr.size < _MIN_TABLE_PIXELS:
        return None
    lo, hi = int(arr.min()), int(arr.max())
    if hi - lo + 1 > arr.size:
        return None
    counts = np.bincount((arr.astype(np.intp) - lo).ravel(), minlength=hi - lo + 1)
    return lo, counts > 0


def _apply_voi(
    ds: Dataset,
    values: np.ndarray,
    info: dict[str, Any],
    window: tuple[float, float] | None,
    window_index: int | None,
    voi: str | None,
    voi_function: str | None,
    present: np.ndarray | None = None,
) -> np.ndarray:
    """The VOI step over ``values`` (elementwise); ``present``: which of
    them occur in the frame, when ``values`` is a lookup table's domain
    (statistics then use only those)."""
    seen = values if present is None else values[present]
    if window is not None:
        center, width = float(window[0]), float(window[1])
        return _use_window(values, center, width, voi_function or "LINEAR", "explicit window", info)
    if voi == "minmax":
        center, width = _minmax_window(seen)
        return _use_window(values, center, width, "LINEAR", "min-max", info)
    if voi == "none":
        lo, hi = _possible_range(ds, seen)
        info.update(voi="none", voi_source="none")
        return np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1) * 255.0

    function = voi_function or _voi_function(ds)
    if window_index is not None:
        return _indexed_window(ds, values, info, window_index, function)
    return _file_voi(ds, values, info, function, present)


def _indexed_window(ds: Dataset, values: np.ndarray, info: dict[str, Any], window_index: int,
                    function: str) -> np.ndarray:
    """The file's window number ``window_index`` (0-based), which must be valid."""
    windows = _file_windows(ds)
    if not 0 <= window_index < len(windows):
        raise UsageError(
            f"window index {window_index + 1} does not exist: the file has "
            f"{len(windows)} window(s) in (0028,1050) Window Center"
        )
    center, width = windows[window_index]
    if not _valid_width(width, function):
        raise PixelDataError(
            f"(0028,1051) Window Width {width!r} (window {window_index + 1}) is invalid for {function}"
        )
    return _use_window(values, center, width, function, f"file window {window_index + 1}", info)


def _file_voi(ds: Dataset, values: np.ndarray, info: dict[str, Any], function: str,
              present: np.ndarray | None) -> np.ndarray:
    """The file's own VOI: its first valid window, else its VOI LUT Sequence,
    else a min-max window (PS3.4 N.2.1.1)."""
    # the file's first valid window (invalid ones are skipped, as dcmtk does)
    for i, (center, width) in enumerate(_file_windows(ds)):
        if math.isfinite(center) and _valid_width(width, function):
            return _use_window(values, center, width, function, f"file window {i + 1}", info)
    seq = ds.get("VOILUTSequence")
    if seq and not usable_lut(seq[0]):  # ignored, as dcmtk ignores it (PS3.3 C.11.2: Type 1 in an item)
        _ignore(info, "(0028,3010) VOI LUT Sequence has no usable LUT Descriptor or LUT Data")
    elif seq:
        item = seq[0]
        _entries, _first, bits = lut_descriptor(item, "VOI LUT Sequence")
        # PS3.3 C.11.2.1.1: the VOI LUT input is the Modality LUT output
        out = _apply_lut_item(item, values, ds, "VOI LUT Sequence")
        top = float(2 ** bits - 1) if 1 <= bits <= 16 else float(
            np.max(out if present is None else out[present]) or 1)
        info.update(voi="lut", voi_source="VOI LUT Sequence 1")
        return np.clip(out / top, 0, 1) * 255.0
    center, width = _minmax_window(values if present is None else values[present])
    return _use_window(values, center, width, "LINEAR", "min-max", info)


def _use_window(
    values: np.ndarray, center: float, width: float, function: str, source: str, info: dict[str, Any]
) -> np.ndarray:
    info.update(
        voi="window",
        voi_source=source,
        window_center=center,
        window_width=width,
        voi_function=function,
    )
    return linear_window(values, center, width, function=function)


def _possible_range(ds: Dataset, values: np.ndarray) -> tuple[float, float]:
    bits = int(ds.get("BitsStored", 0) or 0)
    if not bits:
        return float(values.min()), float(values.max())
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    ends = modality_values(ds, np.array([lo, hi]))
    return float(ends.min()), float(ends.max())


def _to_uint8(y: np.ndarray) -> np.ndarray:
    """Quantise VOI output to 0..255 by truncation, as dcmtk does.

    PS3.3 leaves the quantisation of the continuous C.11.2.1.2 output open;
    truncating matches dcmtk's ``dcmj2pnm`` exactly. The tiny offset keeps
    values that are whole numbers in exact arithmetic (e.g. 100.0 computed
    as 99.99999999) on the right side.
    """
    out: np.ndarray = np.clip(np.floor(y + 1e-6), 0, 255).astype(np.uint8)
    return out


def _round_to_uint8(y: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return out


def _render_color(ds: Dataset, arr: np.ndarray, pi: str, info: dict[str, Any]) -> np.ndarray:
    if pi == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)[..., :3]  # alpha is not displayed
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        info["color"] = "PALETTE COLOR LUT"
        if bits > 8:  # keep the high byte of each entry, as dcmtk does
            return (np.asarray(rgb, dtype=np.uint32) >> (bits - 8)).clip(0, 255).astype(np.uint8)
        return _scale_to_uint8(rgb, bits)
    if arr.ndim != 3 or arr.shape[-1] < 3:
        raise PixelDataError(f"{pi} frame has shape {arr.shape}, expected (rows, columns, 3)")
    if pi.startswith("YBR"):
        info["color"] = f"{pi} -> RGB"
    else:
        info["color"] = pi or "RGB"
    bits = int(ds.get("BitsStored", 8) or 8)
    return _scale_to_uint8(arr[..., :3], bits)


def _scale_to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    if bits <= 8 and arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    top = float(2**bits - 1)
    return _round_to_uint8(np.asarray(arr, dtype=np.float64) * (255.0 / top))


