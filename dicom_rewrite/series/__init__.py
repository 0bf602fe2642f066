"""Volumes -> a DICOM series: one file per slice, stacked the way ITK and
viewers expect.

A volume is a 3-D array with axes ``(slice, row, column)`` (a 2-D array is
one slice), read from ``.npy`` (memory-mapped), ``.npz`` or NIfTI. Each
slice goes through the engine (:class:`dicom_rewrite.engine.converter.Converter`), so
the template's dialect, identity handling and UIDs are exactly those of
``convert``; this module adds the slice geometry (PS3.3 C.7.6.2 Image Plane)
and, for data that are not 16-bit integers, a Modality LUT rescale
(PS3.3 C.11.1) and a window (PS3.3 C.11.2) that shows the data.

Memory: the volume is never copied. Slices are converted and written one at
a time from the memory-mapped array (or the NIfTI array proxy); the value
range needed for the rescale comes from a chunked pass over the same map.

Geometry conventions (DICOM patient coordinates, LPS, mm):

* ``spacing`` is given in the array's axis order ``(slice, row, column)``;
  Pixel Spacing is ``(row, column)``.
* ``origin`` is the position of the centre of voxel ``[0, 0, 0]``.
* ``orientation`` is ``(row direction, column direction)``: the direction of
  increasing column index, then of increasing row index (Image Orientation
  (Patient), PS3.3 C.7.6.2.1.1).
* slice ``k`` is at ``origin + k * spacing[0] * slice_direction``, where the
  slice direction is the normal ``row x column`` (or, for a NIfTI affine
  with a left-handed voxel grid, its opposite: positions stay exact).
"""

from __future__ import annotations

import functools
import logging
import math
import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from dicom_rewrite.core import iod
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Output, Rendered, Template
from dicom_rewrite.engine.pixels import PixelPlan, plan_pixels
from dicom_rewrite.engine.template import as_profile, as_template
from dicom_rewrite.errors import InputError, PixelDataError, TemplateError, UsageError
from dicom_rewrite.io.files import NameAllocator, sanitise_component
from dicom_rewrite.io.images import Raster, from_array
from dicom_rewrite.profile import Profile

log = logging.getLogger(__name__)

#: volume file suffixes this module reads
VOLUME_SUFFIXES = (".npy", ".npz", ".nii", ".nii.gz")

#: bytes read per chunk in the value-range pass (and between page releases)
CHUNK_BYTES = 64 << 20

#: every top-level attribute SeriesWriter._adjust reads or writes (see
#: Converter.render: the hook is run on just these for filled slices)
ADJUST_TAGS = frozenset(int(iod.tag(kw)) for kw in (
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
    "SpacingBetweenSlices", "SliceLocation", "RescaleSlope", "RescaleIntercept",
    "WindowCenter", "WindowWidth", "VOILUTFunction",
))

#: tolerance on unit length and orthogonality of direction cosines
DIRECTION_TOLERANCE = 1e-3

_INT16 = (-32768, 32767)
_UINT16 = (0, 65535)

#: NIfTI spatial units -> factor to mm
_NIFTI_UNITS = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}


# ================================================================ geometry

@dataclass(frozen=True)
class Geometry:
    """Where the voxels of a ``(slice, row, column)`` array are, in LPS mm."""

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    row_direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    column_direction: tuple[float, float, float] = (0.0, 1.0, 0.0)
    #: +1: slices step along row x column; -1: against it (left-handed grid)
    slice_sign: int = 1

    @functools.cached_property
    def normal(self) -> np.ndarray:
        normal = np.cross(np.asarray(self.row_direction), np.asarray(self.column_direction))
        normal.flags.writeable = False  # shared by every call
        return normal

    @functools.cached_property
    def slice_direction(self) -> np.ndarray:
        direction = self.slice_sign * self.normal
        direction.flags.writeable = False
        return direction

    def position(self, k: int) -> np.ndarray:
        """Image Position (Patient) of slice ``k`` (0-based)."""
        return np.asarray(self.origin, dtype=float) + k * self.spacing[0] * self.slice_direction

    def direction_matrix(self) -> np.ndarray:
        """3x3 matrix whose columns are the column-, row- and slice-index
        directions (as ITK's image direction)."""
        return np.column_stack([self.row_direction, self.column_direction, self.slice_direction])

    def with_options(self, *, spacing: tuple[float, float, float] | None = None,
                     origin: tuple[float, float, float] | None = None,
                     orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                     | None = None) -> Geometry:
        """This geometry with each given part replaced (an explicit
        orientation always gives a right-handed grid)."""
        g = self
        if spacing is not None:
            g = replace(g, spacing=tuple(float(v) for v in spacing))  # type: ignore[arg-type]
        if origin is not None:
            g = replace(g, origin=tuple(float(v) for v in origin))  # type: ignore[arg-type]
        if orientation is not None:
            row, col = check_orientation(orientation)
            g = replace(g, row_direction=row, column_direction=col, slice_sign=1)
        return g

    @classmethod
    def from_affine(cls, affine: np.ndarray, source: str = "<affine>") -> Geometry:
        """From a 4x4 LPS affine mapping ``(column, row, slice)`` indices to mm
        (nibabel's ``(i, j, k)`` order, already converted from RAS)."""
        a = np.asarray(affine, dtype=float)
        if a.shape != (4, 4) or not np.all(np.isfinite(a)):
            raise InputError(f"{source}: affine is not a finite 4x4 matrix")
        cols = a[:3, :3]
        norms = np.linalg.norm(cols, axis=0)
        if np.any(norms <= 0):
            raise InputError(f"{source}: affine has a zero-length axis (spacing {norms.tolist()})")
        unit = cols / norms
        gram = unit.T @ unit
        off = float(np.max(np.abs(gram - np.eye(3))))
        if off > DIRECTION_TOLERANCE:
            raise InputError(
                f"{source}: affine axes are not orthogonal (largest cosine {off:.4g}); "
                "a sheared grid (e.g. gantry tilt) cannot be written as DICOM slices; "
                "resample the volume first"
            )
        row, col = _orthonormalise(unit[:, 0], unit[:, 1])
        sign = 1 if float(np.dot(np.cross(row, col), unit[:, 2])) > 0 else -1
        return cls(
            spacing=(float(norms[2]), float(norms[1]), float(norms[0])),
            origin=tuple(float(v) for v in a[:3, 3]),  # type: ignore[arg-type]
            row_direction=row, column_direction=col, slice_sign=sign,
        )

    @classmethod
    def from_template(cls, ds: Dataset) -> Geometry:
        """The template's own geometry; attributes it lacks get the defaults
        (axial, origin 0, 1 mm)."""
        g = cls()
        try:
            ps = ds.get("PixelSpacing")
            thick = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
            if ps is not None and len(ps) == 2 and float(ps[0]) > 0 and float(ps[1]) > 0:
                s = float(thick) if thick is not None and float(thick) > 0 else 1.0
                g = replace(g, spacing=(s, float(ps[0]), float(ps[1])))
            ipp = ds.get("ImagePositionPatient")
            if ipp is not None and len(ipp) == 3:
                g = replace(g, origin=(float(ipp[0]), float(ipp[1]), float(ipp[2])))
            iop = ds.get("ImageOrientationPatient")
            if iop is not None and len(iop) == 6:
                v = [float(x) for x in iop]
                g = g.with_options(orientation=((v[0], v[1], v[2]), (v[3], v[4], v[5])))
        except (TypeError, ValueError, UsageError) as exc:
            raise TemplateError(f"template geometry is unusable ({exc})") from None
        return g

    def as_dict(self) -> dict[str, object]:
        return {
            "spacing": list(self.spacing), "origin": list(self.origin),
            "orientation": [*self.row_direction, *self.column_direction],
            "slice_direction": [float(v) + 0.0 for v in self.slice_direction],
        }


def _orthonormalise(row: np.ndarray, col: np.ndarray) -> tuple[tuple[float, float, float],
                                                                   tuple[float, float, float]]:
    r = np.asarray(row, dtype=float)
    r = r / np.linalg.norm(r)
    c = np.asarray(col, dtype=float)
    c = c - np.dot(c, r) * r  # Gram-Schmidt: remove rounding-level obliquity
    c = c / np.linalg.norm(c)
    clean = [tuple(0.0 if abs(x) < 1e-12 else float(x) for x in v) for v in (r, c)]
    return clean[0], clean[1]  # type: ignore[return-value]


def check_orientation(orientation: tuple[tuple[float, float, float], tuple[float, float, float]],
                      what: str = "--orientation") -> tuple[tuple[float, float, float],
                                                            tuple[float, float, float]]:
    """Validate row/column direction cosines (unit length, orthogonal) and
    return them orthonormalised."""
    row = np.asarray(orientation[0], dtype=float)
    col = np.asarray(orientation[1], dtype=float)
    text = ",".join(f"{v:g}" for v in [*row, *col])
    for name, v in (("row", row), ("column", col)):
        n = float(np.linalg.norm(v))
        if not math.isfinite(n) or abs(n - 1) > DIRECTION_TOLERANCE:
            raise UsageError(f"{what} {text}: the {name} direction has length {n:.6g}, not 1")
    dot = float(np.dot(row, col))
    if abs(dot) > DIRECTION_TOLERANCE:
        raise UsageError(
            f"{what} {text}: row and column directions are not orthogonal (dot product {dot:.6g})"
        )
    return _orthonormalise(row, col)


def _numbers(text: str, option: str, count: int) -> tuple[float, ...]:
    parts = [p.strip() for p in str(text).replace("\\", ",").split(",")]
    if len(parts) != count or any(not p for p in parts):
        raise UsageError(f"{option} {text!r}: expected {count} comma-separated numbers")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected {count} comma-separated numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{option} {text!r}: values must be finite")
    return values


def parse_spacing(text: str) -> tuple[float, float, float]:
    """``S,R,C`` in mm (slice, row, column), each > 0."""
    v = _numbers(text, "--spacing", 3)
    if any(x <= 0 for x in v):
        raise UsageError(f"--spacing {text!r}: spacings must be > 0 mm")
    return v  # type: ignore[return-value]


def parse_origin(text: str) -> tuple[float, float, float]:
    """``X,Y,Z`` in mm (LPS)."""
    return _numbers(text, "--origin", 3)  # type: ignore[return-value]


def parse_orientation(text: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """``RX,RY,RZ,CX,CY,CZ``: row then column direction cosines."""
    v = _numbers(text, "--orientation", 6)
    return check_orientation(((v[0], v[1], v[2]), (v[3], v[4], v[5])))


# ================================================================= volumes

class Volume:
    """A ``(slice, row, column)`` volume read one slice at a time.

    Wraps an array (an ``np.memmap`` stays memory-mapped) or a NIfTI array
    proxy; never loads the whole volume unless the source is already in
    memory (``.npz``, an in-memory array).
    """

    def __init__(self, shape: tuple[int, int, int], dtype: np.dtype, source: str,
                 get: Callable[[int, int], np.ndarray], *, geometry: Geometry | None = None,
                 mapping: mmap.mmap | None = None, transposed: bool = False,
                 scaling: tuple[float, float, np.dtype] | None = None) -> None:
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.source = source
        self.geometry = geometry
        self._get = get  # (k0, k1) -> slab, axes (slice, row, column) or NIfTI (i, j, k)
        self._mapping = mapping
        self._transposed = transposed
        #: (slope, intercept, raw dtype) when the file stores scaled integers
        self.scaling = scaling

    @classmethod
    def from_array(cls, arr: np.ndarray, source: str = "<array>") -> Volume:
        a = arr if isinstance(arr, np.ndarray) else np.asarray(arr)
        if a.ndim == 2:
            a = a[np.newaxis]
        if a.ndim != 3:
            raise PixelDataError(
                f"{source}: array shape {a.shape} is not (slices, rows, columns) or (rows, columns)"
            )
        mapping = getattr(a, "_mmap", None)
        if mapping is None and isinstance(a.base, np.memmap):
            mapping = getattr(a.base, "_mmap", None)
        return cls(tuple(int(n) for n in a.shape), a.dtype, source,  # type: ignore[arg-type]
                   lambda k0, k1: a[k0:k1], mapping=mapping)

    @property
    def slice_bytes(self) -> int:
        return self.shape[1] * self.shape[2] * max(self.dtype.itemsize, 1)

    def _read(self, k0: int, k1: int) -> np.ndarray:
        try:
            return np.asarray(self._get(k0, k1))
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # truncated files, decompression errors, ...
            raise InputError(
                f"{self.source}: cannot read slices {k0}..{k1 - 1} ({type(exc).__name__}: {exc})"
            ) from None

    def slab(self, k0: int, k1: int) -> np.ndarray:
        """Slices ``k0:k1`` in any axis order (for value statistics only)."""
        return self._read(k0, k1)

    def slice(self, k: int) -> np.ndarray:
        """Slice ``k`` as a ``(rows, columns)`` array."""
        s = self._read(k, k + 1)
        return s[:, :, 0].T if self._transposed else s[0]

    def chunks(self) -> Iterator[tuple[int, int]]:
        step = max(1, CHUNK_BYTES // max(self.slice_bytes, 1))
        for k0 in range(0, self.shape[0], step):
            yield k0, min(k0 + step, self.shape[0])

    def release(self) -> None:
        """Drop the pages read so far from this process (the OS keeps them
        cached), so resident memory does not grow with the volume."""
        if self._mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            try:
                self._mapping.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):  # pragma: no cover - closed or unsupported
                pass


def open_volume(path: str | Path, key: str | None = None,
                volume_index: int | None = None) -> Volume:
    """Open ``.npy`` (memory-mapped), ``.npz`` (``key``) or NIfTI
    (``volume_index``: which 3-D volume of a 4-D file, 0-based)."""
    p = Path(path)
    name = p.name.lower()
    if key is not None and not name.endswith(".npz"):
        raise UsageError(f"--key {key!r}: only .npz volumes have keys ({p})")
    if volume_index is not None and not name.endswith((".nii", ".nii.gz")):
        raise UsageError(f"--volume {volume_index}: only NIfTI files hold several volumes ({p})")
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if name.endswith(".npy"):
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{p}: not a readable .npy file ({exc})") from None
        return Volume.from_array(arr, str(p))
    if name.endswith(".npz"):
        return _open_npz(p, key)
    if name.endswith((".nii", ".nii.gz")):
        return _open_nifti(p, volume_index)
    raise UsageError(f"{p}: unknown volume type (use {', '.join(VOLUME_SUFFIXES)})")


def _open_npz(p: Path, key: str | None) -> Volume:
    try:
        npz = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{p}: not a readable .npz file ({exc})") from None
    with npz:
        keys = list(npz.files)
        if key is None:
            if len(keys) != 1:
                raise UsageError(
                    f"{p}: holds {len(keys)} arrays ({', '.join(keys) or 'none'}); choose one with --key"
                )
            key = keys[0]
        if key not in keys:
            raise UsageError(f"--key {key!r}: not in {p} (it holds {', '.join(keys) or 'nothing'})")
        try:
            arr = npz[key]
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{p}: cannot read array {key!r} ({exc})") from None
    return Volume.from_array(arr, f"{p}[{key}]")


def _open_nifti(p: Path, volume_index: int | None = None) -> Volume:
    import nibabel as nib

    try:
        # nib.load is typed as returning a FileBasedImage; a .nii/.nii.gz file
        # loads as a Nifti1Image (or its subclass Nifti2Image)
        img = cast(nib.Nifti1Image, nib.load(str(p), keep_file_open=True) if p.name.lower().endswith(".gz")
                   else nib.load(str(p)))
    except Exception as exc:  # nibabel raises many types on bad files
        raise InputError(f"{p}: not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    full = tuple(int(n) for n in img.shape)
    shape = full[:3]
    # dimensions 4 and up (time, diffusion directions...): one 3-D volume each
    volumes = int(np.prod(full[3:])) if len(full) > 3 else 1
    if volume_index is None and volumes > 1:
        raise InputError(
            f"{p}: NIfTI shape {full} holds {volumes} volumes; a series is one 3-D volume: "
            f"choose one with --volume 0..{volumes - 1}"
        )
    index = volume_index or 0
    if not 0 <= index < volumes:
        raise UsageError(f"--volume {index}: {p} holds {volumes} volume(s), 0..{volumes - 1}")
    if len(shape) < 2 or min(full) < 1:
        raise InputError(f"{p}: NIfTI shape {full} is not a 2-D or 3-D image")
    proxy = img.dataobj
    extra = tuple(int(i) for i in np.unravel_index(index, full[3:])) if len(full) > 3 else ()
    if len(shape) == 2:
        def get(k0: int, k1: int) -> np.ndarray:
            return np.asarray(proxy[(slice(None), slice(None), *extra)])[:, :, np.newaxis]
        nk = 1
    else:
        def get(k0: int, k1: int) -> np.ndarray:
            return np.asarray(proxy[(slice(None), slice(None), slice(k0, k1), *extra)])
        nk = shape[2]
    try:
        dtype = np.asarray(proxy[(slice(0, 1), slice(0, 1), *((0,) * (len(img.shape) - 2)))]).dtype
    except Exception as exc:
        raise InputError(f"{p}: cannot read NIfTI data ({type(exc).__name__}: {exc})") from None
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise PixelDataError(f"{p}: NIfTI data type {dtype} is not a gray-scale number type")
    units = img.header.get_xyzt_units()[0] if hasattr(img.header, "get_xyzt_units") else "mm"
    scale = _NIFTI_UNITS.get(units, 1.0)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(img.affine, dtype=float)  # RAS -> LPS
    affine[:3, :] *= scale
    geometry = Geometry.from_affine(affine, str(p))
    # scl_slope/scl_inter over 8/16-bit integers: keep the integers, and the
    # scaling becomes the Modality LUT (exact)
    slope, inter = float(getattr(proxy, "slope", 1.0)), float(getattr(proxy, "inter", 0.0))
    raw = np.dtype(img.get_data_dtype())
    scaling = None
    if ((slope, inter) != (1.0, 0.0) and raw.kind in "iu" and raw.itemsize <= 2
            and slope != 0 and math.isfinite(slope) and math.isfinite(inter)):
        scaling = (slope, inter, raw)
    source = f"{p}[volume {index}]" if volumes > 1 else str(p)
    return Volume((nk, shape[1], shape[0]), dtype, source, get, geometry=geometry,
                  transposed=True, scaling=scaling)


# ================================================================ encoding

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
            return _ds((lo + hi + 1) / 2), _ds(max(hi - lo + 1, 2)), None
        rng = hi - lo
        if rng >= 1:
            return _ds((lo + hi) / 2), _ds(rng), None
        if rng > 0:
            # LINEAR needs Window Width >= 1; LINEAR_EXACT any width > 0 (C.11.2.1.3.2)
            return _ds((lo + hi) / 2), _ds(rng), "LINEAR_EXACT"
        return _ds(lo), "1", None

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


def _ds(value: float) -> str:
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
    if volume.scaling is not None:
        slope, inter, raw = volume.scaling
        stored = np.dtype("<i2") if raw.kind == "i" else np.dtype("<u2")
        return Encoding(stored, _ds(slope), _ds(inter), lo, hi, True)
    if dt.kind == "b":
        return Encoding(np.dtype("<u2"), minimum=lo, maximum=hi)
    if dt.kind in "iu":
        if dt.itemsize <= 2:
            stored = np.dtype("<i2") if dt.kind == "i" else np.dtype("<u2")
            return Encoding(stored, minimum=lo, maximum=hi)
        if _fits(lo, hi, _UINT16):
            return Encoding(np.dtype("<u2"), minimum=lo, maximum=hi)
        if _fits(lo, hi, _INT16):
            return Encoding(np.dtype("<i2"), minimum=lo, maximum=hi)
        return _rescale(lo, hi)
    # floats
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
        return Encoding(np.dtype("<u2"), "1", _ds(lo), lo, hi, True)
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
    return Encoding(stored, _ds(slope), _ds(intercept), lo, hi, True)


# ================================================================== series

@dataclass
class SeriesResult:
    """What :func:`write_series` wrote."""

    input: str
    outputs: list[str] = field(default_factory=list)
    sop_class: str = ""
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    geometry: Geometry | None = None
    encoding: Encoding | None = None
    notes: list[str] = field(default_factory=list)

    def as_entry(self) -> dict[str, object]:
        """The JSON report entry (as ``convert``'s, plus series fields)."""
        entry: dict[str, object] = {
            "input": self.input, "status": "ok", "outputs": self.outputs,
            "sop_class": self.sop_class, "slices": len(self.outputs),
            "series_instance_uid": self.series_instance_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
        }
        if self.geometry is not None:
            entry["geometry"] = self.geometry.as_dict()
        if self.encoding is not None:
            entry["encoding"] = self.encoding.as_dict()
        if self.notes:
            entry["notes"] = self.notes
        return entry


def resolve_geometry(volume: Volume, template: Template, *,
                     spacing: tuple[float, float, float] | None = None,
                     origin: tuple[float, float, float] | None = None,
                     orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                     | None = None) -> Geometry:
    """Options first, then the NIfTI affine, then the template's geometry."""
    base = volume.geometry or Geometry.from_template(template.dataset)
    return base.with_options(spacing=spacing, origin=origin, orientation=orientation)


class SeriesWriter:
    """Validates everything up front (template class, geometry, data range),
    then converts slices one by one."""

    def __init__(self, volume: Volume, template: Template, profile: Profile, geometry: Geometry,
                 *, transfer_syntax: str | None = None, started: datetime | None = None,
                 name: str | None = None) -> None:
        self.volume = volume
        self.geometry = geometry
        self.name = name or (Path(volume.source.split("[")[0]).name
                             if not volume.source.startswith("<") else "volume")
        self.stem = _stem(self.name)
        if min(volume.shape) < 1:
            raise PixelDataError(f"{volume.source}: volume shape {volume.shape} is empty")
        if max(volume.shape[1:]) > 0xFFFF:
            raise PixelDataError(f"{volume.source}: slices of {volume.shape[1:]} exceed 65535 rows/columns")
        self.converter = Converter(template, profile, transfer_syntax=transfer_syntax, started=started)
        self.plan = self._check_class(template, profile)
        self.encoding = plan_encoding(volume)

    def _check_class(self, template: Template, profile: Profile) -> PixelPlan:
        probe = from_array(np.zeros((1, 1), np.uint16), self.volume.source)
        plan = plan_pixels(template.sop_class, probe, profile.pixel.sop_class.value)
        if ("image-plane", "M") not in iod.iod_modules(plan.sop_class):
            tpl = template.sop_class
            what = tpl.name if tpl.is_valid else str(tpl)
            because = (f"the output would be {plan.sop_class.name}" if plan.sop_class != tpl
                       else f"it is {what}")
            raise TemplateError(
                f"{template.path or '<template>'}: a series needs a template whose IOD has the Image "
                f"Plane module (CT, MR), to carry slice position and orientation; {because}, which "
                "has none, so viewers could not stack the slices"
            )
        return plan

    def notes(self) -> list[str]:
        enc = self.encoding
        out = []
        if enc.rescaled:
            out.append(
                f"{self.volume.dtype} data [{enc.minimum:g}, {enc.maximum:g}] stored as "
                f"{enc.stored_dtype.name} with Rescale Slope {enc.slope}, Intercept {enc.intercept}"
            )
            if self.plan.rules.rescale != "required":
                out.append(f"Rescale Slope/Intercept are not part of the {self.plan.sop_class.name} "
                           "IOD; ITK, GDCM, dcmtk and most viewers apply them")
        elif self.volume.dtype not in (np.dtype("<i2"), np.dtype("<u2"), np.dtype(">i2"),
                                       np.dtype(">u2")):
            out.append(f"{self.volume.dtype} data stored exactly as {enc.stored_dtype.name}")
        if self.geometry.slice_sign < 0:
            out.append("slices step against the row x column normal (left-handed voxel grid); "
                       "positions are exact, readers sort them by position")
        return out

    def _adjust(self, k: int) -> Callable[[Dataset, PixelPlan], list[Change]]:
        g, enc = self.geometry, self.encoding
        ipp = g.position(k)

        def adjust(ds: Dataset, plan: PixelPlan) -> list[Change]:
            # PS3.3 C.7.6.2.1.1: position of the first voxel; row, then column cosines
            ds.ImagePositionPatient = [_ds(round(v, 6)) for v in ipp]
            ds.ImageOrientationPatient = [_ds(v) for v in (*g.row_direction, *g.column_direction)]
            ds.PixelSpacing = [_ds(g.spacing[1]), _ds(g.spacing[2])]  # row, column spacing
            ds.SliceThickness = _ds(g.spacing[0])  # contiguous slices: thickness = spacing
            ds.SpacingBetweenSlices = _ds(g.spacing[0])
            ds.SliceLocation = _ds(round(float(np.dot(ipp, g.normal)), 6))
            changes = [Change(int(iod.tag(kw)), "set", "series geometry") for kw in (
                "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                "SliceThickness", "SpacingBetweenSlices", "SliceLocation")]
            if enc.rescaled:
                # PS3.3 C.11.1: output units = stored * slope + intercept
                ds.RescaleSlope = enc.slope
                ds.RescaleIntercept = enc.intercept
                changes += [Change(int(iod.tag("RescaleSlope")), "set", "series rescale"),
                            Change(int(iod.tag("RescaleIntercept")), "set", "series rescale")]
            center, width, function = enc.window
            ds.WindowCenter = center  # one window for the whole series
            ds.WindowWidth = width
            if function:
                ds.VOILUTFunction = function
            elif "VOILUTFunction" in ds:
                del ds.VOILUTFunction
            return changes

        return adjust

    def outputs(self) -> Iterator[Output]:
        """Convert slice by slice (slice ``k`` -> Instance Number ``k + 1``)."""
        for k, raster in self._rasters():
            yield self.converter.convert(raster, index=k + 1, stem=self.stem, name=self.name,
                                         adjust=self._adjust(k))

    def rendered(self, encoder: DatasetWriter) -> Iterator[Rendered]:
        """The files of :meth:`outputs`, byte for byte, as parts to write:
        slices after the first two are filled into the first one's encoding
        (see :meth:`Converter.render`)."""
        for k, raster in self._rasters():
            yield self.converter.render(raster, encoder, index=k + 1, stem=self.stem,
                                        name=self.name, adjust=self._adjust(k),
                                        adjust_tags=ADJUST_TAGS)

    def _rasters(self) -> Iterator[tuple[int, Raster]]:
        """Each slice as stored, releasing the memory map's pages as it goes."""
        n = self.volume.shape[0]
        released = 0
        for k in range(n):
            stored = self.encoding.encode(self.volume.slice(k))
            yield k, from_array(stored, f"{self.volume.source}[{k}]")
            del stored
            released += self.volume.slice_bytes
            if released >= CHUNK_BYTES:
                self.volume.release()
                released = 0
        self.volume.release()


def _stem(name: str) -> str:
    low = name.lower()
    for suffix in VOLUME_SUFFIXES:
        if low.endswith(suffix):
            return name[: -len(suffix)] or "volume"
    return Path(name).stem or "volume"


def _as_volume(volume: str | Path | np.ndarray | Volume, key: str | None,
               volume_index: int | None = None) -> Volume:
    if isinstance(volume, Volume):
        return volume
    if isinstance(volume, np.ndarray):
        return Volume.from_array(volume)
    return open_volume(volume, key, volume_index)


def prepare_series(volume: str | Path | np.ndarray | Volume,
                   template: str | Path | Dataset | Template,
                   profile: str | Path | Profile | None = None, *,
                   geometry: Geometry | None = None,
                   spacing: tuple[float, float, float] | None = None,
                   origin: tuple[float, float, float] | None = None,
                   orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                   | None = None,
                   key: str | None = None, transfer_syntax: str | None = None,
                   started: datetime | None = None,
                   volume_index: int | None = None) -> SeriesWriter:
    """Open and check everything (raises before any output exists).
    ``volume_index``: which 3-D volume of a 4-D NIfTI file (0-based)."""
    prof = as_profile(profile)
    tpl = as_template(template)
    vol = _as_volume(volume, key, volume_index)
    geom = geometry or resolve_geometry(vol, tpl)
    geom = geom.with_options(spacing=spacing, origin=origin, orientation=orientation)
    writer = SeriesWriter(vol, tpl, prof, geom, transfer_syntax=transfer_syntax, started=started)
    if volume_index is not None:
        writer.stem = f"{writer.stem}_v{volume_index:04d}"  # file names and {stem}
    return writer


def iter_series(volume: str | Path | np.ndarray | Volume,
                template: str | Path | Dataset | Template,
                geometry: Geometry | None = None,
                profile: str | Path | Profile | None = None, *,
                spacing: tuple[float, float, float] | None = None,
                origin: tuple[float, float, float] | None = None,
                orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                | None = None,
                key: str | None = None, transfer_syntax: str | None = None,
                volume_index: int | None = None) -> Iterator[Dataset]:
    """Yield one Dataset per slice (Instance Number 1..N), all in one new
    series and Frame of Reference.

    ``volume``: a ``(slice, row, column)`` array (or a path); ``geometry``:
    a :class:`Geometry` (default: the NIfTI affine or the template's), each
    part of which ``spacing``/``origin``/``orientation`` may override;
    ``volume_index``: which 3-D volume of a 4-D NIfTI file.
    Everything is checked before the first dataset is yielded.
    """
    writer = prepare_series(volume, template, profile, geometry=geometry, spacing=spacing,
                            origin=origin, orientation=orientation, key=key,
                            transfer_syntax=transfer_syntax, volume_index=volume_index)
    for out in writer.outputs():
        yield out.dataset


def write_series(volume: str | Path | np.ndarray | Volume,
                 template: str | Path | Dataset | Template,
                 out_dir: str | Path,
                 profile: str | Path | Profile | None = None, *,
                 geometry: Geometry | None = None,
                 spacing: tuple[float, float, float] | None = None,
                 origin: tuple[float, float, float] | None = None,
                 orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                 | None = None,
                 key: str | None = None, transfer_syntax: str | None = None,
                 overwrite: bool = False,
                 progress: Callable[[Iterator[Rendered], int], Iterator[Rendered]] | None = None,
                 volume_index: int | None = None,
                 ) -> SeriesResult:
    """Write the series into ``out_dir`` as ``<stem>_NNNN.dcm`` (one per
    slice, atomically; ``<stem>_vNNNN_NNNN.dcm`` for a volume of a 4-D NIfTI
    file). If a write fails, the files of this run are removed and the error
    is raised: a series is never left half-written."""
    writer = prepare_series(volume, template, profile, geometry=geometry, spacing=spacing,
                            origin=origin, orientation=orientation, key=key,
                            transfer_syntax=transfer_syntax, volume_index=volume_index)
    n = writer.volume.shape[0]
    width = max(4, len(str(n)))
    names = NameAllocator(Path(out_dir), overwrite=overwrite)
    stem = sanitise_component(writer.stem, "volume")
    result = SeriesResult(writer.volume.source, geometry=writer.geometry, encoding=writer.encoding,
                          notes=writer.notes())
    notes: list[str] = []
    encoder = DatasetWriter()
    outputs = writer.rendered(encoder)
    if progress is not None:
        outputs = progress(outputs, n)
    try:
        for k, out in enumerate(outputs):
            if k == 0:
                first = out.dataset  # the first of its kind: built the ordinary way
                assert first is not None
                result.sop_class = out.plan.sop_class.name
                result.series_instance_uid = str(first.SeriesInstanceUID)
                result.frame_of_reference_uid = str(first.get("FrameOfReferenceUID", ""))
                del first
            path = names.claim(f"{stem}_{k + 1:0{width}d}.dcm")
            encoder.write_parts(out.parts, path)
            result.outputs.append(str(path))
            notes.extend(n_ for n_ in out.notes if n_ not in notes)
    except BaseException:
        for written in result.outputs:
            Path(written).unlink(missing_ok=True)
        raise
    result.notes.extend(notes)
    return result
