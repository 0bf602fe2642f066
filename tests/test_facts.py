"""A template lends its dialect, never the facts of its own pixel matrix
(issue 13): spacing, geometry and calibration stay only on pixels with the
template's rows and columns, or when the profile keeps or sets them."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from dicom_rewrite import convert_files, convert_image
from dicom_rewrite.engine.facts import MATRIX_FACTS
from tests.conftest import REPO
from tests.interop import assert_dciodvfy_clean

DX, CR, CT = (REPO / "templates" / f"{n}.dcm" for n in ("dx", "cr", "ct"))


def _template_shape(path):
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return int(ds.Rows), int(ds.Columns), ds


def test_every_matrix_fact_is_a_dictionary_keyword():
    assert all(pydicom.datadict.tag_for_keyword(kw) for kw in MATRIX_FACTS)


@pytest.mark.parametrize("template", [DX, CR, CT], ids=lambda p: p.name)
def test_a_different_matrix_gets_no_spacing_from_the_template(template, tmp_path):
    rows, cols, tpl = _template_shape(template)
    chest = np.zeros((rows * 2 + 7, cols * 2), np.uint8)
    ds = convert_image(chest, template)
    for kw in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing", "ImagePositionPatient"):
        if kw in tpl and kw in ds:
            # only the IOD's neutral placeholder may stand there, never the template's value
            assert list(ds[kw].value) != list(tpl[kw].value) or list(tpl[kw].value) in ([1, 1], [0, 0, 0]), kw
    out = tmp_path / "o.dcm"
    ds.save_as(out, enforce_file_format=True)
    assert_dciodvfy_clean(out)


def test_the_report_says_what_was_not_kept(tmp_path):
    img = tmp_path / "chest.png"
    from PIL import Image

    Image.fromarray(np.zeros((300, 256), np.uint8)).save(img)
    (entry,) = convert_files([img], DX, tmp_path / "out")
    notes = " ".join(entry["notes"])
    assert "not kept" in notes and "ImagerPixelSpacing" in notes
    assert "not known for these pixels" in notes  # the DX IOD's Type 1 placeholder is named as such


def test_the_templates_own_matrix_keeps_its_facts_exactly():
    rows, cols, tpl = _template_shape(DX)
    ds = convert_image(np.zeros((rows, cols), np.uint8), DX)
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        assert list(ds[kw].value) == list(tpl[kw].value)


def test_the_profile_keeps_or_sets_them(tmp_path):
    keep, put = tmp_path / "keep.yaml", tmp_path / "set.yaml"
    keep.write_text("keep: [ImagerPixelSpacing]\n")
    put.write_text('set:\n  ImagerPixelSpacing: "0.143\\\\0.143"\n')
    rows, cols, tpl = _template_shape(DX)
    arr = np.zeros((rows + 10, cols), np.uint8)
    assert list(convert_image(arr, DX, keep).ImagerPixelSpacing) == list(tpl.ImagerPixelSpacing)
    assert list(convert_image(arr, DX, put).ImagerPixelSpacing) == [0.143, 0.143]


def test_gray_rgba_stays_in_the_templates_class_unless_colour_is_kept(tmp_path):
    from PIL import Image

    from dicom_rewrite.cli import main

    g = (np.arange(40 * 50) % 256).astype(np.uint8).reshape(40, 50)
    Image.fromarray(np.dstack([g, g, g, np.full_like(g, 255)]), "RGBA").save(tmp_path / "gray.png")
    (entry,) = convert_files([tmp_path / "gray.png"], DX, tmp_path / "out")
    ds = pydicom.dcmread(entry["outputs"][0])
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.Modality == "DX"
    assert "sop_class_switched_from" not in entry
    assert np.array_equal(ds.pixel_array, g)
    assert any("equal channels" in n for n in entry["notes"])
    assert_dciodvfy_clean(entry["outputs"][0])
    code = main(["convert", str(tmp_path / "gray.png"), "--template", str(DX), "--out", str(tmp_path / "kept"),
                 "--keep-color"])
    kept = pydicom.dcmread(next((tmp_path / "kept").glob("*.dcm")))
    assert code == 0 and kept.PhotometricInterpretation == "RGB"


@pytest.mark.parametrize("mode,expect", [
    ("keep", "template"), ("drop", None), ('"0.143\\\\0.143"', [0.143, 0.143]), ("auto", "placeholder"),
])
def test_pixel_spacing_in_the_profile(tmp_path, mode, expect):
    rows, cols, tpl = _template_shape(DX)
    profile = tmp_path / "p.yaml"
    profile.write_text(f"pixel:\n  spacing: {mode}\n")
    ds = convert_image(np.zeros((rows + 9, cols), np.uint8), DX, profile)
    got = list(ds.ImagerPixelSpacing)  # Type 1 in DX: always there
    if expect == "template":
        assert got == list(tpl.ImagerPixelSpacing)
    elif expect is None or expect == "placeholder":
        assert got == [1, 1] and "PixelSpacing" not in ds
    else:
        assert got == expect and list(ds.PixelSpacing) == expect
    out = tmp_path / "o.dcm"
    ds.save_as(out, enforce_file_format=True)
    assert_dciodvfy_clean(out)


def test_drop_removes_the_facts_even_for_the_templates_own_matrix():
    rows, cols, tpl = _template_shape(CT)
    assert list(tpl.PixelSpacing) != [1, 1]
    ds = convert_image(np.zeros((rows, cols), np.int16), CT, _profile_text("pixel:\n  spacing: drop\n"))
    assert list(ds.PixelSpacing) == [1, 1]  # CT's Type 1 placeholder, not the template's value


def _profile_text(text):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "p.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("bad", ["1.5", "0\\\\1", "-1\\\\1", "a\\\\b", "1\\\\2\\\\3"])
def test_a_bad_spacing_is_a_profile_error(tmp_path, bad):
    from dicom_rewrite.errors import ProfileError
    from dicom_rewrite.profile import load_profile

    path = tmp_path / "p.yaml"
    path.write_text(f'pixel:\n  spacing: "{bad}"\n')
    with pytest.raises(ProfileError, match="pixel.spacing"):
        load_profile(path)


def test_a_png_holding_hu_plus_1024_becomes_a_correct_ct(tmp_path):
    from PIL import Image
    from pydicom.pixels import apply_modality_lut

    a = np.full((64, 64), 24, np.uint16)
    a[20:40, 20:40] = 1064
    Image.fromarray(a).save(tmp_path / "hu.png")
    profile = tmp_path / "p.yaml"
    profile.write_text('pixel:\n  rescale: "1\\\\-1024"\n')
    (entry,) = convert_files([tmp_path / "hu.png"], CT, tmp_path / "out", profile)
    ds = pydicom.dcmread(entry["outputs"][0])
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert hu[0, 0] == -1000 and hu[30, 30] == 40  # air and soft tissue
    assert np.array_equal(ds.pixel_array, a)  # stored values unchanged
    assert_dciodvfy_clean(entry["outputs"][0])


@pytest.mark.parametrize("bad", ["1", "0\\\\-1024", "x\\\\1", "1\\\\2\\\\3"])
def test_a_bad_rescale_is_a_profile_error(tmp_path, bad):
    from dicom_rewrite.errors import ProfileError
    from dicom_rewrite.profile import load_profile

    path = tmp_path / "p.yaml"
    path.write_text(f'pixel:\n  rescale: "{bad}"\n')
    with pytest.raises(ProfileError, match="pixel.rescale"):
        load_profile(path)


# --- anatomy, view and acquisition facts (issue 13, second part) ----------------

def _png(tmp_path, shape=(120, 100), name="chest.png"):
    from PIL import Image

    path = tmp_path / name
    Image.fromarray((np.arange(shape[0] * shape[1]) % 251).astype(np.uint8).reshape(shape)).save(path)
    return path


def test_every_template_fact_is_a_dictionary_keyword():
    from dicom_rewrite.engine.facts import ACQUISITION_FACTS, ANATOMY_FACTS

    assert all(pydicom.datadict.tag_for_keyword(kw) for kw in ANATOMY_FACTS + ACQUISITION_FACTS)
    assert not set(ANATOMY_FACTS) & set(ACQUISITION_FACTS) and not set(MATRIX_FACTS) & set(ANATOMY_FACTS)


def test_the_chest_gets_no_anatomy_view_or_exposure_of_the_knee(tmp_path):
    (entry,) = convert_files([_png(tmp_path)], DX, tmp_path / "out")
    ds = pydicom.dcmread(entry["outputs"][0])
    tpl = pydicom.dcmread(DX, stop_before_pixels=True)
    assert tpl.BodyPartExamined == "KNEE" and tpl.ImageLaterality == "L" and "KVP" in tpl
    for kw in ("BodyPartExamined", "ViewPosition", "KVP", "XRayTubeCurrent", "Exposure",
               "DistanceSourceToDetector", "ImageAndFluoroscopyAreaDoseProduct", "ExposureIndex"):
        assert kw not in ds, kw
    assert ds.ImageLaterality == "U"  # Type 1 in DX (PS3.3 C.8.11.2): the value that names no side
    assert len(ds.AnatomicRegionSequence) == 0  # Type 2 in DX: empty, "unknown"
    notes = " ".join(entry["notes"])
    assert "anatomy and view not kept" in notes and "acquisition not kept" in notes
    # Patient Orientation is Type 1C in DX with no value that claims nothing: kept, and said so
    kept = {k["keyword"]: k for k in entry["kept_facts"]}
    assert list(ds.PatientOrientation) == list(tpl.PatientOrientation)
    assert kept["PatientOrientation"]["class"] == "anatomy" and "Type 1C" in kept["PatientOrientation"]["why"]
    assert "BodyPartExamined" not in kept and "ImagerPixelSpacing" not in kept
    assert_dciodvfy_clean(entry["outputs"][0])


def test_a_body_part_from_the_profile_brings_its_own_anatomic_region(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("keep: [AnatomicRegionSequence]\nset:\n  BodyPartExamined: CHEST\n")
    (entry,) = convert_files([_png(tmp_path)], DX, tmp_path / "out", profile)
    ds = pydicom.dcmread(entry["outputs"][0])
    (item,) = ds.AnatomicRegionSequence  # never "Knee" beside CHEST
    assert (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) == ("816094009", "SCT", "Chest")
    assert ds.BodyPartExamined == "CHEST"
    assert "AnatomicRegionSequence" not in {k["keyword"] for k in entry["kept_facts"]}
    assert_dciodvfy_clean(entry["outputs"][0])
    profile.write_text("set:\n  BodyPartExamined: NOSUCHPART\n")
    (entry,) = convert_files([_png(tmp_path)], DX, tmp_path / "out2", profile)
    assert len(pydicom.dcmread(entry["outputs"][0]).AnatomicRegionSequence) == 0


def test_the_profile_keeps_template_facts_and_the_report_and_dry_run_say_so(tmp_path, capsys):
    from dicom_rewrite.cli import main

    profile = tmp_path / "p.yaml"
    profile.write_text("keep: [BodyPartExamined, KVP, ViewPosition]\n")
    (entry,) = convert_files([_png(tmp_path)], DX, tmp_path / "out", profile)
    ds = pydicom.dcmread(entry["outputs"][0])
    assert (ds.BodyPartExamined, ds.ViewPosition, float(ds.KVP)) == ("KNEE", "AP", 65.0)
    kept = {k["keyword"]: k["why"] for k in entry["kept_facts"]}
    assert kept["BodyPartExamined"] == kept["KVP"] == "kept by the profile (keep)"
    assert main(["convert", str(_png(tmp_path)), "--template", str(DX), "--profile", str(profile),
                 "--out", str(tmp_path / "dry"), "--dry-run"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if "from template" in r]
    assert any("BodyPartExamined" in r and "KNEE" in r for r in rows)
    assert any("PatientOrientation" in r and "Type 1C" in r for r in rows)


def test_mr_technique_type1_kept_type2_emptied(tmp_path):
    mr = REPO / "templates" / "mr.dcm"
    ds = convert_image(np.zeros((40, 30), np.uint16), mr)
    tpl = pydicom.dcmread(mr, stop_before_pixels=True)
    assert ds.ScanningSequence == tpl.ScanningSequence  # Type 1 (PS3.3 C.8.3.1): no neutral value
    for kw in ("EchoTime", "EchoTrainLength", "MRAcquisitionType"):  # Type 2: empty
        assert kw in ds and ds[kw].value in (None, ""), kw
    for kw in ("FlipAngle", "SAR", "ReceiveCoilName", "BodyPartExamined", "SliceThickness"):
        assert not ds.get(kw), kw
    assert ds.MagneticFieldStrength == tpl.MagneticFieldStrength  # the scanner: dialect
    out = tmp_path / "o.dcm"
    ds.save_as(out, enforce_file_format=True)
    assert_dciodvfy_clean(out)


@pytest.mark.parametrize("template", [CT, DX], ids=lambda p: p.name)
def test_secondary_capture_gets_no_invented_geometry(tmp_path, template):
    rgb = np.dstack([np.full((30, 40), v, np.uint8) for v in (10, 120, 250)])
    ds = convert_image(rgb, template)
    assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "FrameOfReferenceUID", "SliceLocation"):
        assert kw not in ds, kw
    out = tmp_path / "o.dcm"
    ds.save_as(out, enforce_file_format=True)
    assert_dciodvfy_clean(out)


def test_annotate_keeps_the_facts_of_its_own_source(tmp_path):
    from dicom_rewrite.annotate import annotate_files
    from dicom_rewrite.annotate.shapes import make_box

    entries = list(annotate_files([DX], tmp_path / "out", boxes=[make_box([5, 5, 40, 40])]))
    ds = pydicom.dcmread(entries[0]["outputs"][0])
    # its pixels are the source's own: anatomy and view still hold (as far as its IOD carries them)
    assert (ds.BodyPartExamined, ds.ImageLaterality) == ("KNEE", "L")
