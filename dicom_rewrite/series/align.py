"""Putting a volume on its source series' grid (``series --reference``):
axis conventions explicit and checked, never guessed.

* An array (``.npy``, ``.npz``, in memory) has no geometry of its own: its
  axes are ``(slice, row, column)`` of the source, slice 0 the lowest along
  the source's slice normal (SimpleITK's ``GetArrayFromImage`` order), and
  its shape must be the source's ``(slices, rows, columns)``.
* A NIfTI file has an affine: it is compared with the source grid. When the
  NIfTI grid is the source grid with its axes permuted and/or reversed (a
  file stored radiologically, bottom-up, or sagittally of an axial source),
  the data are reoriented onto the source grid; otherwise the volume is
  refused with both grids in the message. Tolerance: every corner voxel of
  the NIfTI must map within :data:`VOXEL_TOLERANCE` of a voxel (along each
  axis) of the source voxel it lands on.
"""

from __future__ import annotations

import itertools

import numpy as np

from dicom_rewrite.errors import InputError
from dicom_rewrite.io.volumes import Volume
from dicom_rewrite.series.geometry import Geometry, volume_geometry
from dicom_rewrite.series.source import SourceSeries, grid_text

__all__ = ["VOXEL_TOLERANCE", "align"]

#: how far (in voxels, along each source axis) a NIfTI corner voxel may lie
#: from the source voxel it maps to
VOXEL_TOLERANCE = 0.05

_AXES = ("slice", "row", "column")


def _index_matrix(g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(3x3 matrix, origin) mapping a ``(slice, row, column)`` index to LPS mm."""
    m = np.column_stack([np.asarray(g.slice_direction) * g.spacing[0],
                         np.asarray(g.column_direction) * g.spacing[1],
                         np.asarray(g.row_direction) * g.spacing[2]])
    return m, np.asarray(g.origin, dtype=float)


def align(volume: Volume, source: SourceSeries) -> tuple[Volume, list[str]]:
    """The volume on the source grid (reoriented when it is a permutation or
    flip of it), and notes on what was done; raises :class:`InputError` when
    it does not fit."""
    geometry = volume_geometry(volume)
    if geometry is None:
        if volume.shape != source.shape:
            raise InputError(
                f"{volume.source}: shape {volume.shape} is not the source series' (slices, rows, "
                f"columns) {source.shape}; an array given with --reference has axis 0 along the "
                "source's slice normal, increasing (SimpleITK GetArrayFromImage order)")
        return volume, []
    name = volume.file or volume.source
    if not source.evenly_spaced:
        raise InputError(
            f"{name}: the source slices are not evenly spaced (steps {min(source.steps):.4g} to "
            f"{max(source.steps):.4g} mm), so no NIfTI affine describes their grid; give the "
            "volume as a .npy in source order (axis 0 along the slice normal)")
    axes, flips = _permutation(volume, geometry, source, name)
    if any(volume.shape[a] != source.shape[b] for b, a in enumerate(axes)):
        raise InputError(_mismatch(name, volume, geometry, source, "the shapes differ"))
    if axes == (0, 1, 2) and not any(flips):
        return volume, []
    done = [f"{_AXES[b]} axis = NIfTI {_nifti_axis(a)}{' reversed' if f else ''}"
            for b, (a, f) in enumerate(zip(axes, flips, strict=True))]
    return (volume.reoriented(axes, flips),
            [f"{name}: NIfTI grid reoriented onto the source series' grid ({'; '.join(done)})"])


def _nifti_axis(a: int) -> str:
    return ("k", "j", "i")[a]  # (slice, row, column) of the volume = NIfTI (k, j, i)


def _permutation(volume: Volume, geometry: Geometry, source: SourceSeries,
                 name: str) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
    v, vo = _index_matrix(geometry)
    s, so = _index_matrix(source.geometry)
    inv = np.linalg.inv(s)
    m = inv @ v  # volume index -> source index
    t = inv @ (vo - so)
    axes = tuple(int(np.argmax(np.abs(m[b]))) for b in range(3))
    if sorted(axes) != [0, 1, 2]:
        raise InputError(_mismatch(name, volume, geometry, source, "its axes are not the source's"))
    flips = tuple(bool(m[b, a] < 0) for b, a in enumerate(axes))
    ideal = np.zeros((3, 3))
    offset = np.zeros(3)
    for b, a in enumerate(axes):
        ideal[b, a] = -1.0 if flips[b] else 1.0
        offset[b] = source.shape[b] - 1 if flips[b] else 0.0
    worst = 0.0
    for corner in itertools.product(*[(0, n - 1) for n in volume.shape]):
        x = np.asarray(corner, dtype=float)
        worst = max(worst, float(np.max(np.abs((t + m @ x) - (offset + ideal @ x)))))
    if worst > VOXEL_TOLERANCE:
        raise InputError(_mismatch(name, volume, geometry, source,
                                   f"a corner voxel lies {worst:.3g} voxels off the source grid, "
                                   f"more than {VOXEL_TOLERANCE}"))
    return axes, flips  # type: ignore[return-value]


def _mismatch(name: str, volume: Volume, geometry: Geometry, source: SourceSeries, why: str) -> str:
    return (f"{name}: the NIfTI grid is not the source series' grid, nor a permutation or flip of it "
            f"({why}): NIfTI {grid_text(volume.shape, geometry)}; source {source.describe()}; "
            "resample the volume onto the source grid first")
