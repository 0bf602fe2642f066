"""annotate, checked by third-party software: dciodvfy (0 errors for every
annotated image and every presentation state), strict dcmdump, and dcmtk's
dcmj2pnm, whose rendering of each output must equal our RGB pixels; dcmtk's
dcmp2pgm renders a source through its presentation state."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from dicom_rewrite.annotate import Box
from dicom_rewrite.cli import main
from tests.interop import assert_dciodvfy_clean, dcmdump_strict, require_tool
from tests.test_annotate import (
    make_8bit_lut_source,
    make_lut_source,
    make_multiframe,
    make_signed_lut_source,
    ring,
    second_slice,
)

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[1]


def _sources() -> list[tuple[str, Path | None]]:
    out: list[tuple[str, Path | None]] = [
        ("CT_small.dcm", Path(get_testdata_file("CT_small.dcm"))),
        ("MR_small.dcm", Path(get_testdata_file("MR_small.dcm"))),
    ]
    out += [(p.name, p) for p in sorted((REPO / "templates").glob("*.dcm"))]
    out.append(("multiframe.dcm", None))
    return out


SOURCES = _sources()


def _materialise(name: str, path: Path | None, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if path is None:
        make_multiframe().save_as(target, enforce_file_format=True)
    else:
        target.write_bytes(path.read_bytes())
    return target


def _boxes(ds: pydicom.Dataset, name: str) -> dict[str, list[dict]]:
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    items = [
        {"box": [2, 14, cols // 2, rows // 2], "label": "finding 1"},
        {"box": [cols // 2 + 2, rows // 2 + 2, cols - 3, rows - 3], "label": "B", "color": "#00FFFF"},
    ]
    if frames > 1:
        items.append({"box": [1, 1, 8, 8], "frame": frames, "color": "#FFFF00"})
    return {name: items}


def _value(dump: str, tag: str) -> str:
    """The first value of ``tag`` in dcmdump output, without padding."""
    m = re.search(r"^\s*\(" + tag + r"\) \w\w (?:\[([^\]]*)\]|(\S+))", dump, re.M)
    assert m, f"({tag}) not in the dcmdump output"
    return (m.group(1) if m.group(1) is not None else m.group(2)).rstrip(" \x00")


def _dcmj2pnm(path: Path, out: Path) -> np.ndarray:
    exe = require_tool("dcmj2pnm")
    proc = subprocess.run([exe, "+on", str(path), str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"dcmj2pnm failed on {path}:\n{proc.stdout}{proc.stderr}"
    with Image.open(out) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("name,path", SOURCES, ids=[n for n, _ in SOURCES])
def test_outputs_valid_and_render_in_dcmtk(name, path, tmp_path):
    src_path = _materialise(name, path, tmp_path / "in")
    src = pydicom.dcmread(src_path)
    box_file = tmp_path / "boxes.json"
    box_file.write_text(json.dumps(_boxes(src, name)))
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    rc = main(["annotate", str(src_path), "--boxes", str(box_file), "--gsps", "--out", str(out),
               "--report", str(report)])
    assert rc == 0
    entries = json.loads(report.read_text())
    images = [Path(p) for e in entries if e["input"] == str(src_path) for p in e["outputs"]]
    states = [Path(p) for e in entries if e["input"].startswith("presentation state") for p in e["outputs"]]
    frames = int(src.get("NumberOfFrames", 1) or 1)
    assert len(images) == (2 if frames > 1 else 1)
    colour_source = src.PhotometricInterpretation not in ("MONOCHROME1", "MONOCHROME2")
    assert len(states) == (0 if colour_source else 1)

    for img in images:
        assert_dciodvfy_clean(img)
        dump = dcmdump_strict(img)
        # an independent parser sees what the contract asks for
        assert _value(dump, "0008,0008").split("\\")[:2] == ["DERIVED", "SECONDARY"]
        assert _value(dump, "0028,0301") == "YES"  # Burned In Annotation
        assert _value(dump, "0028,0004") == "RGB"
        assert _value(dump, "0028,0006") == "0" and _value(dump, "0028,0002") == "3"
        assert _value(dump, "0028,0100") == "8"
        assert "=LittleEndianExplicit" in dump
        assert _value(dump, "0020,000d") == src.StudyInstanceUID
        source_seq = dump[dump.index("(0008,2112)"):]  # Source Image Sequence
        assert _value(source_seq, "0008,1155") == src.SOPInstanceUID
        ds = pydicom.dcmread(img)
        rendered = _dcmj2pnm(img, tmp_path / (img.stem + ".png"))
        assert np.array_equal(rendered, ds.pixel_array), f"dcmtk renders {img.name} differently"
        assert ds.PatientID == src.PatientID and ds.PatientName == src.PatientName
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID
        if src.SOPClassUID == pydicom.uid.UltrasoundImageStorage:
            assert ds.SOPClassUID == src.SOPClassUID  # US accepts RGB
        else:
            assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage

    for ps_path in states:
        assert_dciodvfy_clean(ps_path)
        dcmdump_strict(ps_path)
        ps = pydicom.dcmread(ps_path)
        assert ps.StudyInstanceUID == src.StudyInstanceUID and ps.PatientID == src.PatientID
        ref = ps.ReferencedSeriesSequence[0]
        assert ref.SeriesInstanceUID == src.SeriesInstanceUID
        assert ref.ReferencedImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        kinds = {o.GraphicType for ga in ps.GraphicAnnotationSequence for o in ga.GraphicObjectSequence}
        assert kinds == {"POLYLINE"}
        texts = {t.UnformattedTextValue for ga in ps.GraphicAnnotationSequence
                 for t in ga.get("TextObjectSequence", [])}
        assert texts == {"finding 1", "B"}
        inverse = src.PhotometricInterpretation == "MONOCHROME1" and src.get("PresentationLUTShape") != "IDENTITY"
        assert ps.PresentationLUTShape == ("INVERSE" if inverse else "IDENTITY")


def test_one_series_for_a_run(tmp_path):
    """Two slices of a study -> one new series in that study, same patient,
    each instance referencing its own source; the GSPS references both."""
    folder = tmp_path / "in"
    folder.mkdir()
    a = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    b = second_slice(a)
    a.save_as(folder / "a.dcm")
    b.save_as(folder / "b.dcm")
    out = tmp_path / "out"
    rc = main(["annotate", str(folder), "--box", "10,10,60,60", "--label", "lesion", "--window", "40,400",
               "--gsps", "--out", str(out)])
    assert rc == 0
    imgs = [pydicom.dcmread(out / n) for n in ("a_annotated.dcm", "b_annotated.dcm")]
    for ds, src in zip(imgs, (a, b)):
        assert_dciodvfy_clean(out / f"{'a' if src is a else 'b'}_annotated.dcm")
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        assert ds.PatientID == src.PatientID
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert ds.SourceImageSequence[0].ReferencedSOPClassUID == src.SOPClassUID
        assert ds.FrameOfReferenceUID == src.FrameOfReferenceUID
        assert ds.ImagePositionPatient == src.ImagePositionPatient
    assert imgs[0].SeriesInstanceUID == imgs[1].SeriesInstanceUID
    assert imgs[0].SeriesInstanceUID != a.SeriesInstanceUID
    assert "Annotations" in imgs[0].SeriesDescription
    ps = pydicom.dcmread(out / "gsps_001.dcm")
    assert_dciodvfy_clean(out / "gsps_001.dcm")
    refs = {r.ReferencedSOPInstanceUID for r in ps.ReferencedSeriesSequence[0].ReferencedImageSequence}
    assert refs == {a.SOPInstanceUID, b.SOPInstanceUID}
    (voi,) = ps.SoftcopyVOILUTSequence
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (40, 400)


def _dcmp2pgm(state: Path, image: Path, out: Path) -> np.ndarray:
    """dcmtk's rendering of ``image`` through the presentation state ``state``
    (Modality LUT, VOI window and Presentation LUT of the state; graphic
    annotations are not drawn)."""
    exe = require_tool("dcmp2pgm")
    proc = subprocess.run([exe, "-p", str(state), str(image), str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"dcmp2pgm failed on {image} with {state}:\n{proc.stdout}{proc.stderr}"
    with Image.open(out) as im:
        assert im.mode == "L"
        return np.asarray(im)


LUT_SOURCES = {
    "cr-lut": lambda: make_lut_source(),
    "cr-lut-first-100": lambda: make_lut_source(
        np.round(50000 * np.sqrt(np.arange(824) / 823)).astype(np.uint16), first=100, window=None),
    "sc-signed-ss": lambda: make_signed_lut_source("SS"),
    "sc-signed-us": lambda: make_signed_lut_source("US"),
    "sc-8bit": lambda: make_8bit_lut_source(),
}


@pytest.mark.parametrize("kind", list(LUT_SOURCES))
def test_modality_lut_sequence_gsps(kind, tmp_path):
    """A source with a Modality LUT Sequence (itself 0 errors in dciodvfy) gets
    a presentation state with 0 errors that carries the same LUT; dcmtk,
    rendering the untouched source through it, shows exactly the gray the
    burned-in copy was drawn on, everywhere but the outlines."""
    src_path = tmp_path / "in" / f"{kind}.dcm"
    src_path.parent.mkdir()
    LUT_SOURCES[kind]().save_as(src_path, enforce_file_format=True)
    assert_dciodvfy_clean(src_path)
    src = pydicom.dcmread(src_path)
    rows, cols = int(src.Rows), int(src.Columns)
    boxes = [(2, 3, cols // 2, rows // 2), (cols // 2 + 2, rows // 2 + 2, cols - 3, rows - 3)]
    out, report = tmp_path / "out", tmp_path / "r.json"
    args = ["annotate", str(src_path), "--gsps", "--out", str(out), "--report", str(report)]
    for b in boxes:
        args += ["--box", ",".join(map(str, b))]
    assert main(args) == 0
    entries = json.loads(report.read_text())
    (img,) = [Path(p) for e in entries if e["input"] == str(src_path) for p in e["outputs"]]
    (state,) = [e for e in entries if e["input"].startswith("presentation state")]
    assert "notes" not in state
    ps_path = Path(state["outputs"][0])
    assert_dciodvfy_clean(img)
    assert_dciodvfy_clean(ps_path)
    # strict dcmtk sees the source's LUT in the presentation state
    dump = dcmdump_strict(ps_path)
    assert "RescaleSlope" not in dump
    assert _value(dump, "0028,3002") == _value(dcmdump_strict(src_path), "0028,3002")
    ps = pydicom.dcmread(ps_path)
    assert ps.ModalityLUTSequence[0].LUTData == src.ModalityLUTSequence[0].LUTData
    assert ps.ModalityLUTSequence[0].ModalityLUTType == src.ModalityLUTSequence[0].ModalityLUTType

    rendered = _dcmp2pgm(ps_path, src_path, tmp_path / "through_gsps.pgm")
    burned = pydicom.dcmread(img).pixel_array
    assert rendered.shape == (rows, cols)
    outline = np.zeros((rows, cols), dtype=bool)
    for b in boxes:
        outline |= ring(Box(*b), rows, cols, 2)
    assert (burned[~outline][:, 0] == burned[~outline][:, 1]).all()
    assert len(np.unique(rendered)) > 100, "dcmtk shows a flat image: the LUT was not applied"
    diff = np.abs(rendered.astype(int) - burned[..., 0].astype(int))
    assert diff[~outline].max() == 0, (
        f"dcmtk renders the source through the GSPS differently from the burned-in gray "
        f"({int((diff[~outline] > 0).sum())} pixels, up to {diff[~outline].max()} levels)"
    )
