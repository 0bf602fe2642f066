"""The source series of ``series --reference``: the slices a model read, in
the order of their position along the slice normal.

A reference is a folder, a DICOMDIR or a list of files holding one image
series (or several, of which ``series_uid`` picks one). Slices are ordered by
the projection of Image Position (Patient) on the normal ``row x column`` of
Image Orientation (Patient) (PS3.3 C.7.6.2.1.1), increasing: never by file
name or Instance Number, which scanners number either way. Only the headers
are read (no pixel data).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset

from dicom_rewrite.batch import walk
from dicom_rewrite.errors import UsageError
from dicom_rewrite.io.dicom_in import dicomdir_members, is_dicomdir_dataset
from dicom_rewrite.series.geometry import DIRECTION_TOLERANCE, Geometry

__all__ = ["SPACING_TOLERANCE", "SourceSeries", "load_reference"]

#: how far (relative) a slice step, pixel spacing or matrix may differ from
#: the series' own and still be one grid
SPACING_TOLERANCE = 1e-3

_GEOMETRY = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")


@dataclass(frozen=True)
class SourceSeries:
    """The slices of one source series, ordered along the slice normal."""

    #: the headers (no pixel data), slice 0 lowest along the normal
    slices: tuple[Dataset, ...]
    #: the files, in the same order
    files: tuple[Path, ...]
    #: the grid: origin at slice 0, spacing ``(mean step, row, column)``
    geometry: Geometry
    #: every step between neighbouring slices equals the mean (within SPACING_TOLERANCE)
    evenly_spaced: bool
    #: the steps between neighbouring slices (mm)
    steps: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        first = self.slices[0]
        return (len(self.slices), int(first.Rows), int(first.Columns))

    @property
    def series_instance_uid(self) -> str:
        return str(self.slices[0].SeriesInstanceUID)

    @property
    def name(self) -> str:
        desc = str(self.slices[0].get("SeriesDescription", "") or "").strip()
        return f"series {self.series_instance_uid}" + (f" ({desc})" if desc else "")

    def describe(self) -> str:
        """The grid in words, for messages."""
        return grid_text(self.shape, self.geometry)

    def uids(self) -> frozenset[str]:
        """Every UID the source headers carry, at any depth (they stay valid
        in a derived object of the same patient)."""
        found: set[str] = set()
        for ds in self.slices:
            _collect_uids(ds, found)
        return frozenset(found)


def grid_text(shape: tuple[int, ...], g: Geometry) -> str:
    """``32x40x8 voxels of 0.7x0.7x2.5 mm, origin (..), row (..), column (..), slices (..)``."""
    def vec(v: Iterable[float]) -> str:
        return "(" + ",".join(f"{float(x):.4g}" for x in v) + ")"

    return (f"{shape[2]}x{shape[1]}x{shape[0]} voxels (columns x rows x slices) of "
            f"{g.spacing[2]:.4g}x{g.spacing[1]:.4g}x{g.spacing[0]:.4g} mm, origin {vec(g.origin)}, "
            f"row {vec(g.row_direction)}, column {vec(g.column_direction)}, slices {vec(g.slice_direction)}")


def _collect_uids(ds: Dataset, found: set[str]) -> None:
    for elem in ds:
        if elem.VR == "UI" and elem.value:
            values = elem.value if isinstance(elem.value, list) else [elem.value]
            found.update(str(v) for v in values)
        elif elem.VR == "SQ":
            for item in elem.value or []:
                _collect_uids(item, found)


def _headers(reference: Iterable[str | Path]) -> Iterator[tuple[Path, Dataset]]:
    """Every DICOM image header below the reference's folders, DICOMDIRs and files."""
    for source in walk(reference, dicomdir=dicomdir_members):
        if source.error is not None:
            raise UsageError(f"--reference {source.path}: {source.error}")
        if not source.path.is_file():
            raise UsageError(f"--reference {source.path}: no such file or folder")
        try:
            ds = dcmread(source.path, stop_before_pixels=True)
        except Exception:  # not DICOM (a README, a thumbnail): not part of the series
            continue
        if is_dicomdir_dataset(ds) or "Rows" not in ds or "SeriesInstanceUID" not in ds:
            continue
        yield source.path, ds


def load_reference(reference: str | Path | Iterable[str | Path],
                   series_uid: str | None = None) -> SourceSeries:
    """Read the source series' headers, choose the series, order its slices."""
    items = [reference] if isinstance(reference, (str, Path)) else list(reference)
    where = ", ".join(str(i) for i in items) or "<nothing>"
    groups: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in _headers(items):
        groups[str(ds.SeriesInstanceUID)].append((path, ds))
    if not groups:
        raise UsageError(f"--reference {where}: no DICOM images found")
    if series_uid is not None:
        if series_uid not in groups:
            raise UsageError(f"--series-uid {series_uid}: not in --reference {where}, which holds "
                             f"{_listing(groups)}")
        return _ordered(groups[series_uid], where)
    # series of slices with a position (not a SEG, a presentation state, a multi-frame image)
    stacks = {uid: m for uid, m in groups.items() if "ImagePositionPatient" in m[0][1]}
    if len(stacks) > 1:
        raise UsageError(f"--reference {where} holds {len(stacks)} image series; choose one with "
                         f"--series-uid: {_listing(stacks)}")
    if not stacks:
        raise UsageError(f"--reference {where}: no series of slices with Image Position (Patient) "
                         f"(single-frame CT or MR) in {_listing(groups)}")
    return _ordered(next(iter(stacks.values())), where)


def _listing(groups: dict[str, list[tuple[Path, Dataset]]]) -> str:
    parts = []
    for uid, members in groups.items():
        ds = members[0][1]
        desc = str(ds.get("SeriesDescription", "") or "").strip()
        parts.append(f"{uid} ({ds.get('Modality', '?')}{' ' + repr(desc) if desc else ''}, "
                     f"{len(members)} image(s))")
    return "; ".join(parts)


def _vector(ds: Dataset, kw: str, n: int, where: str) -> np.ndarray:
    value = ds.get(kw)
    try:
        v = np.array([float(x) for x in value], dtype=float)
    except (TypeError, ValueError):
        v = np.array([])
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise UsageError(f"--reference {where}: {kw} {value!r} is not {n} numbers")
    return v


def _check_slice(path: Path, ds: Dataset) -> None:
    missing = [kw for kw in _GEOMETRY if kw not in ds]
    if missing:
        raise UsageError(f"--reference {path}: no {', '.join(missing)}: a source slice must "
                         "carry its position, orientation and pixel spacing (Image Plane, PS3.3 C.7.6.2)")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise UsageError(f"--reference {path}: a multi-frame image; --reference takes a series of "
                         "single-frame slices (CT, MR)")


def _ordered(members: list[tuple[Path, Dataset]], where: str) -> SourceSeries:
    first = members[0][1]
    name = f"{where} (series {first.SeriesInstanceUID})"
    for path, ds in members:
        _check_slice(path, ds)
    iop = _vector(first, "ImageOrientationPatient", 6, name)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    ps = _vector(first, "PixelSpacing", 2, name)
    shape = (int(first.Rows), int(first.Columns))
    for path, ds in members[1:]:
        _same_grid(path, ds, iop, ps, shape)
    # PS3.3 C.7.6.2.1.1: the slice's distance along the normal orders the series
    distance = [float(np.dot(_vector(ds, "ImagePositionPatient", 3, str(p)), normal)) for p, ds in members]
    order = sorted(range(len(members)), key=lambda i: distance[i])
    d = [distance[i] for i in order]
    steps = tuple(b - a for a, b in zip(d, d[1:], strict=False))
    thickness = float(first.get("SliceThickness") or 0) or 1.0
    _one_per_position([members[i][0] for i in order], steps, thickness, name)
    mean = float(np.mean(steps)) if steps else thickness
    even = all(abs(s - mean) <= SPACING_TOLERANCE * mean for s in steps)
    origin = _vector(members[order[0]][1], "ImagePositionPatient", 3, name)
    geometry = Geometry(spacing=(mean, float(ps[0]), float(ps[1])),
                        origin=(float(origin[0]), float(origin[1]), float(origin[2])))
    geometry = geometry.with_options(orientation=((float(row[0]), float(row[1]), float(row[2])),
                                                  (float(col[0]), float(col[1]), float(col[2]))))
    return SourceSeries(tuple(members[i][1] for i in order), tuple(members[i][0] for i in order),
                        geometry, even, steps)


def _one_per_position(paths: list[Path], steps: tuple[float, ...], thickness: float, name: str) -> None:
    for i, step in enumerate(steps):
        if step < SPACING_TOLERANCE * max(thickness, 1.0):
            raise UsageError(
                f"--reference {name}: {paths[i]} and {paths[i + 1]} lie at the same position; one "
                "series must hold one slice per position (choose the acquisition with --series-uid, "
                "or give the files of one)")


def _same_grid(path: Path, ds: Dataset, iop: np.ndarray, ps: np.ndarray, shape: tuple[int, int]) -> None:
    """Every slice of the series on one in-plane grid (orientation, spacing, matrix)."""
    other = _vector(ds, "ImageOrientationPatient", 6, str(path))
    if float(np.max(np.abs(other - iop))) > DIRECTION_TOLERANCE:
        raise UsageError(f"--reference {path}: orientation {other.tolist()} differs from the series' "
                         f"{iop.tolist()}; a series of one orientation is needed")
    spacing = _vector(ds, "PixelSpacing", 2, str(path))
    if float(np.max(np.abs(spacing - ps))) > SPACING_TOLERANCE * float(np.max(ps)):
        raise UsageError(f"--reference {path}: pixel spacing {spacing.tolist()} differs from the "
                         f"series' {ps.tolist()}")
    if (int(ds.Rows), int(ds.Columns)) != shape:
        raise UsageError(f"--reference {path}: {ds.Rows}x{ds.Columns} pixels, the series' slices "
                         f"have {shape[0]}x{shape[1]}")
