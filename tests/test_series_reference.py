"""``series --reference``: a model's volume put back on its source series.

The sources are numbered top-down (``IM0001`` the highest slice, as many
scanners do) and bottom-up; the volumes are computed as an AI team would,
from SimpleITK's array of the source or as a NIfTI made by nibabel (also
flipped and permuted), and SimpleITK must read the output on the source's
exact voxels."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from dicom_rewrite.cli import main
from dicom_rewrite.errors import InputError, ProfileError, UsageError
from dicom_rewrite.series import load_reference, write_derived_series
from tests.conftest import REPO, TEMPLATES
from tests.interop import assert_dciodvfy_clean, require_module
from tests.source_series import LESION, LESION_HU, ORIGIN, SHAPE, SPACING, make_source, source_volume

#: LPS <-> RAS: flip x and y
RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    return {"top-down": (root / "td", make_source(root / "td", top_down=True)),
            "bottom-up": (root / "bu", make_source(root / "bu", top_down=False))}


def _read(sitk, folder: Path):
    reader = sitk.ImageSeriesReader()
    ids = reader.GetGDCMSeriesIDs(str(folder))
    assert len(ids) == 1, ids
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), ids[0]))
    return reader.Execute()


def _assert_on_source(sitk, out: Path, src: Path, expected: np.ndarray) -> None:
    a, b = _read(sitk, src), _read(sitk, out)
    assert b.GetOrigin() == a.GetOrigin()
    assert b.GetSpacing() == a.GetSpacing()
    assert b.GetDirection() == a.GetDirection()
    got = sitk.GetArrayFromImage(b)
    assert np.array_equal(got, expected)
    # the non-zero voxels sit on the lesion of the source
    assert np.all(sitk.GetArrayFromImage(a)[got > 0] > LESION_HU)
    assert np.count_nonzero(got) == source_volume()[LESION].size


def _nifti_affine(src: Path) -> np.ndarray:
    """The RAS affine of the source series, from its headers (nibabel's (i, j, k) = column, row, slice)."""
    slices = [pydicom.dcmread(p) for p in src.glob("*.dcm")]
    iop = np.array(slices[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, float))))
    ps = [float(v) for v in slices[0].PixelSpacing]
    p0, p1 = (np.array(d.ImagePositionPatient, float) for d in slices[:2])
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = iop[:3] * ps[1], iop[3:] * ps[0], p1 - p0, p0
    return RAS @ lps


@pytest.mark.interop
@pytest.mark.parametrize("order", ["top-down", "bottom-up"])
def test_mask_from_simpleitks_array_lands_on_the_source(sources, order, tmp_path):
    sitk = require_module("SimpleITK")
    src, _files = sources[order]
    mask = (sitk.GetArrayFromImage(_read(sitk, src)) > LESION_HU).astype(np.uint8)
    np.save(tmp_path / "mask.npy", mask)
    assert main(["series", str(tmp_path / "mask.npy"), "--reference", str(src),
                 "--out", str(tmp_path / "out"), "--no-fsync"]) == 0
    _assert_on_source(sitk, tmp_path / "out", src, mask)


@pytest.mark.interop
@pytest.mark.parametrize("how", ["as-is", "flipped", "permuted"])
def test_nifti_made_by_nibabel_lands_on_the_source(sources, how, tmp_path):
    sitk = require_module("SimpleITK")
    src, _files = sources["top-down"]
    mask = (sitk.GetArrayFromImage(_read(sitk, src)) > LESION_HU).astype(np.uint8)
    data, affine = mask.transpose(2, 1, 0), _nifti_affine(src)  # (i, j, k) = column, row, slice
    n = data.shape
    if how == "flipped":  # i and k reversed: radiological, stored top-down
        data = data[::-1, :, ::-1]
        affine = affine @ np.array([[-1, 0, 0, n[0] - 1], [0, 1, 0, 0], [0, 0, -1, n[2] - 1], [0, 0, 0, 1]])
    elif how == "permuted":  # i and j swapped
        data = data.transpose(1, 0, 2)
        affine = affine @ np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), tmp_path / "mask.nii.gz")
    result = write_derived_series(tmp_path / "mask.nii.gz", src, tmp_path / "out", durable=False)
    assert any("reoriented" in n for n in result.notes) == (how != "as-is")
    _assert_on_source(sitk, tmp_path / "out", src, mask)


def test_derived_slices_reference_their_sources(sources, tmp_path):
    src, files = sources["top-down"]
    vol = source_volume()
    report = tmp_path / "r.json"
    assert main(["series", str(_save(tmp_path, (vol > LESION_HU).astype(np.uint8))), "--reference", str(src),
                 "--out", str(tmp_path / "out"), "--no-fsync", "--report", str(report)]) == 0
    by_uid = {str(pydicom.dcmread(f).SOPInstanceUID): pydicom.dcmread(f) for f in files}
    outputs = [pydicom.dcmread(p) for p in sorted((tmp_path / "out").glob("*.dcm"))]
    assert len(outputs) == len(files)
    series = {str(ds.SeriesInstanceUID) for ds in outputs}
    first = next(iter(by_uid.values()))
    assert len(series) == 1 and series != {str(first.SeriesInstanceUID)}
    for ds in outputs:
        ref = ds.SourceImageSequence[0]
        s = by_uid[str(ref.ReferencedSOPInstanceUID)]
        assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == s.SOPInstanceUID
        assert ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue == "121338"
        for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
                   "SliceLocation", "InstanceNumber", "StudyInstanceUID", "FrameOfReferenceUID",
                   "PatientName", "PatientID"):
            assert ds[kw].value == s[kw].value, kw
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert ds.SOPInstanceUID != s.SOPInstanceUID
        z = float(ds.ImagePositionPatient[2])
        k = round((z - ORIGIN[2]) / SPACING[0])  # the slice this one lies on
        assert np.array_equal(ds.pixel_array, (vol[k] > LESION_HU).astype(np.uint16))
    entry = json.loads(report.read_text())[0]
    assert entry["reference_series_uid"] == str(first.SeriesInstanceUID)
    assert_dciodvfy_clean(sorted((tmp_path / "out").glob("*.dcm"))[0])


def _save(folder: Path, arr: np.ndarray, name: str = "vol.npy") -> Path:
    np.save(folder / name, arr)
    return folder / name


def test_template_lends_its_dialect_and_the_source_its_identity(sources, tmp_path):
    src, files = sources["bottom-up"]
    mr = pydicom.dcmread(TEMPLATES / "mr.dcm")
    write_derived_series(np.zeros(SHAPE, np.uint8), src, tmp_path, template=TEMPLATES / "mr.dcm", durable=False)
    out = pydicom.dcmread(sorted(tmp_path.glob("*.dcm"))[0])
    s = pydicom.dcmread(files[0])
    assert out.SOPClassUID == mr.SOPClassUID and out.Manufacturer == mr.Manufacturer
    assert (out.PatientName, out.PatientID, out.StudyInstanceUID, out.FrameOfReferenceUID) == (
        s.PatientName, s.PatientID, s.StudyInstanceUID, s.FrameOfReferenceUID)
    template_uids = {str(e.value) for e in mr.iterall() if e.VR == "UI"} - {str(mr.SOPClassUID)}
    out_uids = {str(e.value) for e in out.iterall() if e.VR == "UI"}
    assert not template_uids & out_uids


def test_wrong_shape_is_one_line_and_exit_1(sources, tmp_path, capsys):
    src, _ = sources["top-down"]
    vol = _save(tmp_path, np.zeros((SHAPE[0] - 1, *SHAPE[1:]), np.uint8))
    assert main(["series", str(vol), "--reference", str(src), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "shape (7, 32, 32) is not the source series' (slices, rows, columns) (8, 32, 32)" in err
    assert not (tmp_path / "out").exists()


def test_nifti_off_the_grid_is_one_line_with_both_grids(sources, tmp_path, capsys):
    src, _ = sources["top-down"]
    affine = _nifti_affine(src)
    affine[2, 3] += 1.0  # 1 mm along z: 0.4 slice
    nib.save(nib.Nifti1Image(np.zeros((32, 32, 8), np.uint8), affine), tmp_path / "m.nii")
    assert main(["series", str(tmp_path / "m.nii"), "--reference", str(src), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "not the source series' grid" in err and "0.4 voxels off" in err
    assert "NIfTI 32x32x8 voxels" in err and "origin (-10,-20,-49)" in err and "origin (-10,-20,-50)" in err


def test_several_series_are_listed_and_one_is_chosen(tmp_path, capsys):
    make_source(tmp_path / "mixed", top_down=True, series_description="CT AX")
    (tmp_path / "mixed" / "b").mkdir()
    make_source(tmp_path / "mixed" / "b", top_down=False, series_description="CT COR")
    assert main(["series", str(_save(tmp_path, np.zeros(SHAPE, np.uint8))), "--reference",
                 str(tmp_path / "mixed"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds 2 image series; choose one with --series-uid" in err
    assert "'CT AX', 8 image(s)" in err and "'CT COR', 8 image(s)" in err
    uid = str(pydicom.dcmread(tmp_path / "mixed" / "b" / "IM0001.dcm").SeriesInstanceUID)
    assert uid in err
    assert load_reference(tmp_path / "mixed", uid).series_instance_uid == uid
    with pytest.raises(UsageError, match="--series-uid 1.2.3: not in"):
        load_reference(tmp_path / "mixed", "1.2.3")


def test_slices_are_ordered_by_position_not_name(sources):
    src, files = sources["top-down"]
    ref = load_reference(list(reversed(files)))
    z = [float(ds.ImagePositionPatient[2]) for ds in ref.slices]
    assert z == sorted(z) and [int(ds.InstanceNumber) for ds in ref.slices] == list(range(8, 0, -1))
    assert ref.shape == SHAPE and ref.evenly_spaced


def test_geometry_options_conflict_with_reference(sources, tmp_path, capsys):
    src, _ = sources["top-down"]
    vol = _save(tmp_path, np.zeros(SHAPE, np.uint8))
    assert main(["series", str(vol), "--reference", str(src), "--out", str(tmp_path / "o"),
                 "--spacing", "1,1,1"]) == 2
    assert "cannot be given with --reference" in capsys.readouterr().err
    assert main(["series", str(vol), "--out", str(tmp_path / "o")]) == 2
    assert "give --template REF.dcm, or --reference SOURCE" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_annotation_profile_is_refused_naming_the_profile(sources, tmp_path):
    src, _ = sources["top-down"]
    with pytest.raises(ProfileError, match=r"annotation-output.yaml: pixel.sop_class: secondary-capture .*"
                                           "with --reference no profile is needed"):
        write_derived_series(np.zeros(SHAPE, np.uint8), src, tmp_path,
                             REPO / "templates" / "annotation-output.yaml")
    assert not list(tmp_path.iterdir())


def test_nan_volume_is_an_input_error(sources, tmp_path):
    src, _ = sources["top-down"]
    with pytest.raises(InputError, match="NaN"):
        write_derived_series(np.full(SHAPE, np.nan, np.float32), src, tmp_path)


def _doc_blocks(kind: str, heading: str = "### Axis conventions") -> list[str]:
    import re

    text = (REPO / "docs" / "series.md").read_text(encoding="utf-8")
    section = re.split(r"\n##+ ", text.split(heading, 1)[1], maxsplit=1)[0]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.S)


@pytest.mark.interop
def test_the_documented_snippets_give_the_source_order(tmp_path, monkeypatch):
    import shlex

    sitk = require_module("SimpleITK")
    src = tmp_path / "ct_series"
    make_source(src, top_down=True)
    mask = (source_volume() > LESION_HU).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask.transpose(2, 1, 0).copy(), _nifti_affine(src)), tmp_path / "mask.nii.gz")
    monkeypatch.chdir(tmp_path)
    snippets = _doc_blocks("python")
    assert len(snippets) == 3
    for code in snippets:
        exec(compile(code, "docs/series.md", "exec"), {})
    for name in ("sitk", "pydicom", "nibabel"):
        assert np.array_equal(np.load(f"mask_{name}.npy"), mask), name
    (commands,) = _doc_blocks("sh")
    for line in commands.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "dicom-rewrite"
        assert main([*argv[1:], "--no-fsync"]) == 0, line
    for out in ("mask_dcm", "mask_nii_dcm"):
        _assert_on_source(sitk, tmp_path / out, src, mask)


def test_a_dicomdir_names_the_source(tmp_path):
    from pydicom.fileset import FileSet

    files = make_source(tmp_path / "src", top_down=True)
    fs = FileSet()
    for f in files:
        fs.add(f)
    fs.write(tmp_path / "media")
    ref = load_reference(tmp_path / "media" / "DICOMDIR")
    assert ref.shape == SHAPE
    assert ref.series_instance_uid == str(pydicom.dcmread(files[0]).SeriesInstanceUID)


def test_two_slices_at_one_position_are_refused(tmp_path):
    files = make_source(tmp_path / "src", top_down=True)
    ds = pydicom.dcmread(files[0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "src" / "IM0099.dcm")
    with pytest.raises(UsageError, match="lie at the same position"):
        load_reference(tmp_path / "src")


@pytest.mark.interop
def test_oblique_source_and_a_nifti_simpleitk_reoriented(tmp_path):
    """An oblique source numbered top-down; SimpleITK's NIfTI of a mask,
    reoriented to SAR (every axis permuted, some reversed), lands back on it."""
    sitk = require_module("SimpleITK")
    files = make_source(tmp_path / "src", top_down=True)
    a = np.radians(20)
    row = np.array([np.cos(a), np.sin(a), 0.0])
    col = np.array([0.0, np.cos(0.3), np.sin(0.3)])
    col -= np.dot(col, row) * row
    col /= np.linalg.norm(col)
    normal = np.cross(row, col)
    for f in files:  # tilt the series: same slices, oblique planes
        ds = pydicom.dcmread(f)
        k = round((float(ds.ImagePositionPatient[2]) - ORIGIN[2]) / SPACING[0])
        ds.ImageOrientationPatient = [float(v) for v in (*row, *col)]
        ds.ImagePositionPatient = [float(v) for v in np.array(ORIGIN) + k * SPACING[0] * normal]
        ds.save_as(f)
    mask = sitk.Cast(_read(sitk, tmp_path / "src") > LESION_HU, sitk.sitkUInt8)
    sitk.WriteImage(sitk.DICOMOrient(mask, "SAR"), str(tmp_path / "mask.nii.gz"))
    result = write_derived_series(tmp_path / "mask.nii.gz", tmp_path / "src", tmp_path / "out", durable=False)
    assert any("reoriented" in n for n in result.notes)
    src, out = _read(sitk, tmp_path / "src"), _read(sitk, tmp_path / "out")
    assert np.allclose(out.GetOrigin(), src.GetOrigin(), atol=1e-4)
    assert np.allclose(out.GetDirection(), src.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(mask))
    assert np.count_nonzero(sitk.GetArrayFromImage(out)) == source_volume()[LESION].size


@pytest.mark.interop
def test_a_segmentation_beside_the_source_is_not_a_candidate(tmp_path):
    from dicom_rewrite.series import write_segmentation

    files = make_source(tmp_path / "study" / "ct", top_down=False)
    write_segmentation((source_volume() > LESION_HU).astype(np.uint8), tmp_path / "study" / "ct",
                       tmp_path / "study" / "seg", durable=False)
    ref = load_reference(tmp_path / "study")  # the CT series, the SEG left aside
    assert ref.series_instance_uid == str(pydicom.dcmread(files[0]).SeriesInstanceUID)
    with pytest.raises(UsageError, match="no series of slices with Image Position"):
        load_reference(tmp_path / "study" / "seg")
