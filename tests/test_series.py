"""``dicom_rewrite.series`` and ``dicom-rewrite series``: options, geometry,
data types, UIDs, memory mapping and failure modes (no third-party readers;
see test_series_interop.py for SimpleITK and dciodvfy)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from dicom_rewrite import series as S
from dicom_rewrite.cli import main
from dicom_rewrite.cli.series import parse_orientation, parse_origin, parse_spacing
from dicom_rewrite.errors import InputError, PixelDataError, TemplateError, UsageError

REPO = Path(__file__).resolve().parents[1]
CT = REPO / "templates" / "ct.dcm"
MR = REPO / "templates" / "mr.dcm"
SC = REPO / "templates" / "sc.dcm"

SHAPE = (6, 12, 10)


def _read_all(folder: Path) -> list[pydicom.Dataset]:
    files = sorted(folder.glob("*.dcm"))
    return sorted((pydicom.dcmread(f) for f in files), key=lambda d: int(d.InstanceNumber))


def _values(ds: pydicom.Dataset) -> np.ndarray:
    return apply_modality_lut(ds.pixel_array, ds)


def _stack(folder: Path) -> np.ndarray:
    return np.stack([_values(ds) for ds in _read_all(folder)])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ======================================================================= options

class TestParseOptions:
    def test_spacing(self):
        assert parse_spacing("2.5, 0.7,0.8") == (2.5, 0.7, 0.8)
        assert parse_spacing("1\\2\\3") == (1, 2, 3)  # DICOM-style separators

    @pytest.mark.parametrize("text", ["1,2", "1,2,3,4", "a,b,c", "1,,2", "0,1,1", "1,-1,1",
                                      "nan,1,1", "inf,1,1", ""])
    def test_bad_spacing(self, text):
        with pytest.raises(UsageError, match="--spacing"):
            parse_spacing(text)

    def test_origin(self):
        assert parse_origin("-12.5,40,1e2") == (-12.5, 40, 100)

    @pytest.mark.parametrize("text", ["1,2", "x,1,2", "1,2,inf"])
    def test_bad_origin(self, text):
        with pytest.raises(UsageError, match="--origin"):
            parse_origin(text)

    def test_orientation_is_orthonormalised(self):
        row, col = parse_orientation("0.7071,0.7071,0,-0.7071,0.7071,0")
        assert np.linalg.norm(row) == pytest.approx(1, abs=1e-12)
        assert np.dot(row, col) == pytest.approx(0, abs=1e-12)
        assert row == pytest.approx((0.7071, 0.7071, 0), abs=1e-3)

    @pytest.mark.parametrize("text,match", [
        ("1,0,0,0,1", "6 comma-separated"),
        ("2,0,0,0,1,0", "row direction has length 2"),
        ("1,0,0,0,0.5,0", "column direction has length 0.5"),
        ("1,0,0,1,0,0", "not orthogonal"),
        ("0.8,0.6,0,0.6,0.8,0", "not orthogonal"),
        ("0,0,0,0,1,0", "length 0"),
    ])
    def test_bad_orientation(self, text, match):
        with pytest.raises(UsageError, match=match):
            parse_orientation(text)


# ====================================================================== geometry

class TestGeometry:
    def test_position_steps_along_normal(self):
        g = S.Geometry((3.0, 1.0, 1.0), (10.0, 20.0, 30.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0))
        assert g.normal == pytest.approx((-1, 0, 0))
        assert g.position(0) == pytest.approx((10, 20, 30))
        assert g.position(4) == pytest.approx((10 - 12, 20, 30))

    def test_from_affine_ras_to_lps(self):
        # RAS identity-ish affine: i -> R, j -> A, k -> S
        ras = np.diag([0.5, 0.6, 2.0, 1.0])
        ras[:3, 3] = (1, 2, 3)
        g = S.Geometry.from_affine(np.diag([-1, -1, 1, 1]) @ ras)
        assert g.spacing == pytest.approx((2.0, 0.6, 0.5))  # slice, row, column
        assert g.origin == pytest.approx((-1, -2, 3))
        assert g.row_direction == pytest.approx((-1, 0, 0))
        assert g.column_direction == pytest.approx((0, -1, 0))
        assert g.slice_sign == 1

    def test_left_handed_affine_keeps_positions(self):
        g = S.Geometry.from_affine(np.diag([1.0, -1.0, 2.0, 1.0]))
        assert g.slice_sign == -1
        assert g.position(3) == pytest.approx((0, 0, 6))  # +z although normal is -z

    def test_sheared_affine_refused(self):
        a = np.eye(4)
        a[0, 2] = 0.5  # gantry tilt
        with pytest.raises(InputError, match="not orthogonal"):
            S.Geometry.from_affine(a, "tilt.nii")

    def test_options_override_parts(self):
        g = S.Geometry.from_template(pydicom.dcmread(MR))
        assert g.origin == pytest.approx((-115, -104.3, 32.1))
        assert g.spacing == pytest.approx((6.5, 1.796875, 1.796875))  # SpacingBetweenSlices
        h = g.with_options(spacing=(1, 2, 3))
        assert h.spacing == (1, 2, 3) and h.origin == g.origin
        assert h.column_direction == g.column_direction


# ======================================================================= writing

def _write(vol, tmp_path, template=MR, **kw):
    out = tmp_path / "out"
    result = S.write_series(vol, template, out, **kw)
    return result, out


class TestSeriesAttributes:
    def test_one_series_instances_and_positions(self, tmp_path):
        vol = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
        row, col = (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)  # sagittal
        result, out = _write(vol, tmp_path, spacing=(2.5, 0.5, 0.75), origin=(10, -20, 30),
                             orientation=(row, col))
        dss = _read_all(out)
        assert len(dss) == SHAPE[0] == len(result.outputs)
        assert [int(d.InstanceNumber) for d in dss] == list(range(1, SHAPE[0] + 1))
        assert len({d.SeriesInstanceUID for d in dss}) == 1
        assert len({d.FrameOfReferenceUID for d in dss}) == 1
        assert len({d.StudyInstanceUID for d in dss}) == 1
        assert len({d.SOPInstanceUID for d in dss}) == SHAPE[0]
        assert dss[0].SeriesInstanceUID == result.series_instance_uid
        assert dss[0].FrameOfReferenceUID == result.frame_of_reference_uid
        tpl = pydicom.dcmread(MR)
        for uid in ("SeriesInstanceUID", "FrameOfReferenceUID", "StudyInstanceUID"):
            assert dss[0].get(uid) != tpl.get(uid)
        normal = np.cross(row, col)
        for k, ds in enumerate(dss):
            ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
            assert ipp == pytest.approx(np.array([10, -20, 30]) + k * 2.5 * normal)
            assert [float(v) for v in ds.ImageOrientationPatient] == pytest.approx([*row, *col])
            assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.75]  # row, column
            assert float(ds.SliceThickness) == 2.5
            assert float(ds.SpacingBetweenSlices) == 2.5
            assert float(ds.SliceLocation) == pytest.approx(float(np.dot(ipp, normal)))
            assert ds.SOPClassUID == tpl.SOPClassUID
            assert np.array_equal(ds.pixel_array, vol[k])

    def test_identity_handled_as_convert(self, tmp_path):
        vol = np.zeros((2, 4, 4), np.int16)
        _, out = _write(vol, tmp_path, template=CT)
        tpl = pydicom.dcmread(CT)
        for ds in _read_all(out):
            assert ds.get("PatientName") != tpl.PatientName
            assert ds.get("PatientID") != tpl.PatientID
            assert ds.PatientIdentityRemoved == "YES"
            assert not any(e.tag.is_private for e in ds)

    def test_template_geometry_by_default(self, tmp_path):
        vol = np.zeros((3, 4, 5), np.uint16)
        _, out = _write(vol, tmp_path, template=CT)
        dss = _read_all(out)
        assert [float(v) for v in dss[0].ImagePositionPatient] == [-175, -175, -412.5]
        assert [float(v) for v in dss[2].ImagePositionPatient] == [-175, -175, -402.5]
        assert [float(v) for v in dss[1].PixelSpacing] == [2.734375, 2.734375]

    def test_iter_series_yields_datasets(self):
        vol = np.ones((3, 4, 4), np.int16)
        dss = list(S.iter_series(vol, CT, S.Geometry(spacing=(2, 1, 1))))
        assert all(isinstance(d, pydicom.Dataset) for d in dss)
        assert [d.InstanceNumber for d in dss] == [1, 2, 3]
        assert [float(d.ImagePositionPatient[2]) for d in dss] == [0, 2, 4]

    def test_non_plane_template_refused(self, tmp_path):
        with pytest.raises(TemplateError, match="Image Plane module"):
            _write(np.zeros((2, 4, 4), np.int16), tmp_path, template=SC)
        assert not (tmp_path / "out").exists()

    def test_failed_write_leaves_nothing(self, tmp_path, monkeypatch):
        calls = []

        from dicom_rewrite.io import files

        real = files._write_all  # how the output sink writes each part

        def flaky(data, f):
            calls.append(f)
            if len(calls) == 3:
                f.write(data[:10])
                raise OSError("disk full")
            real(data, f)

        monkeypatch.setattr(files, "_write_all", flaky)
        with pytest.raises(OSError, match="disk full"):
            _write(np.zeros((5, 4, 4), np.int16), tmp_path)
        assert list((tmp_path / "out").glob("*")) == []


# ==================================================================== data types

class TestDataTypes:
    @pytest.mark.parametrize("dtype,pr", [("int16", 1), ("uint16", 0), (">i2", 1), (">u2", 0)])
    def test_16_bit_stored_directly(self, tmp_path, dtype, pr):
        info = np.iinfo(np.dtype(dtype))
        vol = np.linspace(info.min, info.max, np.prod(SHAPE)).astype(dtype).reshape(SHAPE)
        result, out = _write(vol, tmp_path)
        dss = _read_all(out)
        assert all(d.PixelRepresentation == pr and d.BitsStored == 16 for d in dss)
        assert "RescaleSlope" not in dss[0]  # MR: no Modality LUT needed
        assert np.array_equal(np.stack([d.pixel_array for d in dss]), vol)
        assert not result.encoding.rescaled

    def test_ct_keeps_identity_rescale(self, tmp_path):
        vol = np.full(SHAPE, -1000, np.int16)
        _, out = _write(vol, tmp_path, template=CT)
        ds = _read_all(out)[0]
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1, 0)
        assert np.array_equal(_stack(out), vol)

    @pytest.mark.parametrize("dtype", ["uint8", "int8", "bool", "int32", "uint32", "int64"])
    def test_small_integers_exact(self, tmp_path, dtype):
        rng = np.random.default_rng(1)
        if dtype == "bool":
            vol = rng.random(SHAPE) > 0.5
        else:
            info = np.iinfo(dtype)
            lo, hi = max(info.min, -30000), min(info.max, 30000)
            vol = rng.integers(lo, hi, SHAPE, endpoint=True).astype(dtype)
        result, out = _write(vol, tmp_path)
        assert not result.encoding.rescaled
        assert np.array_equal(_stack(out), vol.astype(np.int64))

    def test_wide_integers_rescaled(self, tmp_path):
        vol = np.linspace(-2_000_000, 5_000_000, np.prod(SHAPE)).astype(np.int32).reshape(SHAPE)
        result, out = _write(vol, tmp_path, template=CT)
        assert result.encoding.rescaled
        rng = float(vol.max()) - float(vol.min())
        assert np.max(np.abs(_stack(out) - vol)) <= 1e-3 * rng

    @pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (-1.0, 1.0), (-5e-4, -1e-4), (1000.0, 1000.5),
                                       (-3e6, 7e6), (1e-7, 3e-7), (-1024.3, 3071.7)])
    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    def test_float_round_trip(self, tmp_path, lo, hi, dtype):
        rng = np.random.default_rng(2)
        vol = (lo + (hi - lo) * rng.random(SHAPE)).astype(dtype)
        vol[0, 0, 0], vol[-1, -1, -1] = lo, hi
        result, out = _write(vol, tmp_path, template=CT)
        got = _stack(out)
        data_range = float(vol.max()) - float(vol.min())
        assert np.max(np.abs(got - vol.astype(np.float64))) <= 1e-3 * data_range
        assert result.encoding.rescaled
        ds = _read_all(out)[0]
        assert len(ds.RescaleSlope.original_string or str(ds.RescaleSlope)) <= 16
        # one window covering the data range, the same on every slice
        centers = {str(d.WindowCenter) for d in _read_all(out)}
        assert len(centers) == 1
        # LINEAR (which dcmtk 3.6.7 knows, unlike LINEAR_EXACT) shows exactly the data
        # range (PS3.3 C.11.2.1.2.1), also for ranges narrower than 1
        assert "VOILUTFunction" not in ds and float(ds.WindowWidth) >= 1
        v0, v1 = float(vol.min()), float(vol.max())
        low, bottom, high, top, mid = apply_voi_lut(
            np.array([v0, v0 - data_range, v1, v1 + data_range, (v0 + v1) / 2]), ds)
        tol = 1e-3 * abs(top - bottom)
        assert top > bottom and abs(low - bottom) <= tol and abs(high - top) <= tol
        assert abs(mid - (bottom + top) / 2) <= tol  # linear in between, not a threshold

    def test_zero_stays_exact(self, tmp_path):
        vol = np.random.default_rng(3).random(SHAPE).astype(np.float32)
        vol[0] = 0
        _, out = _write(vol, tmp_path)
        assert np.all(_stack(out)[0] == 0)
        assert float(_read_all(out)[0].RescaleIntercept) == 0

    def test_integer_valued_floats_exact(self, tmp_path):
        vol = np.random.default_rng(4).integers(-1024, 3000, SHAPE).astype(np.float32)
        result, out = _write(vol, tmp_path, template=CT)
        assert not result.encoding.rescaled
        assert _read_all(out)[0].PixelRepresentation == 1
        assert np.array_equal(_stack(out), vol)

    def test_constant_float_volume(self, tmp_path):
        vol = np.full(SHAPE, 0.25, np.float32)
        _, out = _write(vol, tmp_path)
        assert np.allclose(_stack(out), 0.25)

    @pytest.mark.parametrize("bad,what", [(np.nan, "1 NaN"), (np.inf, "1 infinite"),
                                          (-np.inf, "1 infinite")])
    def test_non_finite_refused(self, tmp_path, bad, what):
        vol = np.zeros(SHAPE, np.float32)
        vol[3, 2, 1] = bad
        with pytest.raises(PixelDataError, match=what):
            _write(vol, tmp_path)
        assert not (tmp_path / "out").exists()

    def test_complex_refused(self, tmp_path):
        with pytest.raises(PixelDataError, match="complex"):
            _write(np.zeros(SHAPE, np.complex64), tmp_path)


# ======================================================================= sources

class TestSources:
    def test_npy_is_memory_mapped_and_untouched(self, tmp_path):
        src = tmp_path / "v.npy"
        np.save(src, np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE))
        before = _sha(src)
        vol = S.open_volume(src)
        assert vol._mapping is not None  # memory-mapped, not loaded
        S.write_series(vol, CT, tmp_path / "out")
        assert _sha(src) == before

    def test_fortran_order_npy(self, tmp_path):
        arr = np.asfortranarray(np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE))
        src = tmp_path / "v.npy"
        np.save(src, arr)
        S.write_series(src, MR, tmp_path / "out")
        assert np.array_equal(_stack(tmp_path / "out"), arr)

    def test_npz_key(self, tmp_path):
        a, b = np.zeros(SHAPE, np.int16), np.ones(SHAPE, np.int16)
        src = tmp_path / "v.npz"
        np.savez(src, a=a, b=b)
        S.write_series(src, MR, tmp_path / "out", key="b")
        assert np.array_equal(_stack(tmp_path / "out"), b)
        with pytest.raises(UsageError, match="choose one with --key"):
            S.open_volume(src)
        with pytest.raises(UsageError, match="'c': not in"):
            S.open_volume(src, key="c")

    def test_nifti_axes_and_geometry(self, tmp_path):
        vol = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
        ras = np.diag([0.5, 0.75, 3.0, 1.0])
        ras[:3, 3] = (-10, 20, 5)
        src = tmp_path / "v.nii.gz"
        nib.save(nib.Nifti1Image(vol.transpose(2, 1, 0), ras), str(src))
        S.write_series(src, CT, tmp_path / "out")
        dss = _read_all(tmp_path / "out")
        assert np.array_equal(np.stack([d.pixel_array for d in dss]), vol)
        assert [float(v) for v in dss[0].ImagePositionPatient] == [10, -20, 5]  # LPS
        assert [float(v) for v in dss[1].ImagePositionPatient] == [10, -20, 8]
        assert [float(v) for v in dss[0].ImageOrientationPatient] == [-1, 0, 0, 0, -1, 0]
        assert [float(v) for v in dss[0].PixelSpacing] == [0.75, 0.5]

    def test_nifti_scaled_data_and_units(self, tmp_path):
        vol = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
        img = nib.Nifti1Image(vol.transpose(2, 1, 0), np.diag([0.001, 0.001, 0.002, 1]))
        img.header.set_slope_inter(0.5, -3)
        img.header.set_xyzt_units("meter")
        src = tmp_path / "v.nii"
        nib.save(img, str(src))
        S.write_series(src, MR, tmp_path / "out")
        dss = _read_all(tmp_path / "out")
        assert np.array_equal(_stack(tmp_path / "out"), vol * 0.5 - 3)  # raw ints kept
        assert (dss[0].RescaleSlope, dss[0].RescaleIntercept) == (0.5, -3)
        assert [float(v) for v in dss[0].PixelSpacing] == pytest.approx([1, 1])  # mm
        assert float(dss[0].SpacingBetweenSlices) == pytest.approx(2)

    def test_nifti_4d_needs_a_volume_number(self, tmp_path):
        src = tmp_path / "v.nii"
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.int16), np.eye(4)), str(src))
        with pytest.raises(InputError, match=r"holds 2 volumes.*--volume 0\.\.1"):
            S.open_volume(src)
        with pytest.raises(UsageError, match="holds 2 volume"):
            S.open_volume(src, volume_index=2)
        with pytest.raises(UsageError, match="only NIfTI"):
            S.open_volume(tmp_path / "x.npy", volume_index=0)

    @pytest.mark.parametrize("extra", [(3,), (2, 2)])
    def test_nifti_4d_one_volume_becomes_the_series(self, tmp_path, extra):
        """--volume N picks the N-th 3-D volume (C order over dimensions 4+),
        with the file's geometry; names and {stem} say which volume."""
        rng = np.random.default_rng(2)
        data = rng.integers(-500, 500, (5, 4, 3, *extra), dtype=np.int16)  # NIfTI x, y, z, ...
        ras = np.diag([0.5, 0.75, 3.0, 1.0])
        src = tmp_path / "bold.nii.gz"
        nib.save(nib.Nifti1Image(data, ras), str(src))
        n = int(np.prod(extra))
        index = n - 1
        result = S.write_series(src, MR, tmp_path / "out", volume_index=index)
        assert [Path(p).name for p in result.outputs] == [f"bold_v{index:04d}_{k:04d}.dcm"
                                                          for k in range(1, 4)]
        want = data.reshape(5, 4, 3, n)[..., index].transpose(2, 1, 0)  # slice, row, column
        assert np.array_equal(_stack(tmp_path / "out"), want)
        dss = _read_all(tmp_path / "out")
        assert [float(v) for v in dss[0].PixelSpacing] == [0.75, 0.5]
        assert result.input.endswith(f"[volume {index}]")  # in the report too

    def test_cli_volume_option(self, tmp_path, capsys):
        src = tmp_path / "t.nii"
        nib.save(nib.Nifti1Image(np.arange(2 * 3 * 2 * 4, dtype=np.int16).reshape(2, 3, 2, 4),
                                 np.eye(4)), str(src))
        assert main(["series", str(src), "--template", str(CT), "--out", str(tmp_path / "o"),
                     "--volume", "1"]) == 0
        assert len(list((tmp_path / "o").glob("t_v0001_*.dcm"))) == 2
        assert main(["series", str(src), "--template", str(CT), "--out", str(tmp_path / "p")]) == 1
        assert "--volume 0..3" in capsys.readouterr().err
        with pytest.raises(SystemExit) as exc:
            main(["series", str(src), "--template", str(CT), "--out", str(tmp_path / "q"),
                  "--volume", "-1"])
        assert exc.value.code == 2

    def test_bad_files(self, tmp_path):
        (tmp_path / "x.npy").write_bytes(b"not numpy")
        with pytest.raises(InputError, match="not a readable .npy"):
            S.open_volume(tmp_path / "x.npy")
        (tmp_path / "x.nii").write_bytes(b"not nifti")
        with pytest.raises(InputError, match="not a readable NIfTI"):
            S.open_volume(tmp_path / "x.nii")
        with pytest.raises(UsageError, match="unknown volume type"):
            (tmp_path / "x.raw").write_bytes(b"")
            S.open_volume(tmp_path / "x.raw")
        with pytest.raises(InputError, match="no such file"):
            S.open_volume(tmp_path / "missing.npy")

    def test_bad_shapes(self):
        with pytest.raises(PixelDataError, match="not \\(slices, rows, columns\\)"):
            S.Volume.from_array(np.zeros((2, 2, 2, 2)))


# =========================================================================== CLI

@pytest.fixture
def npy(tmp_path) -> Path:
    src = tmp_path / "vol.npy"
    np.save(src, np.random.default_rng(0).random(SHAPE).astype(np.float32))
    return src


class TestCli:
    def test_ok_with_report(self, npy, tmp_path, capsys):
        out, report = tmp_path / "out", tmp_path / "r.json"
        rc = main(["series", str(npy), "--template", str(MR), "--out", str(out),
                   "--spacing", "2,1,1", "--origin", "-1.5,-2,-3",
                   "--orientation", "1,0,0,0,1,0", "--report", str(report)])
        assert rc == 0
        entry = json.loads(report.read_text())[0]
        assert entry["status"] == "ok" and entry["slices"] == SHAPE[0]
        assert entry["sop_class"] == "MR Image Storage"
        assert entry["geometry"]["origin"] == [-1.5, -2, -3]
        assert entry["encoding"]["rescaled"] is True
        assert [Path(p).name for p in entry["outputs"]] == [f"vol_{k:04d}.dcm" for k in range(1, 7)]
        assert sorted(p.name for p in out.iterdir()) == [f"vol_{k:04d}.dcm" for k in range(1, 7)]

    @pytest.mark.parametrize("extra", [
        ["--spacing", "1,2"], ["--spacing", "1,0,1"], ["--origin", "a,b,c"],
        ["--orientation", "1,0,0,1,0,0"], ["--orientation", "1,0,0,0,2,0"],
        ["--key", "x"], ["--transfer-syntax", "jpeg-lossy"],
    ])
    def test_malformed_options_exit_2_nothing_written(self, npy, tmp_path, capsys, extra):
        out, report = tmp_path / "out", tmp_path / "r.json"
        rc = main(["series", str(npy), "--template", str(MR), "--out", str(out),
                   "--report", str(report), *extra]) if extra[0] != "--transfer-syntax" else None
        if rc is None:
            with pytest.raises(SystemExit) as exc:
                main(["series", str(npy), "--template", str(MR), "--out", str(out), *extra])
            rc = exc.value.code
        assert rc == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert not out.exists() and not report.exists()

    def test_error_is_one_line(self, npy, tmp_path, capsys):
        rc = main(["series", str(npy), "--template", str(MR), "--out", str(tmp_path / "o"),
                   "--orientation", "1,0,0,1,0,0"])
        assert rc == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dicom-rewrite: error: --orientation")

    def test_nan_exit_1_nothing_written(self, tmp_path, capsys):
        src = tmp_path / "nan.npy"
        vol = np.zeros(SHAPE, np.float64)
        vol[1, 1, 1] = np.nan
        np.save(src, vol)
        out, report = tmp_path / "out", tmp_path / "r.json"
        rc = main(["series", str(src), "--template", str(CT), "--out", str(out),
                   "--report", str(report)])
        assert rc == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "1 NaN value(s)" in err[0]
        assert not out.exists()
        assert json.loads(report.read_text())[0]["status"] == "error"

    def test_template_without_image_plane_exit_2(self, npy, tmp_path, capsys):
        rc = main(["series", str(npy), "--template", str(SC), "--out", str(tmp_path / "o")])
        assert rc == 2
        assert "Image Plane module" in capsys.readouterr().err
        assert not (tmp_path / "o").exists()

    def test_missing_volume_exit_1(self, tmp_path, capsys):
        rc = main(["series", str(tmp_path / "nope.npy"), "--template", str(CT),
                   "--out", str(tmp_path / "o")])
        assert rc == 1
        assert "no such file" in capsys.readouterr().err

    def test_negative_origin_without_equals(self, npy, tmp_path):
        rc = main(["series", str(npy), "--template", str(MR), "--out", str(tmp_path / "o"),
                   "--origin", "-10,-20.5,-30"])
        assert rc == 0
        ds = _read_all(tmp_path / "o")[0]
        assert [float(v) for v in ds.ImagePositionPatient] == [-10, -20.5, -30]


class TestProfile:
    PROFILE = """\
version: 1
identity: strip
uids:
  key: "series-test-key-0123456789"
  study: hash
  series: hash
  instance: hash
  frame_of_reference: hash
set:
  PatientName: "ANON^{stem}"
  PatientID: "ANON0001"
  SeriesDescription: "Synthetic {stem}"
"""

    def test_profile_applies_and_hash_uids_are_stable(self, npy, tmp_path):
        prof = tmp_path / "p.yaml"
        prof.write_text(self.PROFILE)
        runs = []
        for out in (tmp_path / "a", tmp_path / "b"):
            assert main(["series", str(npy), "--template", str(CT), "--out", str(out),
                         "--profile", str(prof)]) == 0
            runs.append(_read_all(out))
        for dss in runs:
            assert {str(d.PatientName) for d in dss} == {"ANON^vol"}
            assert {d.SeriesDescription for d in dss} == {"Synthetic vol"}
            assert len({d.SeriesInstanceUID for d in dss}) == 1
            assert len({d.FrameOfReferenceUID for d in dss}) == 1
            assert len({d.SOPInstanceUID for d in dss}) == SHAPE[0]
        a, b = runs
        assert [d.SOPInstanceUID for d in a] == [d.SOPInstanceUID for d in b]  # keyed hash
        assert a[0].SeriesInstanceUID == b[0].SeriesInstanceUID

    def test_bad_profile_exit_2_nothing_written(self, npy, tmp_path, capsys):
        prof = tmp_path / "p.yaml"
        prof.write_text("version: 1\nidentity: maybe\n")
        rc = main(["series", str(npy), "--template", str(CT), "--out", str(tmp_path / "o"),
                   "--profile", str(prof)])
        assert rc == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_no_copy_of_the_volume(tmp_path, dtype):
    """Python-side allocations while converting a memory-mapped volume stay
    far below the volume's size (numpy reports to tracemalloc)."""
    import tracemalloc

    shape = (96, 256, 256)  # 12 MB int16, 24 MB float32 (the peak is a few slices)
    src = tmp_path / "big.npy"
    arr = np.lib.format.open_memmap(src, mode="w+", dtype=dtype, shape=shape)
    for k in range(shape[0]):
        arr[k] = (np.arange(shape[1] * shape[2]).reshape(shape[1:]) % 1000) * (1 if dtype == "int16" else 0.01)
    arr.flush()
    del arr
    S.write_series(np.zeros((1, 4, 4), dtype), CT, tmp_path / "warm")  # load IOD tables first
    tracemalloc.start()
    try:
        S.write_series(src, CT, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    volume_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    assert len(list((tmp_path / "out").glob("*.dcm"))) == shape[0]
    assert peak < volume_bytes / 4, f"peak {peak} bytes for a {volume_bytes}-byte volume"
