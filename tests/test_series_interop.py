"""``dicom-rewrite series`` read back by SimpleITK (ITK's GDCM series reader)
and checked by dciodvfy: one series, exact voxels, the asked geometry, and
for NIfTI the same image SimpleITK reads from the NIfTI file itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicom_rewrite.cli import main
from dicom_rewrite.series import write_series
from tests.interop import assert_dciodvfy_clean, require_module

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[1]
CT = REPO / "templates" / "ct.dcm"
MR = REPO / "templates" / "mr.dcm"

SHAPE = (8, 32, 40)  # slices, rows, columns: every axis different

#: LPS <-> RAS: flip x and y
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def sitk():
    return require_module("SimpleITK")


def _volume(dtype: str = "int16") -> np.ndarray:
    rng = np.random.default_rng(5)
    if dtype == "float32":
        return rng.normal(0.3, 0.2, SHAPE).astype(np.float32)
    if dtype == "uint16":
        return rng.integers(0, 60000, SHAPE).astype(np.uint16)
    return rng.integers(-1024, 3072, SHAPE).astype(np.int16)


def read_series(sitk, folder: Path):
    """Read ``folder`` as ITK does: exactly one series, sorted by position."""
    reader = sitk.ImageSeriesReader()
    ids = reader.GetGDCMSeriesIDs(str(folder))
    assert len(ids) == 1, f"expected one series in {folder}, got {ids}"
    files = reader.GetGDCMSeriesFileNames(str(folder), ids[0])
    assert len(files) == len(list(folder.glob("*.dcm")))
    reader.SetFileNames(files)
    return reader.Execute()


def _direction(img) -> np.ndarray:
    return np.asarray(img.GetDirection()).reshape(3, 3)


def _assert_all_clean(folder: Path) -> None:
    files = sorted(folder.glob("*.dcm"))
    assert files
    for f in files:
        assert_dciodvfy_clean(f)


# ------------------------------------------------------------- arrays + options

GEOMETRIES = {
    "axial": ((1.0, 0.7, 0.8), (-12.5, 40.0, 100.0), ((1, 0, 0), (0, 1, 0))),
    "coronal": ((2.0, 1.5, 0.5), (0.0, 0.0, 0.0), ((1, 0, 0), (0, 0, -1))),
    "oblique": ((3.0, 0.9, 1.1), (5.0, -7.0, 11.0),
                ((0.8, 0.6, 0.0), (-0.36, 0.48, -0.8))),
}


@pytest.mark.parametrize("template", [CT, MR], ids=["ct", "mr"])
@pytest.mark.parametrize("dtype", ["int16", "uint16", "float32"])
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_array_series_reads_back(sitk, tmp_path, template, dtype, name):
    spacing, origin, (row, col) = GEOMETRIES[name]
    vol = _volume(dtype)
    src = tmp_path / "vol.npy"
    np.save(src, vol)
    out = tmp_path / "out"
    rc = main([
        "series", str(src), "--template", str(template), "--out", str(out),
        "--spacing", ",".join(map(str, spacing)), "--origin", ",".join(map(str, origin)),
        "--orientation", ",".join(map(str, (*row, *col))),
    ])
    assert rc == 0
    img = read_series(sitk, out)
    arr = sitk.GetArrayFromImage(img)  # (slice, row, column)
    assert arr.shape == vol.shape
    if dtype == "float32":
        tol = 1e-3 * float(vol.max() - vol.min())
        assert np.max(np.abs(arr - vol)) <= tol
    else:
        assert np.array_equal(arr, vol)
    # ITK spacing is (column, row, slice)
    assert img.GetSpacing() == pytest.approx(spacing[::-1], abs=1e-6)
    assert img.GetOrigin() == pytest.approx(origin, abs=1e-6)
    d = _direction(img)
    assert d[:, 0] == pytest.approx(row, abs=1e-6)
    assert d[:, 1] == pytest.approx(col, abs=1e-6)
    assert d[:, 2] == pytest.approx(np.cross(row, col), abs=1e-6)
    _assert_all_clean(out)


def test_2d_array_is_one_slice(sitk, tmp_path):
    img2d = _volume()[0]
    out = tmp_path / "out"
    write_series(img2d, MR, out, spacing=(2.0, 0.5, 0.25), origin=(1, 2, 3),
                 orientation=((1, 0, 0), (0, 1, 0)))
    files = sorted(out.glob("*.dcm"))
    assert len(files) == 1
    got = sitk.ReadImage(str(files[0]))
    assert np.array_equal(sitk.GetArrayFromImage(got)[0], img2d)
    assert got.GetOrigin() == pytest.approx((1, 2, 3))
    assert got.GetSpacing()[:2] == pytest.approx((0.25, 0.5))
    _assert_all_clean(out)


# ------------------------------------------------------------------------ NIfTI

def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _affine(rotation: np.ndarray, zooms: tuple[float, float, float],
            offset: tuple[float, float, float]) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = rotation @ np.diag(zooms)
    a[:3, 3] = offset
    return a


NIFTI_AFFINES = {
    # RAS affines (nibabel's convention), voxel axes (i, j, k) = (column, row, slice)
    "axial": _affine(np.eye(3), (0.8, 0.7, 2.5), (-15.0, -12.0, 30.0)),
    "oblique": _affine(_rotation(0.3, -0.2, 0.5), (1.1, 0.9, 3.0), (20.0, -35.0, 12.5)),
    # radiological storage (x flipped): a left-handed voxel grid in LPS
    "left-handed": _affine(np.diag([-1.0, 1.0, 1.0]), (1.0, 1.25, 2.0), (10.0, -5.0, -40.0)),
}


def _write_nifti(path: Path, vol: np.ndarray, affine: np.ndarray) -> None:
    nib = require_module("nibabel")
    data = np.ascontiguousarray(vol.transpose(2, 1, 0))  # (slice,row,col) -> (i,j,k)
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)  # both forms equal: ITK and nibabel agree on the choice
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))


@pytest.mark.parametrize("template", [CT, MR], ids=["ct", "mr"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("name", ["axial", "oblique"])
def test_nifti_equals_sitk_reading(sitk, tmp_path, template, suffix, name):
    vol = _volume()
    src = tmp_path / f"vol{suffix}"
    _write_nifti(src, vol, NIFTI_AFFINES[name])
    out = tmp_path / "out"
    assert main(["series", str(src), "--template", str(template), "--out", str(out)]) == 0
    dicom = read_series(sitk, out)
    nifti = sitk.ReadImage(str(src))
    assert np.array_equal(sitk.GetArrayFromImage(dicom), sitk.GetArrayFromImage(nifti))
    assert np.array_equal(sitk.GetArrayFromImage(dicom), vol)
    assert dicom.GetSpacing() == pytest.approx(nifti.GetSpacing(), abs=1e-4)
    assert dicom.GetOrigin() == pytest.approx(nifti.GetOrigin(), abs=1e-4)
    assert _direction(dicom) == pytest.approx(_direction(nifti), abs=1e-5)
    _assert_all_clean(out)


def test_nifti_left_handed_grid_is_physically_equal(sitk, tmp_path):
    """A left-handed NIfTI grid cannot be a DICOM series in the same voxel
    order (readers stack along row x column); every voxel must still land at
    the same patient position."""
    vol = _volume()
    src = tmp_path / "vol.nii"
    _write_nifti(src, vol, NIFTI_AFFINES["left-handed"])
    out = tmp_path / "out"
    assert main(["series", str(src), "--template", str(CT), "--out", str(out)]) == 0
    dicom = read_series(sitk, out)
    nifti = sitk.ReadImage(str(src))
    assert np.linalg.det(_direction(nifti)) < 0 < np.linalg.det(_direction(dicom))
    assert dicom.GetSpacing() == pytest.approx(nifti.GetSpacing(), abs=1e-4)
    resampled = sitk.Resample(nifti, dicom, sitk.Transform(), sitk.sitkNearestNeighbor, -9999)
    assert np.array_equal(sitk.GetArrayFromImage(resampled), sitk.GetArrayFromImage(dicom))
    # the DICOM stack is the NIfTI's slice order reversed
    assert np.array_equal(sitk.GetArrayFromImage(dicom), vol[::-1])
    _assert_all_clean(out)


def test_nifti_options_override_affine(sitk, tmp_path):
    vol = _volume()
    src = tmp_path / "vol.nii.gz"
    _write_nifti(src, vol, NIFTI_AFFINES["oblique"])
    out = tmp_path / "out"
    rc = main(["series", str(src), "--template", str(MR), "--out", str(out),
               "--spacing", "4,2,1", "--origin", "1,2,3"])
    assert rc == 0
    dicom = read_series(sitk, out)
    nifti = sitk.ReadImage(str(src))
    assert dicom.GetSpacing() == pytest.approx((1, 2, 4), abs=1e-6)
    assert dicom.GetOrigin() == pytest.approx((1, 2, 3), abs=1e-6)
    assert _direction(dicom) == pytest.approx(_direction(nifti), abs=1e-5)  # kept


@pytest.mark.parametrize("ts", ["rle", "jpeg-ls-lossless", "jpeg2000-lossless"])
def test_compressed_series_reads_back(sitk, tmp_path, ts):
    vol = _volume("uint16")
    src = tmp_path / "vol.npy"
    np.save(src, vol)
    out = tmp_path / "out"
    rc = main(["series", str(src), "--template", str(CT), "--out", str(out),
               "--spacing", "2,1,1", "--transfer-syntax", ts])
    assert rc == 0
    img = read_series(sitk, out)
    assert np.array_equal(sitk.GetArrayFromImage(img), vol)
    assert img.GetSpacing() == pytest.approx((1, 1, 2))
    _assert_all_clean(out)


def test_float_windows_are_linear_and_dcmtk_367_uses_them(tmp_path):
    """dcmtk 3.6.7 does not know LINEAR_EXACT (it drops the window); our
    windows are LINEAR, exact per PS3.3 C.11.2.1.2.1, for any data range."""
    import subprocess

    from PIL import Image

    from tests.interop import require_tool

    exe = require_tool("dcmj2pnm")
    ramp = np.linspace(0, 1, 32 * 40, dtype=np.float32).reshape(32, 40)
    for name, scale in (("synthetic", 1000.0), ("probability", 0.3)):
        write_series(np.stack([ramp * scale] * 2), CT, tmp_path / name, durable=False)
        first = sorted((tmp_path / name).glob("*.dcm"))[0]
        proc = subprocess.run([exe, "+Wi", "1", "+on", str(first), str(tmp_path / f"{name}.png")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "VOILUTFunction" not in proc.stderr, proc.stderr
        assert "cannot select VOI window" not in proc.stderr, proc.stderr
        img = np.asarray(Image.open(tmp_path / f"{name}.png"))
        if name == "synthetic":  # the full gray ramp
            assert img.min() == 0 and img.max() == 255 and len(np.unique(img)) > 200
