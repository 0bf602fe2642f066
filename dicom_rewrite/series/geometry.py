"""Slice geometry of a series (PS3.3 C.7.6.2 Image Plane), in DICOM patient
coordinates (LPS, mm).

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
import math
from dataclasses import dataclass, replace

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.errors import InputError, TemplateError, UsageError
from dicom_rewrite.io.volumes import Volume

__all__ = ["DIRECTION_TOLERANCE", "Direction", "Geometry", "Orientation", "check_orientation",
           "volume_geometry"]

#: tolerance on unit length and orthogonality of direction cosines
DIRECTION_TOLERANCE = 1e-3

Direction = tuple[float, float, float]
#: (row direction, column direction)
Orientation = tuple[Direction, Direction]


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
            spacing, origin = _template_spacing(ds), _template_origin(ds)
            if spacing is not None:
                g = replace(g, spacing=spacing)
            if origin is not None:
                g = replace(g, origin=origin)
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


def _template_spacing(ds: Dataset) -> tuple[float, float, float] | None:
    """(slice, row, column) spacing from Pixel Spacing and Spacing Between
    Slices (else Slice Thickness, else 1 mm); None without Pixel Spacing."""
    ps = ds.get("PixelSpacing")
    thick = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    if ps is not None and len(ps) == 2 and float(ps[0]) > 0 and float(ps[1]) > 0:
        s = float(thick) if thick is not None and float(thick) > 0 else 1.0
        return (s, float(ps[0]), float(ps[1]))
    return None


def _template_origin(ds: Dataset) -> tuple[float, float, float] | None:
    ipp = ds.get("ImagePositionPatient")
    if ipp is not None and len(ipp) == 3:
        return (float(ipp[0]), float(ipp[1]), float(ipp[2]))
    return None


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


def volume_geometry(volume: Volume) -> Geometry | None:
    """The geometry the volume's file gives (its NIfTI affine), checked;
    None when it has none."""
    if volume.affine is None:
        return None
    return Geometry.from_affine(volume.affine, volume.file or volume.source)
