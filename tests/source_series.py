"""Small source series for ``series --reference`` tests: CT slices made with
pydicom from ``templates/ct.dcm``, numbered top-down (as many scanners do:
``IM0001`` is the highest slice) or bottom-up, with a bright lesion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from tests.conftest import TEMPLATES

SHAPE = (8, 32, 32)  # slices, rows, columns
SPACING = (2.5, 0.7, 0.8)  # slice, row, column (mm)
ORIGIN = (-10.0, -20.0, -50.0)  # centre of the lowest slice's first voxel (LPS)
#: the lesion: source voxels (slice, row, column) above LESION_HU
LESION = (slice(3, 6), slice(10, 16), slice(12, 20))
LESION_HU = 200


def source_volume() -> np.ndarray:
    """The source's voxels, slice 0 lowest (along +z)."""
    rng = np.random.default_rng(1)
    vol = rng.integers(-100, 100, SHAPE).astype(np.int16)
    vol[LESION] = 300
    return vol


def make_source(folder: Path, *, top_down: bool, series_description: str = "CT AX 2.5",
                study: str | None = None) -> list[Path]:
    """Write the series into ``folder``; file ``IM<Instance Number>.dcm``."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(TEMPLATES / "ct.dcm")
    study, series, frame = study or generate_uid(), generate_uid(), generate_uid()
    vol = source_volume()
    n = SHAPE[0]
    files = []
    for k in range(n):
        ds = template.copy()
        z = ORIGIN[2] + k * SPACING[0]
        ds.Rows, ds.Columns = SHAPE[1:]
        ds.PixelSpacing = list(SPACING[1:])
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [ORIGIN[0], ORIGIN[1], z]
        ds.SliceLocation = z
        ds.SliceThickness = SPACING[0]
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesDescription = series_description
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        number = n - k if top_down else k + 1
        ds.InstanceNumber = number
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = vol[k].tobytes()
        path = folder / f"IM{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files
