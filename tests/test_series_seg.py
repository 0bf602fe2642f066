"""``series --reference ... --as seg``: a label map, mask or probability map
as one DICOM Segmentation (highdicom), checked by dciodvfy, read back by
highdicom and pydicom, and stored by Orthanc in the source study."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from dicom_rewrite.cli import main
from dicom_rewrite.errors import ProfileError
from dicom_rewrite.series import load_segments, write_segmentation
from tests.interop import assert_dciodvfy_clean, require_module
from tests.source_series import LESION, SHAPE, make_source, source_volume
from tests.test_series_reference import _nifti_affine

SEGMENTS = """\
algorithm: {name: lesion-net, version: "2.1"}
segments:
  - label: 1
    name: liver lesion
    category: MorphologicallyAbnormalStructure
    type: Lesion
    color: "#ff0000"
  - label: 7
    name: cyst
    category: [SCT, "49755003", Morphologically Abnormal Structure]
    type: {scheme: SCT, value: "367643001", meaning: Cyst}
    color: [0, 0, 255]
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg-source")
    files = make_source(root / "src", top_down=True)
    return root / "src", files


def _labels() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    labels[LESION] = 1
    labels[6, 2:5, 2:6] = 7  # a second segment on one slice only
    return labels


def _ordered_uids(files: list[Path]) -> list[str]:
    ds = sorted((pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2]))
    return [str(d.SOPInstanceUID) for d in ds]


def _read_back(path: Path, files: list[Path], segment: int) -> np.ndarray:
    """Segment ``segment`` as highdicom reads it, on the source slices (fractions as 0..1)."""
    hd = require_module("highdicom")
    seg = hd.seg.segread(path)
    arr = seg.get_pixels_by_source_instance(source_sop_instance_uids=_ordered_uids(files),
                                            segment_numbers=[segment], rescale_fractional=True)
    return arr[..., 0]


@pytest.mark.interop
def test_label_map_becomes_one_segmentation(source, tmp_path):
    src, files = source
    (tmp_path / "segments.yaml").write_text(SEGMENTS)
    labels = _labels()
    np.save(tmp_path / "labels.npy", labels)
    report = tmp_path / "r.json"
    assert main(["series", str(tmp_path / "labels.npy"), "--reference", str(src), "--as", "seg",
                 "--segments", str(tmp_path / "segments.yaml"), "--out", str(tmp_path / "out"),
                 "--no-fsync", "--report", str(report)]) == 0
    (path,) = sorted((tmp_path / "out").glob("*.dcm"))
    assert path.name == "labels_seg.dcm"
    assert_dciodvfy_clean(path)
    # highdicom: the same mask per segment (segment numbers 1, 2 for labels 1, 7)
    assert np.array_equal(_read_back(path, files, 1), (labels == 1).astype(np.uint8))
    assert np.array_equal(_read_back(path, files, 2), (labels == 7).astype(np.uint8))
    # pydicom: each frame on the source slice it references; empty frames omitted
    ds = pydicom.dcmread(path)
    uids = _ordered_uids(files)
    frames = ds.pixel_array.reshape(-1, *SHAPE[1:])
    assert int(ds.NumberOfFrames) == 3 + 1
    for frame, group in zip(frames, ds.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        ref = group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k = uids.index(str(ref))
        assert np.array_equal(frame, labels[k] == (1, 7)[number - 1])
    src0 = pydicom.dcmread(files[0])
    for kw in ("PatientName", "PatientID", "StudyInstanceUID", "FrameOfReferenceUID"):
        assert ds[kw].value == src0[kw].value, kw
    assert ds.SeriesInstanceUID != src0.SeriesInstanceUID
    names = [(s.SegmentLabel, s.SegmentedPropertyTypeCodeSequence[0].CodeValue,
              s.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName) for s in ds.SegmentSequence]
    assert names == [("liver lesion", "52988006", "lesion-net"), ("cyst", "367643001", "lesion-net")]
    entry = json.loads(report.read_text())[0]
    assert entry["sop_class"] == "Segmentation Storage" and entry["reference_series_uid"] == str(
        src0.SeriesInstanceUID)


@pytest.mark.interop
def test_flipped_nifti_mask_with_default_segments(source, tmp_path):
    src, files = source
    mask = (_labels() == 1).astype(np.uint8)
    data, affine = mask.transpose(2, 1, 0)[::-1, :, ::-1], _nifti_affine(src)
    n = data.shape
    affine = affine @ np.array([[-1, 0, 0, n[0] - 1], [0, 1, 0, 0], [0, 0, -1, n[2] - 1], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), tmp_path / "mask.nii.gz")
    result = write_segmentation(tmp_path / "mask.nii.gz", src, tmp_path / "out", durable=False)
    path = Path(result.outputs[0])
    assert np.array_equal(_read_back(path, files, 1), mask)
    ds = pydicom.dcmread(path)
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["segment 1"]
    assert ds.SegmentSequence[0].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert any("reoriented" in n for n in result.notes)


@pytest.mark.interop
def test_probability_map_is_a_fractional_segmentation(source, tmp_path):
    src, files = source
    prob = np.zeros(SHAPE, np.float32)
    prob[LESION] = np.linspace(0.2, 1.0, source_volume()[LESION].size).reshape(prob[LESION].shape)
    result = write_segmentation(prob, src, tmp_path, fractional=True, durable=False)
    path = Path(result.outputs[0])
    assert_dciodvfy_clean(path)
    ds = pydicom.dcmread(path)
    assert ds.SegmentationType == "FRACTIONAL" and ds.SegmentationFractionalType == "PROBABILITY"
    got = _read_back(path, files, 1).astype(np.float64)
    assert np.max(np.abs(got - prob)) <= 0.5 / int(ds.MaximumFractionalValue) + 1e-6


def test_a_label_without_a_segment_is_one_line(source, tmp_path, capsys):
    src, _ = source
    (tmp_path / "s.yaml").write_text("segments:\n  - {label: 1, name: lesion}\n")
    np.save(tmp_path / "l.npy", _labels())
    assert main(["series", str(tmp_path / "l.npy"), "--reference", str(src), "--as", "seg",
                 "--segments", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "label(s) 7 of the volume have no segment" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text,match", [
    ("segments: []\n", "non-empty 'segments' list"),
    ("segments:\n  - {label: 0}\n", "label 0 is not 1..65535"),
    ("segments:\n  - {label: 1, color: red}\n", "color 'red'"),
    ("segments:\n  - {label: 1, type: NoSuchThing}\n", "'NoSuchThing' is not an SCT or DCM code keyword"),
    ("segments:\n  - {label: 1, colour: '#ff0000'}\n", "unknown key\\(s\\) colour"),
    ("segments:\n  - {label: 1}\n  - {label: 1}\n", "described twice"),
])
def test_bad_segments_files_are_refused(tmp_path, text, match):
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ProfileError, match=match):
        load_segments(tmp_path / "s.yaml")


@pytest.mark.interop
def test_orthanc_stores_the_segmentation_in_the_source_study(source, tmp_path):
    from tests.orthanc import running_orthanc

    src, files = source
    np.save(tmp_path / "l.npy", _labels())
    result = write_segmentation(tmp_path / "l.npy", src, tmp_path / "out", durable=False)
    with running_orthanc(tmp_path / "orthanc") as orthanc:
        for f in [*files, Path(result.outputs[0])]:
            req = urllib.request.Request(orthanc.base + "/instances", data=f.read_bytes(), method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert json.loads(r.read())["Status"] == "Success"
        (study,) = orthanc.json("/studies")
        series = orthanc.json(f"/studies/{study}/series")
        modalities = sorted(s["MainDicomTags"]["Modality"] for s in series)
        assert modalities == ["CT", "SEG"]
        study_uid = orthanc.json(f"/studies/{study}")["MainDicomTags"]["StudyInstanceUID"]
        assert study_uid == str(pydicom.dcmread(files[0]).StudyInstanceUID)


@pytest.mark.interop
def test_the_documented_segments_file_and_commands_run(source, tmp_path, monkeypatch):
    import shlex

    from tests.test_series_reference import _doc_blocks

    src, files = source
    (tmp_path / "ct_series").symlink_to(src)
    heading = "### As a DICOM Segmentation"
    (yaml_text,) = _doc_blocks("yaml", heading)
    (tmp_path / "segments.yaml").write_text(yaml_text)
    np.save(tmp_path / "labels.npy", _labels())
    prob = np.zeros(SHAPE, np.float32)
    prob[LESION] = 0.75
    nib.save(nib.Nifti1Image(prob.transpose(2, 1, 0).copy(), _nifti_affine(src)), tmp_path / "prob.nii.gz")
    monkeypatch.chdir(tmp_path)
    (commands,) = _doc_blocks("sh", heading)
    for line in commands.strip().splitlines():
        assert main([*shlex.split(line)[1:], "--no-fsync"]) == 0, line
    assert sorted(p.name for p in (tmp_path / "seg").iterdir()) == ["labels_seg.dcm", "prob_seg.dcm"]
    np.save(tmp_path / "mask.npy", (_labels() == 1).astype(np.uint8))
    (python,) = _doc_blocks("python", heading)
    exec(compile(python, "docs/series.md", "exec"), {})
    assert len(list((tmp_path / "mask_dcm").glob("*.dcm"))) == SHAPE[0]
    assert len(list((tmp_path / "seg").glob("labels_seg*.dcm"))) == 2  # a second run: a new name
    ds = pydicom.dcmread(tmp_path / "seg" / "labels_seg.dcm")
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["liver lesion", "cyst"]
    got = _read_back(tmp_path / "seg" / "prob_seg.dcm", files, 1)
    assert np.max(np.abs(got - prob)) <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("extra,match", [
    (["--as", "seg", "--template", "T.dcm"], "needs --reference"),
    (["--template", "T.dcm", "--segments", "s.yaml"], "give --as seg too"),
    (["--template", "T.dcm", "--fractional"], "give --as seg too"),
])
def test_seg_options_need_each_other(tmp_path, capsys, extra, match):
    np.save(tmp_path / "v.npy", np.zeros(SHAPE, np.uint8))
    assert main(["series", str(tmp_path / "v.npy"), "--out", str(tmp_path / "o"), *extra]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
