"""Repairs of template defects (issue 11, convert): each planted in a small
template, converted, and checked for the repair and its note."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from dicom_rewrite import Converter, Template, convert_image
from dicom_rewrite.errors import TemplateError
from dicom_rewrite.io.images import from_array
from dicom_rewrite.profile import DEFAULT_PROFILE
from tests.interop import assert_dciodvfy_clean

ROOT = Path(__file__).resolve().parent.parent
CR = ROOT / "templates" / "cr.dcm"
CT = ROOT / "templates" / "ct.dcm"
GRAY = (np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32)


def _tpl(path: Path) -> Dataset:
    return pydicom.dcmread(path)


def _convert(ds: Dataset, arr: np.ndarray = GRAY, keep: tuple[str, ...] = ()):
    """``keep``: template facts the profile keeps (anatomy is not lent by default)."""
    profile = DEFAULT_PROFILE
    if keep:
        profile = dataclasses.replace(profile, keep_tags=frozenset(int(Tag(kw)) for kw in keep))
    out = Converter(Template.from_dataset(ds), profile).convert(from_array(arr))
    return out.dataset, out.notes


def _headerless(path: Path) -> bytes:
    """templates/ct.dcm without preamble and file meta (implicit VR LE)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    ds = _tpl(CT)
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, True
    write_dataset(buf, ds)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def _save(ds: Dataset, tmp_path: Path) -> Path:
    path = tmp_path / "out.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


# --- 1. reading templates ------------------------------------------------------

def test_headerless_template_is_accepted(tmp_path):
    ds = _tpl(CT)
    path = tmp_path / "raw.dcm"
    raw = _headerless(path)
    assert raw[128:132] != b"DICM"
    tpl = Template.load(path)
    assert tpl.sop_class == ds.SOPClassUID
    # a stray leading byte (pydicom's no_meta.dcm) is skipped too
    (tmp_path / "stray.dcm").write_bytes(b" " + raw)
    assert Template.load(tmp_path / "stray.dcm").sop_class == ds.SOPClassUID


def test_headerless_without_sop_class_is_refused(tmp_path):
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100")
    with pytest.raises(TemplateError, match="junk.dcm"):
        Template.load(path)


def test_pydicom_errors_become_template_errors(tmp_path):
    raw = CT.read_bytes()
    at = raw.index(b"\x10\x00\x10\x00")  # (0010,0010) Patient's Name
    path = tmp_path / "stray.dcm"
    # a stray (FFFE,E000) item in the data set: NotImplementedError in pydicom
    path.write_bytes(raw[:at] + b"\xfe\xff\x00\xe0\x04\x00\x00\x00abcd" + raw[at:])
    with pytest.raises(TemplateError) as exc:
        Template.load(path)
    assert "\n" not in str(exc.value) and "stray.dcm" in str(exc.value)


def test_deep_nesting_is_refused():
    ds = _tpl(CT)
    item = ds
    for _ in range(20):
        child = Dataset()
        child.CodeMeaning = "x"
        item.ContentSequence = Sequence([child])
        item = child
    with pytest.raises(TemplateError, match="nest"):
        Template.from_dataset(ds)


# --- 2. Laterality ---------------------------------------------------------------

_ANATOMY = ("BodyPartExamined", "Laterality", "ImageLaterality")


@pytest.mark.parametrize("body_part,image_laterality", [("CSPINE", None), ("HAND", "L")])
def test_laterality_removed_when_not_required(tmp_path, body_part, image_laterality):
    ds = _tpl(CR)
    ds.BodyPartExamined = body_part
    ds.Laterality = ""
    if image_laterality:
        ds.ImageLaterality = image_laterality
    out, notes = _convert(ds, keep=_ANATOMY)
    assert "Laterality" not in out
    assert any("Laterality (0020,0060) removed" in n for n in notes)
    assert_dciodvfy_clean(_save(out, tmp_path))


def test_laterality_kept_for_paired_body_part():
    ds = _tpl(CR)
    ds.BodyPartExamined = "HAND"
    ds.Laterality = "R"
    out, notes = _convert(ds, keep=_ANATOMY)
    assert out.Laterality == "R"
    assert not any("Laterality" in n for n in notes)


def test_convert_image_accepts_headerless(tmp_path):
    path = tmp_path / "raw.dcm"
    _headerless(path)
    assert convert_image(GRAY, path).Modality == "CT"


# --- 3-5. references, invalid values, code items ---------------------------------

def test_referenced_series_dropped_and_nested_uids_remapped(tmp_path):
    ds = _tpl(CT)
    ref = Dataset()
    ref.SeriesInstanceUID = "1.2.3.4.5.6.7.8.9.10.11"
    ref.StudyInstanceUID = "1.2.3.4.5.6.7.8.9.10.12"
    ds.ReferencedSeriesSequence = Sequence([ref])
    other = Dataset()
    other.StudyInstanceUID = "1.2.3.4.5.6.7.8.9.10.13"
    ds.RequestAttributesSequence = Sequence([other])
    out, notes = _convert(ds)
    assert "ReferencedSeriesSequence" not in out
    assert any("ReferencedSeriesSequence removed" in n for n in notes)
    path = _save(out, tmp_path)
    assert b"1.2.3.4.5.6.7.8.9.10.1" not in path.read_bytes()
    assert_dciodvfy_clean(path)


def test_invalid_cs_value_dropped():
    ds = _tpl(CT)
    ds.BodyPartExamined = "JPEG 2000 Compressed Image"
    out, notes = _convert(ds)
    assert "BodyPartExamined" not in out
    assert any("BodyPartExamined" in n and "CS" in n for n in notes)


@pytest.mark.parametrize("value,expected", [("ISO-IR 100", "ISO_IR 100"), ("", None)])
def test_character_set_term_repaired(value, expected):
    ds = _tpl(CT)
    ds.SpecificCharacterSet = value
    out, notes = _convert(ds)
    assert out.get("SpecificCharacterSet") == expected
    assert any("Specific Character Set" in n for n in notes)


def test_multivalued_character_set_keeps_working():
    ds = _tpl(CT)
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎"
    out = convert_image(GRAY, ds)
    assert out.SpecificCharacterSet


@pytest.mark.parametrize("kw", ["PixelSpacing", "ImagerPixelSpacing"])
def test_non_positive_spacing_removed(kw):
    ds = _tpl(CR)
    setattr(ds, kw, [0, -1])
    out, notes = _convert(ds)
    assert kw not in out or all(float(v) > 0 for v in out[kw].value)
    assert any(kw in n and "not positive" in n for n in notes)


def test_incomplete_code_items_dropped(tmp_path):
    ds = _tpl(CT)
    bad = Dataset()
    bad.CodeValue = "2501"
    good = Dataset()
    good.CodeValue, good.CodingSchemeDesignator, good.CodeMeaning = "T-D3000", "SRT", "Chest"
    good.CodingSchemeVersion = ""
    good.ContextIdentifier = "4031"
    ds.PerformedProtocolCodeSequence = Sequence([bad])
    ds.AnatomicRegionSequence = Sequence([good])
    out, notes = _convert(ds, keep=("AnatomicRegionSequence", "BodyPartExamined"))
    assert "PerformedProtocolCodeSequence" not in out
    item = out.AnatomicRegionSequence[0]
    assert "ContextIdentifier" not in item and "CodingSchemeVersion" not in item
    assert any("PerformedProtocolCodeSequence" in n for n in notes)
    assert_dciodvfy_clean(_save(out, tmp_path))


# --- kept modules keep their required attributes; anatomy stays consistent ----

def test_a_kept_specimen_module_gets_dummy_identifiers(tmp_path):
    ds = _tpl(CT)
    item = Dataset()
    item.SpecimenIdentifier = "PATHO-REAL-ID-77"
    item.SpecimenUID = "1.2.3.4.5.6.7"
    ds.SpecimenDescriptionSequence = Sequence([item])
    ds.ContainerIdentifier = "SLIDE-REAL-ID-99"
    out, notes = _convert(ds)
    assert out.ContainerIdentifier == "CONTAINER1"  # the identity strip removed the real one
    assert out.SpecimenDescriptionSequence[0].SpecimenIdentifier == "SPECIMEN1"
    assert "SpecimenPreparationSequence" in out.SpecimenDescriptionSequence[0]
    assert any("Container Identifier" in n for n in notes)
    assert "SLIDE-REAL-ID-99" not in str(out) and "PATHO-REAL-ID-77" not in str(out)


def test_an_empty_anatomic_region_with_a_body_part_is_made_consistent(tmp_path):
    ds = _tpl(CR)
    ds.BodyPartExamined = "CHEST"
    ds.AnatomicRegionSequence = Sequence([])
    out, notes = _convert(ds)
    assert not out.get("BodyPartExamined")  # absent, or empty where the IOD makes it Type 2
    assert not out.get("AnatomicRegionSequence")
    assert any("Body Part Examined removed" in n for n in notes)
    assert_dciodvfy_clean(_save(out, tmp_path))


# --- second corpus classes (vendor MR headers) ---------------------------------

MR = ROOT / "templates" / "mr.dcm"


def test_a_type3_attribute_breaking_its_multiplicity_is_removed(tmp_path):
    ds = _tpl(MR)
    ds.SpatialResolution = [0.5, 0.5]  # PS3.6: VM 1 (a vendor writes two)
    ds.AcquisitionMatrix = list(range(13))  # PS3.6: VM 4
    out, notes = _convert(ds)
    assert "SpatialResolution" not in out and "AcquisitionMatrix" not in out
    assert any("SpatialResolution removed" in n and "PS3.5 6.4" in n for n in notes)
    assert_dciodvfy_clean(_save(out, tmp_path))


def test_a_valid_multiplicity_is_kept():
    ds = _tpl(MR)
    ds.AcquisitionMatrix = [0, 64, 64, 0]
    out, notes = _convert(ds)
    assert not any("AcquisitionMatrix removed" in n for n in notes)


@pytest.mark.parametrize("options,kept", [("", False), (["PFP", "CG"], True)])
def test_trigger_time_only_for_a_gated_mr(tmp_path, options, kept):
    ds = _tpl(MR)
    ds.TriggerTime = 125
    ds.ScanOptions = options
    out, notes = _convert(ds)
    assert ("TriggerTime" in out) is kept
    assert any("TriggerTime removed" in n for n in notes) is not kept


def test_mr_image_type_gets_its_required_third_value(tmp_path):
    ds = _tpl(MR)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    out, _notes = _convert(ds)
    assert list(out.ImageType) == ["DERIVED", "SECONDARY", "OTHER"]  # PS3.3 C.8.3.1.1.1
    assert_dciodvfy_clean(_save(out, tmp_path))


def test_mr_template_without_its_type1_acquisition_facts_gives_secondary_capture(tmp_path):
    """Scanning Sequence and Sequence Variant are Type 1 in the MR Image
    Module and no value of them is true of a PNG: such a template lends its
    dialect to a Secondary Capture (PS3.3 C.8.3.1), with the reason noted."""
    ds = _tpl(MR)
    del ds.ScanningSequence, ds.SequenceVariant
    out, notes = _convert(ds)
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert any("lacks ScanningSequence and SequenceVariant" in n for n in notes), notes
    assert out.Manufacturer == ds.Manufacturer  # the dialect still comes along
    assert_dciodvfy_clean(_save(out, tmp_path))


def test_a_complete_mr_template_stays_mr():
    out, _notes = _convert(_tpl(MR))
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
