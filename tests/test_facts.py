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
