"""annotate: box input, validation, exact burn-in pixels, derived-image tags,
presentation states and the command line.

The expected gray background is computed here, independently of
dicom_rewrite.render.windowing, from PS3.3 C.11.1 (rescale) and C.11.2.1.2.1 (LINEAR
window); the outline is computed here from the box corners."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

from dicom_rewrite.annotate import (
    Annotator,
    Box,
    BoxError,
    annotate_dataset,
    annotate_files,
    annotate_with_gsps,
    load_boxes,
    outline_mask,
    parse_box,
    parse_color,
    place_boxes,
)
from dicom_rewrite.cli import main
from dicom_rewrite.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
RED = (255, 0, 0)
GREEN = (0, 255, 0)
#: the abdomen preset, written out here (PS3.3 leaves presets to us; these are the documented ones)
ABDOMEN = (50.0, 400.0)


# ---------------------------------------------------------------- fixtures

def ct_small() -> Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def mr_small() -> Dataset:
    return pydicom.dcmread(get_testdata_file("MR_small.dcm"))


def template(name: str) -> Dataset:
    return pydicom.dcmread(REPO / "templates" / name)


def make_multiframe(frames: int = 3, rows: int = 40, cols: int = 56) -> Dataset:
    """A small Multi-frame Grayscale Word SC image: signed 12-bit values,
    rescale 2x - 100, one window, a different ramp on every frame."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    ds.SOPClassUID = MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "Multi^Frame"
    ds.PatientID = "MF-1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime = "20240102", "101010"
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "7", "ACC7", ""
    ds.Modality = "OT"
    ds.SeriesNumber = 5
    ds.InstanceNumber = 1
    ds.ConversionType = "WSD"
    ds.PatientOrientation = ""
    ds.SeriesDescription = "ramp cine"
    y, x = np.mgrid[0:rows, 0:cols]
    arr = np.stack([((x * 37 + y * 11 + f * 300) % 2048 - 1024).astype(np.int16) for f in range(frames)])
    ds.set_pixel_data(arr, "MONOCHROME2", 12, generate_instance_uid=False)
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 100
    ds.RescaleIntercept = "-100"
    ds.RescaleSlope = "2"
    ds.RescaleType = "US"
    ds.WindowCenter = "0"
    ds.WindowWidth = "3000"
    return ds


def second_slice(ds: Dataset) -> Dataset:
    """The same series, the next slice (same study, new instance)."""
    other = copy.deepcopy(ds)
    other.SOPInstanceUID = generate_uid()
    other.file_meta.MediaStorageSOPInstanceUID = other.SOPInstanceUID
    other.InstanceNumber = int(ds.get("InstanceNumber", 1)) + 1
    if "ImagePositionPatient" in ds:
        pos = [float(v) for v in ds.ImagePositionPatient]
        other.ImagePositionPatient = [pos[0], pos[1], pos[2] + 5]
    arr = ds.pixel_array.copy()
    other.PixelData = np.ascontiguousarray(arr[::-1]).tobytes()
    return other


def lut_curve(entries: int = 1024, top: int = 60000, power: float = 2.0) -> np.ndarray:
    """A non-linear 16-bit Modality LUT: ``top * (i / (entries - 1)) ** power``.
    (dciodvfy wants a 16-bit LUT to use bit 15: keep ``top`` >= 32768.)"""
    return np.round(top * (np.arange(entries) / (entries - 1)) ** power).astype(np.uint16)


def make_lut_source(lut: np.ndarray | None = None, *, first: int = 0, lut_type: str = "OD",
                    window: tuple[float, float] | None = (20000.0, 30000.0),
                    explanation: str | None = "squared") -> Dataset:
    """templates/cr.dcm (CR, MONOCHROME1, 10 of 16 bits, 128 x 128) whose Modality
    LUT is a (0028,3000) Modality LUT Sequence (the CR IOD allows it; CT and DX
    require Rescale Slope/Intercept): LUT Descriptor [entries, ``first``, 16],
    Modality LUT Type ``lut_type``, LUT Data ``lut`` (OW; default
    :func:`lut_curve`). Stored values take every value 0..1023; the window
    (if any) is in LUT output units. New SOP Instance UID, same series."""
    ds = template("cr.dcm")
    for kw in ("RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth"):
        if kw in ds:
            delattr(ds, kw)
    lut = lut_curve() if lut is None else lut
    y, x = np.mgrid[0:int(ds.Rows), 0:int(ds.Columns)]
    ds.PixelData = ((x * 8 + y * 3) % 1024).astype("<u2").tobytes()
    item = Dataset()
    item.LUTDescriptor = [len(lut), first, 16]
    item.ModalityLUTType = lut_type
    if explanation:
        item.LUTExplanation = explanation
    item.LUTData = np.asarray(lut, dtype="<u2").tobytes()
    item["LUTData"].VR = "OW"
    ds.ModalityLUTSequence = pydicom.Sequence([item])
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = (f"{v:g}" for v in window)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def make_signed_lut_source(descriptor_vr: str = "SS") -> Dataset:
    """templates/sc.dcm (Secondary Capture, MONOCHROME2, 64 x 80) as signed
    12-bit pixels -512..511 with a Modality LUT Sequence whose first mapped
    value is -512: LUT Descriptor as SS [1024, -512, 16], or as US holding the
    two's complement [1024, 65024, 16] (both are met in files)."""
    from pydicom.dataelem import DataElement

    ds = template("sc.dcm")
    y, x = np.mgrid[0:int(ds.Rows), 0:int(ds.Columns)]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ds.PixelData = ((x * 13 + y * 5) % 1024 - 512).astype("<i2").tobytes()
    ds["PixelData"].VR = "OW"
    item = Dataset()
    item.add(DataElement(0x00283002, descriptor_vr, [1024, -512 if descriptor_vr == "SS" else 65024, 16]))
    item.ModalityLUTType = "US"
    item.LUTData = np.round(65535 * np.sqrt(np.arange(1024) / 1023)).astype("<u2").tobytes()
    item["LUTData"].VR = "OW"
    ds.ModalityLUTSequence = pydicom.Sequence([item])
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def make_8bit_lut_source(words: bool = False) -> Dataset:
    """templates/sc.dcm (8-bit MONOCHROME2) with an 8-bit Modality LUT Sequence:
    LUT Descriptor [256, 0, 8], entries ``255 * (i / 255) ** 2`` packed two to
    a word (PS3.3 C.11.1.1.1), or one to a 16-bit word (older files) if ``words``."""
    ds = template("sc.dcm")
    y, x = np.mgrid[0:int(ds.Rows), 0:int(ds.Columns)]
    ds.PixelData = ((x * 3 + y * 5) % 256).astype(np.uint8).tobytes()
    item = Dataset()
    item.LUTDescriptor = [256, 0, 8]
    item.ModalityLUTType = "US"
    lut = np.round(255 * (np.arange(256) / 255) ** 2)
    item.LUTData = lut.astype("<u2" if words else np.uint8).tobytes()
    item["LUTData"].VR = "OW"
    ds.ModalityLUTSequence = pydicom.Sequence([item])
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def through_lut(stored: np.ndarray, lut: np.ndarray, first: int) -> np.ndarray:
    """PS3.3 C.11.1.1.1: stored values below ``first`` take the first entry,
    values past the last entry take the last."""
    return np.asarray(lut, dtype=np.float64)[np.clip(stored.astype(np.int64) - first, 0, len(lut) - 1)]


# ------------------------------------------------------- the expectation

def expected_gray(stored: np.ndarray, slope: float, intercept: float, center: float, width: float,
                  invert: bool) -> np.ndarray:
    """PS3.3 C.11.1 then C.11.2.1.2.1 LINEAR, output range 0..255 (float)."""
    x = stored.astype(np.float64) * slope + intercept
    c, w = center, width
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    y = np.where(x <= c - 0.5 - (w - 1) / 2, 0.0, np.where(x > c - 0.5 + (w - 1) / 2, 255.0, y))
    return 255.0 - y if invert else y


def ring(box: Box, rows: int, cols: int, t: int) -> np.ndarray:
    """The outline as the union of t nested rectangles (computed independently)."""
    m = np.zeros((rows, cols), dtype=bool)
    for i in range(t):
        x0, y0, x1, y1 = box.x0 + i, box.y0 + i, box.x1 - i, box.y1 - i
        if x0 > x1 or y0 > y1:
            break
        m[y0, x0:x1 + 1] = m[y1, x0:x1 + 1] = True
        m[y0:y1 + 1, x0] = m[y0:y1 + 1, x1] = True
    return m


def check_pixels(out: Dataset, gray: np.ndarray, placed, thickness: int) -> None:
    """Outline exactly the colour; label rectangles hold only the box colour
    and the text colour; every other pixel gray and equal to ``gray`` +-1."""
    rgb = out.pixel_array
    rows, cols = gray.shape
    assert rgb.shape == (rows, cols, 3) and rgb.dtype == np.uint8
    outline = np.zeros((rows, cols), dtype=bool)
    for p in placed:
        m = ring(p.box, rows, cols, thickness)
        assert np.array_equal(m, outline_mask(p.box, rows, cols, thickness))
        outline |= m
    labels = np.zeros((rows, cols), dtype=bool)
    for p in placed:
        m = ring(p.box, rows, cols, thickness)
        assert (rgb[m] == p.color).all(), f"outline of {p.box} is not exactly {p.color}"
        if p.box.label:
            assert p.label_rect is not None
            x0, y0, x1, y1 = p.label_rect
            assert 0 <= x0 <= x1 < cols and 0 <= y0 <= y1 < rows
            lab = np.zeros((rows, cols), dtype=bool)
            lab[y0:y1 + 1, x0:x1 + 1] = True
            assert not (lab & m).any(), "label covers its own outline"
            px = rgb[lab & ~outline].reshape(-1, 3)
            text = (0, 0, 0) if sum(np.multiply(p.color, (0.299, 0.587, 0.114))) >= 128 else (255, 255, 255)
            is_box = (px == p.color).all(axis=1)
            is_text = (px == text).all(axis=1)
            assert (is_box | is_text).all(), "label pixels other than box and text colour"
            assert is_text.sum() >= 5, "no legible text in the label"
            labels |= lab
    rest = ~(outline | labels)
    r, g, b = (rgb[..., i][rest].astype(int) for i in range(3))
    assert (r == g).all() and (g == b).all(), "background is not gray"
    diff = np.abs(r - gray[rest])
    assert diff.max() <= 1, f"background differs from the PS3.3 window by {diff.max()}"


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def _stored(ds: Dataset, frame: int | None = None) -> np.ndarray:
    arr = ds.pixel_array
    return arr[frame] if frame is not None else arr


# ------------------------------------------------------------ box parsing

class TestParseBox:
    def test_ok(self):
        assert parse_box("1,2,30,40", label="a") == Box(1, 2, 30, 40, "a")
        assert parse_box(" 0 , 0 , 0 , 0 ") == Box(0, 0, 0, 0)
        assert parse_box("1,2,3,4", frame=2).frame == 2

    @pytest.mark.parametrize("text,msg", [
        ("1,2,3", "expected X0,Y0,X1,Y1"),
        ("1,2,3,4,5", "expected X0,Y0,X1,Y1"),
        ("a,2,3,4", "x0 'a' is not a pixel number"),
        ("nan,2,3,4", "not a finite number"),
        ("5,2,3,4", "x1 < x0"),
        ("1,9,3,4", "y1 < y0"),
        ("1,,3,4", "expected X0,Y0,X1,Y1"),
    ])
    def test_bad(self, text, msg):
        with pytest.raises(BoxError, match=msg):
            parse_box(text)

    def test_float_whole_numbers_accepted(self):
        assert parse_box("1.0,2,3,4.0").corners == (1, 2, 3, 4)

    def test_fractions_are_rounded_outward(self):
        # x0, y0 down, x1, y1 up: the box covers at least what the model marked
        assert parse_box("1.5,2.9,3.1,4.0").corners == (1, 2, 4, 4)


class TestParseColor:
    @pytest.mark.parametrize("text,rgb", [("#FF0000", RED), ("#00ff00", GREEN), (" #0A0B0C ", (10, 11, 12))])
    def test_ok(self, text, rgb):
        assert parse_color(text) == rgb

    @pytest.mark.parametrize("text", ["red", "#F00", "FF0000", "#GG0000", "#FF00001", ""])
    def test_bad(self, text):
        with pytest.raises(BoxError, match="is not #RRGGBB"):
            parse_color(text)


class TestLoadBoxes:
    def test_json(self, tmp_path):
        f = tmp_path / "b.json"
        f.write_text(json.dumps({
            "a.dcm": [{"box": [1, 2, 3, 4], "label": "x", "color": "#00FF00"}, [5, 6, 7, 8]],
            "1.2.3": {"box": [0, 0, 9, 9], "frame": 2},
        }))
        got = load_boxes(f)
        assert got["a.dcm"] == [Box(1, 2, 3, 4, "x", GREEN), Box(5, 6, 7, 8)]
        assert got["1.2.3"] == [Box(0, 0, 9, 9, frame=2)]

    def test_csv_with_and_without_header(self, tmp_path):
        f = tmp_path / "b.csv"
        f.write_text("file,x0,y0,x1,y1,label,color\na.dcm,1,2,3,4,tumour,#0000FF\na.dcm,5,6,7,8,,\n"
                     "b.dcm,0,0,1,1\n")
        got = load_boxes(f)
        assert got["a.dcm"] == [Box(1, 2, 3, 4, "tumour", (0, 0, 255)), Box(5, 6, 7, 8)]
        assert got["b.dcm"] == [Box(0, 0, 1, 1)]
        g = tmp_path / "c.csv"
        g.write_text("a.dcm,1,2,3,4,\"a, b\",#FFFFFF,3\n")
        assert load_boxes(g)["a.dcm"] == [Box(1, 2, 3, 4, "a, b", (255, 255, 255), 3)]

    @pytest.mark.parametrize("name,text,msg", [
        ("b.json", '{"a.dcm": [{"box": [1, 2, 3, 4]}', "malformed JSON at line 1"),
        ("b.json", '[1, 2]', "JSON must be an object"),
        ("b.json", '{"a.dcm": [{"label": "x"}]}', "missing \"box\""),
        ("b.json", '{"a.dcm": [{"box": [1, 2, 3]}]}', "box must be \\[x0, y0, x1, y1\\]"),
        ("b.json", '{"a.dcm": [{"box": [1, 2, 3, 4], "colour": "#FF0000"}]}', "unknown field"),
        ("b.json", '{"a.dcm": [{"box": [1, 2, 3, 4], "color": "blue"}]}', "colour 'blue' is not #RRGGBB"),
        ("b.json", '{"a.dcm": [{"box": [1, 2, 3, 4], "score": "high"}]}', "score 'high' is not a number"),
        ("b.json", '{"a.dcm": [{"box": [1, 2, 3, 4], "frame": 0}]}', "frame 0 is invalid"),
        ("b.json", '{"a.dcm": 5}', "expected a list of boxes"),
        ("b.csv", "a.dcm,1,2\n", "line 1: expected file,x0,y0,x1,y1"),
        ("b.csv", "a.dcm,1,2,3,x\n", "line 1: y1 'x' is not a pixel number"),
        ("b.csv", "file,x0,y0,x1,y1\n\n", "no boxes found"),
        ("b.csv", "file,x,y,w,h\n", "header must be"),
        ("b.csv", ",1,2,3,4\n", "the file column is empty"),
    ])
    def test_bad(self, tmp_path, name, text, msg):
        f = tmp_path / name
        f.write_text(text)
        with pytest.raises(BoxError, match=msg) as info:
            load_boxes(f)
        assert str(f) in str(info.value) and "\n" not in str(info.value)

    def test_missing_file(self, tmp_path):
        with pytest.raises(BoxError, match="box file not found"):
            load_boxes(tmp_path / "none.json")


class TestPlaceBoxes:
    def test_outside_is_an_error(self):
        with pytest.raises(BoxError, match=r"reaches outside the image \(columns 0..63, rows 0..47\); use --clip"):
            place_boxes([Box(10, 10, 64, 20)], 48, 64, where="x.dcm")
        with pytest.raises(BoxError, match="x.dcm: box \\[-1, 0, 5, 5\\]"):
            place_boxes([Box(-1, 0, 5, 5)], 48, 64, where="x.dcm")

    def test_clip(self):
        placed = place_boxes([Box(-5, 40, 70, 60), Box(100, 100, 120, 120)], 48, 64, clip=True)
        assert [p.box.corners for p in placed] == [(0, 40, 63, 47)]
        assert placed[0].clipped

    def test_labels_beside_the_box_and_off_every_outline(self):
        rows, cols, t = 128, 128, 3
        boxes = [Box(20, 30, 60, 70, "above"), Box(0, 0, 60, 15, "below"),
                 Box(0, 0, 127, 127, "inside"), Box(80, 0, 100, 127, "side")]
        for b in boxes:
            (p,) = place_boxes([b], rows, cols, thickness=t)
            x0, y0, x1, y1 = p.label_rect
            assert 0 <= x0 <= x1 < cols and 0 <= y0 <= y1 < rows
            lab = np.zeros((rows, cols), dtype=bool)
            lab[y0:y1 + 1, x0:x1 + 1] = True
            assert not (lab & ring(b, rows, cols, t)).any()
        above = place_boxes([boxes[0]], rows, cols)[0].label_rect
        assert above[3] == 29  # right above the top edge
        below = place_boxes([boxes[1]], rows, cols)[0].label_rect
        assert below[1] == 16

    def test_long_label_is_shortened(self):
        (p,) = place_boxes([Box(0, 10, 20, 20, "a very long label " * 10)], 48, 64)
        assert p.label_text.endswith("...") and p.label_rect[2] < 64

    def test_colour_tuple(self):
        assert Annotator(color=(1, 2, 3)).color == (1, 2, 3)
        with pytest.raises(BoxError, match="each component must be 0..255"):
            Annotator(color=(0, 0, 256))

    def test_thickness(self):
        with pytest.raises(UsageError, match="--thickness 0"):
            place_boxes([Box(0, 0, 1, 1)], 8, 8, thickness=0)


# ------------------------------------------------------- pixels and tags

def _ct_expect(src: Dataset, center: float, width: float) -> np.ndarray:
    return expected_gray(_stored(src), float(src.RescaleSlope), float(src.RescaleIntercept),
                         center, width, invert=False)


class TestPixels:
    BOXES = [Box(20, 30, 60, 70, "tumour"), Box(80, 80, 100, 120, "cyst", GREEN), Box(5, 100, 12, 107)]

    def _run(self, src, boxes=BOXES, **kw):
        run = Annotator(**kw)
        (ann,) = run.annotate(src, boxes)
        return ann

    def test_ct_preset(self):
        src = ct_small()
        ann = self._run(src, window="abdomen", thickness=3)
        check_pixels(ann.dataset, _ct_expect(src, *ABDOMEN), ann.placed, 3)
        assert (ann.window.center, ann.window.width) == ABDOMEN

    @pytest.mark.parametrize("preset,cw", [("lung", (-600, 1500)), ("bone", (400, 1800)), ("brain", (40, 80))])
    def test_ct_other_presets(self, preset, cw):
        src = ct_small()
        ann = self._run(src, window=preset)
        check_pixels(ann.dataset, _ct_expect(src, *cw), ann.placed, 2)

    def test_ct_explicit_window(self):
        src = ct_small()
        ann = self._run(src, window="100,701")
        check_pixels(ann.dataset, _ct_expect(src, 100, 701), ann.placed, 2)

    def test_ct_min_max_without_window(self):
        src = ct_small()
        assert "WindowCenter" not in src
        ann = self._run(src)
        hu = _stored(src) * float(src.RescaleSlope) + float(src.RescaleIntercept)
        lo, hi = hu.min(), hu.max()
        check_pixels(ann.dataset, (hu - lo) / (hi - lo) * 255, ann.placed, 2)
        assert ann.window.source == "min-max"

    def test_file_first_window(self):
        src = template("ct.dcm")  # two windows: 40/400 and -600/1600
        ann = self._run(src, boxes=[Box(10, 10, 40, 50, "x")])
        slope, icpt = float(src.get("RescaleSlope", 1)), float(src.get("RescaleIntercept", 0))
        gray = expected_gray(_stored(src), slope, icpt, 40, 400, invert=False)
        check_pixels(ann.dataset, gray, ann.placed, 2)
        assert ann.window.source == "file window 1"

    def test_mr_file_window(self):
        src = mr_small()
        ann = self._run(src, boxes=[Box(4, 20, 30, 40, "lesion"), Box(40, 40, 60, 60)])
        gray = expected_gray(_stored(src), 1, 0, float(src.WindowCenter), float(src.WindowWidth), False)
        check_pixels(ann.dataset, gray, ann.placed, 2)

    def test_monochrome1_is_inverted(self):
        src = template("cr.dcm")
        assert src.PhotometricInterpretation == "MONOCHROME1"
        ann = self._run(src, boxes=[Box(30, 30, 90, 90, "opacity", (255, 255, 0))])
        gray = expected_gray(_stored(src), 1, 0, float(src.WindowCenter), float(src.WindowWidth), True)
        check_pixels(ann.dataset, gray, ann.placed, 2)
        assert ann.window.inverted and ann.dataset.PhotometricInterpretation == "RGB"
        # and the inversion is visible: the darkest stored values are the brightest
        stored = _stored(src)
        plain = Annotator().annotate(src, [Box(0, 0, 0, 0)])[0].dataset.pixel_array[..., 0]
        plain[0, 0] = plain[0, 1]  # the 1-pixel box
        assert plain[stored == stored.min()].min() > plain[stored == stored.max()].max()

    def test_thin_box_fills_completely(self):
        src = ct_small()
        ann = self._run(src, boxes=[Box(10, 10, 12, 40)], window="abdomen", thickness=2)
        assert (ann.dataset.pixel_array[10:41, 10:13] == RED).all()
        check_pixels(ann.dataset, _ct_expect(src, *ABDOMEN), ann.placed, 2)

    def test_source_is_not_modified(self):
        src = ct_small()
        before = _bytes(src)
        series = src.SeriesInstanceUID
        run = Annotator(window="abdomen")
        run.annotate(src, self.BOXES)
        run.presentation_states()
        assert src.SeriesInstanceUID == series
        assert _bytes(src) == before

    def test_colour_source_keeps_us(self):
        src = template("us.dcm")
        ann = self._run(src, boxes=[Box(10, 10, 50, 50, "x")])
        ds = ann.dataset
        assert ds.SOPClassUID == UltrasoundImageStorage
        rgb = ds.pixel_array
        assert (rgb[ring(Box(10, 10, 50, 50), 96, 128, 2)] == RED).all()
        # outside the outline and the label the pixels are the source's
        mask = ring(Box(10, 10, 50, 50), 96, 128, 2)
        x0, y0, x1, y1 = ann.placed[0].label_rect
        mask[y0:y1 + 1, x0:x1 + 1] = True
        assert np.array_equal(rgb[~mask], src.pixel_array[~mask])


class TestTags:
    def test_derived_annotation_tags(self):
        src = ct_small()
        ann = Annotator(window="abdomen").annotate(src, [Box(20, 30, 60, 70, "tumour")])[0]
        ds = ann.dataset
        assert ds.SOPClassUID == SecondaryCaptureImageStorage
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == (3, "RGB", 0)
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (8, 8, 7, 0)
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert ds.BurnedInAnnotation == "YES"
        (ref,) = ds.SourceImageSequence
        assert ref.ReferencedSOPClassUID == src.SOPClassUID
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert "ReferencedFrameNumber" not in ref
        assert "tumour" in ds.DerivationDescription and "center 50, width 400" in ds.DerivationDescription
        assert ds.SeriesDescription.startswith("Annotations")
        # same patient and study; new series and instance; geometry kept
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID", "StudyID",
                   "AccessionNumber", "FrameOfReferenceUID", "ImagePositionPatient",
                   "ImageOrientationPatient", "PixelSpacing"):
            assert ds[kw].value == src[kw].value, kw
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID
        assert ds.SOPInstanceUID != src.SOPInstanceUID
        assert ds.SeriesNumber == int(src.SeriesNumber) + 1000
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for kw in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
            assert kw not in ds, kw

    def test_one_series_for_all_slices_of_a_run(self):
        a = ct_small()
        b = second_slice(a)
        run = Annotator(window="abdomen")
        out = [run.annotate(s, [Box(1, 1, 20, 20)])[0].dataset for s in (a, b)]
        assert out[0].SeriesInstanceUID == out[1].SeriesInstanceUID != a.SeriesInstanceUID
        assert out[0].SOPInstanceUID != out[1].SOPInstanceUID
        assert [d.InstanceNumber for d in out] == [1, 2]
        assert out[1].ImagePositionPatient == b.ImagePositionPatient
        assert [d.SourceImageSequence[0].ReferencedSOPInstanceUID for d in out] == [a.SOPInstanceUID, b.SOPInstanceUID]
        # a second run is a second series
        again = Annotator().annotate(a, [Box(1, 1, 20, 20)])[0].dataset
        assert again.SeriesInstanceUID != out[0].SeriesInstanceUID

    def test_annotate_dataset_api(self):
        src = mr_small()
        ds = annotate_dataset(src, [Box(1, 1, 10, 10, "a")], color="#00FF00", thickness=1)
        assert (ds.pixel_array[1, 1:11] == GREEN).all()
        assert ds.StudyInstanceUID == src.StudyInstanceUID


class TestMultiFrame:
    def test_frames_named_in_the_boxes(self):
        src = make_multiframe()
        run = Annotator(thickness=2)
        anns = run.annotate(src, [Box(2, 2, 20, 20, "f1"), Box(30, 10, 50, 35, "f3", frame=3)])
        assert [a.frame for a in anns] == [1, 3]
        for ann in anns:
            ds = ann.dataset
            assert ds.SOPClassUID == SecondaryCaptureImageStorage and "NumberOfFrames" not in ds
            assert ds.SourceImageSequence[0].ReferencedFrameNumber == ann.frame
            gray = expected_gray(_stored(src, ann.frame - 1), 2, -100, 0, 3000, False)
            check_pixels(ds, gray, ann.placed, 2)
        assert anns[0].dataset.SeriesInstanceUID == anns[1].dataset.SeriesInstanceUID

    def test_frame_that_does_not_exist(self):
        with pytest.raises(BoxError, match="is on frame 4, but the image has 3 frame"):
            Annotator().annotate(make_multiframe(), [Box(2, 2, 20, 20, frame=4)])

    def test_per_frame_geometry_from_functional_groups(self):
        src = make_multiframe(frames=2)
        shared, f1, f2 = Dataset(), Dataset(), Dataset()
        pm = Dataset()
        pm.PixelSpacing = [0.5, 0.5]
        pm.SliceThickness = 2
        shared.PixelMeasuresSequence = [pm]
        po = Dataset()
        po.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        shared.PlaneOrientationSequence = [po]
        for item, z in ((f1, 10), (f2, 12)):
            pp = Dataset()
            pp.ImagePositionPatient = [0, 0, z]
            item.PlanePositionSequence = [pp]
        src.SharedFunctionalGroupsSequence = [shared]
        src.PerFrameFunctionalGroupsSequence = [f1, f2]
        (ann,) = Annotator().annotate(src, [Box(1, 1, 5, 5, frame=2)])
        assert [float(v) for v in ann.dataset.ImagePositionPatient] == [0, 0, 12]
        assert [float(v) for v in ann.dataset.PixelSpacing] == [0.5, 0.5]


class TestPresentationState:
    def test_gsps_content(self):
        src = ct_small()
        series_uid = src.SeriesInstanceUID
        ds, ps = annotate_with_gsps(src, [Box(20, 30, 60, 70, "tumour"), Box(80, 80, 100, 120)],
                                    window="abdomen")
        assert ps.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1"
        assert ps.Modality == "PR"
        assert ps.StudyInstanceUID == src.StudyInstanceUID and ps.PatientID == src.PatientID
        assert ps.SeriesInstanceUID not in (src.SeriesInstanceUID, ds.SeriesInstanceUID)
        (series,) = ps.ReferencedSeriesSequence
        assert series.SeriesInstanceUID == series_uid
        assert series.ReferencedImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        (ga,) = ps.GraphicAnnotationSequence
        assert ga.ReferencedImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        objs = ga.GraphicObjectSequence
        assert [o.GraphicType for o in objs] == ["POLYLINE", "POLYLINE"]
        assert all(o.GraphicAnnotationUnits == "PIXEL" for o in objs)
        pts = np.array(objs[0].GraphicData).reshape(-1, 2)
        assert pts.tolist() == [[20, 30], [61, 30], [61, 71], [20, 71], [20, 30]]  # closed
        (text,) = ga.TextObjectSequence
        assert text.UnformattedTextValue == "tumour" and text.BoundingBoxAnnotationUnits == "PIXEL"
        (voi,) = ps.SoftcopyVOILUTSequence
        assert (float(voi.WindowCenter), float(voi.WindowWidth)) == ABDOMEN
        assert voi.VOILUTFunction == "LINEAR"
        assert float(ps.RescaleIntercept) == float(src.RescaleIntercept)
        assert ps.PresentationLUTShape == "IDENTITY"

    def test_monochrome1_gsps_is_inverse(self):
        _ds, ps = annotate_with_gsps(template("cr.dcm"), [Box(1, 1, 9, 9)])
        assert ps.PresentationLUTShape == "INVERSE"

    def test_multiframe_gsps_names_frames(self):
        src = make_multiframe()
        run = Annotator()
        run.annotate(src, [Box(2, 2, 20, 20, frame=1), Box(3, 3, 9, 9, frame=3)])
        ((ps, _notes),) = run.presentation_states()
        frames = sorted(int(ga.ReferencedImageSequence[0].ReferencedFrameNumber)
                        for ga in ps.GraphicAnnotationSequence)
        assert frames == [1, 3]
        assert float(ps.RescaleSlope) == 2 and float(ps.RescaleIntercept) == -100

    def test_no_gsps_for_colour(self):
        _ds, ps = annotate_with_gsps(template("us.dcm"), [Box(1, 1, 9, 9)])
        assert ps is None


class TestModalityLutSequence:
    """Sources whose Modality LUT is a (0028,3000) Modality LUT Sequence: the
    presentation state carries the same LUT (PS3.3 C.11.1), and its window is
    in the LUT's output units, as the burned-in copy was windowed."""

    BOXES = [Box(20, 30, 60, 70, "tumour"), Box(80, 80, 100, 120)]

    @staticmethod
    def _lut(ps: Dataset) -> tuple[list[int], str, np.ndarray]:
        (item,) = ps.ModalityLUTSequence
        return ([int(v) for v in item.LUTDescriptor], item.ModalityLUTType,
                np.frombuffer(item.LUTData, dtype="<u2"))

    @pytest.mark.parametrize("window,expect", [
        ((20000.0, 30000.0), (20000.0, 30000.0, "file window 1")),
        (None, (30000.5, 60001.0, "min-max")),  # min-max of the LUT output 0..60000
    ])
    def test_gsps_carries_the_source_lut(self, window, expect):
        src = make_lut_source(window=window)
        run = Annotator()
        (ann,) = run.annotate(src, self.BOXES)
        # the burned-in copy: the stored values through the LUT, then the window
        center, width, source = expect
        gray = expected_gray(through_lut(_stored(src), lut_curve(), 0), 1, 0, center, width, invert=True)
        check_pixels(ann.dataset, gray, ann.placed, 2)
        assert (ann.window.center, ann.window.width, ann.window.source) == expect
        ((ps, notes),) = run.presentation_states()
        assert notes == []
        descriptor, lut_type, data = self._lut(ps)
        assert descriptor == [1024, 0, 16] and lut_type == "OD"
        assert np.array_equal(data, lut_curve())
        assert ps.ModalityLUTSequence[0].LUTData == src.ModalityLUTSequence[0].LUTData
        assert ps.ModalityLUTSequence[0].LUTExplanation == "squared"
        for kw in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
            assert kw not in ps
        (voi,) = ps.SoftcopyVOILUTSequence
        assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (center, width)
        assert voi.VOILUTFunction == "LINEAR"
        assert ps.PresentationLUTShape == "INVERSE"  # MONOCHROME1
        refs = [r.ReferencedSOPInstanceUID for r in ps.ReferencedSeriesSequence[0].ReferencedImageSequence]
        assert refs == [src.SOPInstanceUID]

    def test_explicit_window_is_in_lut_units(self):
        src = make_lut_source()
        _ds, ps = annotate_with_gsps(src, self.BOXES, window="9000,12001")
        (voi,) = ps.SoftcopyVOILUTSequence
        assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (9000, 12001)
        assert self._lut(ps)[0] == [1024, 0, 16]

    def test_one_gsps_per_lut(self):
        """Same series: equal LUTs share a presentation state, different LUTs
        (other entries, other first mapped value) do not."""
        a = make_lut_source()
        b = make_lut_source(explanation="same LUT, other words")  # the same mapping
        c = make_lut_source(lut_curve(824, 50000, 0.5), first=100)  # values 0..99 take entry 0
        d = make_lut_source(lut_type="US")  # the same entries, other units
        run = Annotator()
        anns = [run.annotate(s, [Box(10, 10, 40, 40)])[0] for s in (a, b, c, d)]
        gray = expected_gray(through_lut(_stored(c), lut_curve(824, 50000, 0.5), 100), 1, 0,
                             20000, 30000, invert=True)
        check_pixels(anns[2].dataset, gray, anns[2].placed, 2)
        states = run.presentation_states()
        assert len(states) == 3
        by_refs = {tuple(r.ReferencedSOPInstanceUID for r in ps.ReferencedSeriesSequence[0].ReferencedImageSequence):
                   ps for ps, _notes in states}
        assert set(by_refs) == {(a.SOPInstanceUID, b.SOPInstanceUID), (c.SOPInstanceUID,),
                                (d.SOPInstanceUID,)}
        assert self._lut(by_refs[(a.SOPInstanceUID, b.SOPInstanceUID)])[:2] == ([1024, 0, 16], "OD")
        descriptor, lut_type, data = self._lut(by_refs[(c.SOPInstanceUID,)])
        assert descriptor == [824, 100, 16] and lut_type == "OD"
        assert np.array_equal(data, lut_curve(824, 50000, 0.5))
        assert self._lut(by_refs[(d.SOPInstanceUID,)])[:2] == ([1024, 0, 16], "US")
        assert len({ps.SOPInstanceUID for ps, _n in states}) == 3

    def test_rescale_and_lut_sources_get_one_gsps_each(self):
        lut_src = make_lut_source()
        rescaled = copy.deepcopy(lut_src)
        del rescaled.ModalityLUTSequence
        rescaled.SOPInstanceUID = generate_uid()
        rescaled.RescaleSlope, rescaled.RescaleIntercept, rescaled.RescaleType = "50", "-100", "US"
        run = Annotator()
        run.annotate(lut_src, [Box(10, 10, 40, 40)])
        run.annotate(rescaled, [Box(10, 10, 40, 40)])
        pairs = run.presentation_states()
        assert [notes for _ps, notes in pairs] == [[], []]
        states = [ps for ps, _notes in pairs]
        with_lut = [ps for ps in states if "ModalityLUTSequence" in ps]
        with_rescale = [ps for ps in states if "RescaleSlope" in ps]
        assert len(with_lut) == len(with_rescale) == 1
        assert "RescaleSlope" not in with_lut[0]
        assert with_lut[0].ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID \
            == lut_src.SOPInstanceUID
        ps = with_rescale[0]
        assert "ModalityLUTSequence" not in ps
        assert (float(ps.RescaleSlope), float(ps.RescaleIntercept), ps.RescaleType) == (50, -100, "US")
        assert ps.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID \
            == rescaled.SOPInstanceUID

    @pytest.mark.parametrize("vr,second", [("SS", -512), ("US", 65024)])
    def test_negative_first_mapped_value(self, vr, second):
        """Signed pixels: the first mapped value is written as the source wrote it."""
        src = make_signed_lut_source(vr)
        run = Annotator()
        (ann,) = run.annotate(src, [Box(5, 5, 30, 30)])
        lut = np.frombuffer(src.ModalityLUTSequence[0].LUTData, dtype="<u2")
        values = through_lut(_stored(src), lut, -512)
        lo, hi = values.min(), values.max()
        check_pixels(ann.dataset, (values - lo) / (hi - lo) * 255, ann.placed, 2)  # min-max window
        ((ps, _notes),) = run.presentation_states()
        ps = pydicom.dcmread(io.BytesIO(_bytes(ps)))  # as written
        elem = ps.ModalityLUTSequence[0]["LUTDescriptor"]
        assert elem.VR == vr and [int(v) for v in elem.value] == [1024, second, 16]
        assert np.array_equal(np.frombuffer(ps.ModalityLUTSequence[0].LUTData, dtype="<u2"), lut)
        (voi,) = ps.SoftcopyVOILUTSequence
        assert (float(voi.WindowCenter), float(voi.WindowWidth)) == ((lo + hi + 1) / 2, hi - lo + 1)

    @pytest.mark.parametrize("words", [False, True], ids=["packed", "words"])
    def test_8bit_lut(self, words):
        """8-bit entries stay 8-bit (packed, as PS3.3 C.11.1.1.1 says), whichever
        way the source stored them; the mapping is the same."""
        src = make_8bit_lut_source(words)
        run = Annotator()
        (ann,) = run.annotate(src, [Box(5, 5, 30, 30)])
        lut = np.round(255 * (np.arange(256) / 255) ** 2)
        values = through_lut(_stored(src), lut, 0)
        lo, hi = values.min(), values.max()
        check_pixels(ann.dataset, (values - lo) / (hi - lo) * 255, ann.placed, 2)
        ((ps, _notes),) = run.presentation_states()
        (item,) = ps.ModalityLUTSequence
        assert [int(v) for v in item.LUTDescriptor] == [256, 0, 8]
        assert item.LUTData == lut.astype(np.uint8).tobytes()

    def test_cli_writes_a_gsps_per_lut_and_no_note(self, tmp_path, caplog):
        folder = tmp_path / "in"
        folder.mkdir()
        make_lut_source().save_as(folder / "a.dcm")
        make_lut_source().save_as(folder / "b.dcm")
        make_lut_source(lut_curve(top=40000, power=3)).save_as(folder / "c.dcm")
        out, report = tmp_path / "out", tmp_path / "r.json"
        rc = main(["annotate", str(folder), "--box", "10,10,40,40", "--label", "x", "--gsps",
                   "--out", str(out), "--report", str(report)])
        assert rc == 0
        entries = json.loads(report.read_text())
        states = [e for e in entries if e["input"].startswith("presentation state")]
        assert [len(e["references"]) for e in states] == [2, 1]
        assert all(e["status"] == "ok" and "notes" not in e for e in states)
        assert "Modality LUT Sequence" not in report.read_text() + caplog.text
        ps = pydicom.dcmread(out / "gsps_002.dcm")
        assert np.array_equal(self._lut(ps)[2], lut_curve(top=40000, power=3))


# --------------------------------------------------------------- the CLI

@pytest.fixture()
def inputs(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    a = ct_small()
    a.save_as(folder / "slice1.dcm")
    b = second_slice(a)
    b.save_as(folder / "slice2.dcm")
    make_multiframe().save_as(folder / "cine.dcm", enforce_file_format=True)
    return folder


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


class TestCli:
    def test_box_and_label(self, inputs, tmp_path, capsys):
        out = tmp_path / "out"
        report = tmp_path / "r.json"
        rc = main(["annotate", str(inputs / "slice1.dcm"), str(inputs / "slice2.dcm"),
                   "--box", "20,30,60,70", "--label", "tumour", "--box", "80,80,100,120",
                   "--window", "abdomen", "--thickness", "3", "--color", "#00FF00",
                   "--out", str(out), "--report", str(report)])
        assert rc == 0, capsys.readouterr().err
        files = sorted(p.name for p in out.iterdir())
        assert files == ["slice1_annotated.dcm", "slice2_annotated.dcm"]
        ds = [pydicom.dcmread(out / f) for f in files]
        assert ds[0].SeriesInstanceUID == ds[1].SeriesInstanceUID
        assert (ds[0].pixel_array[30, 20:61] == GREEN).all()
        entries = json.loads(report.read_text())
        assert [e["status"] for e in entries] == ["ok", "ok"]
        assert entries[0]["frames"][0]["window"]["center"] == 50

    def test_boxes_json_by_name_and_uid_with_gsps(self, inputs, tmp_path, capsys):
        uid = pydicom.dcmread(inputs / "slice2.dcm").SOPInstanceUID
        f = tmp_path / "boxes.json"
        f.write_text(json.dumps({
            "slice1.dcm": [{"box": [20, 30, 60, 70], "label": "tumour", "color": "#0000FF"}],
            uid: [{"box": [1, 1, 10, 10]}],
            "cine.dcm": [{"box": [2, 2, 20, 20], "frame": 2}],
        }))
        out = tmp_path / "out"
        rc = main(["annotate", str(inputs), "--boxes", str(f), "--gsps", "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        names = sorted(p.name for p in out.iterdir())
        assert names == ["cine_f0002_annotated.dcm", "gsps_001.dcm", "gsps_002.dcm",
                         "slice1_annotated.dcm", "slice2_annotated.dcm"]
        s1 = pydicom.dcmread(out / "slice1_annotated.dcm")
        assert (s1.pixel_array[30, 20:61] == (0, 0, 255)).all()
        ps = [pydicom.dcmread(out / n) for n in names if n.startswith("gsps")]
        refs = sorted(len(p.ReferencedSeriesSequence[0].ReferencedImageSequence) for p in ps)
        assert refs == [1, 2]  # the CT series (2 slices), the cine (1 image)

    def test_csv_and_skip_and_all(self, inputs, tmp_path, capsys):
        f = tmp_path / "boxes.csv"
        f.write_text("file,x0,y0,x1,y1,label,color\nslice1.dcm,1,1,10,10,a,#FF00FF\n")
        out = tmp_path / "out"
        report = tmp_path / "r.json"
        assert main(["annotate", str(inputs), "--boxes", str(f), "--out", str(out),
                     "--report", str(report)]) == 0
        assert sorted(p.name for p in out.iterdir()) == ["slice1_annotated.dcm"]
        status = {Path(e["input"]).name: e["status"] for e in json.loads(report.read_text())}
        assert status == {"cine.dcm": "skipped", "slice1.dcm": "ok", "slice2.dcm": "skipped"}
        out2 = tmp_path / "out2"
        assert main(["annotate", str(inputs), "--boxes", str(f), "--all", "--out", str(out2)]) == 0
        assert len(list(out2.iterdir())) == 2 + 3  # two slices + three frames

    def test_clip(self, inputs, tmp_path):
        out = tmp_path / "out"
        assert main(["annotate", str(inputs / "slice1.dcm"), "--box", "100,100,200,200", "--clip",
                     "--out", str(out)]) == 0
        ds = pydicom.dcmread(out / "slice1_annotated.dcm")
        assert (ds.pixel_array[127, 100:128] == RED).all() and (ds.pixel_array[100:128, 127] == RED).all()

    def test_unreadable_input_is_exit_1(self, inputs, tmp_path, capsys):
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(b"not dicom at all")
        out = tmp_path / "out"
        rc = main(["annotate", str(inputs / "slice1.dcm"), str(bad), "--box", "1,1,5,5", "--out", str(out)])
        assert rc == 1
        assert "bad.dcm: not a DICOM file" in capsys.readouterr().err
        assert [p.name for p in out.iterdir()] == ["slice1_annotated.dcm"]

    @pytest.mark.parametrize("args,boxfile,msg", [
        (["--box", "1,1,128,10"], None, "reaches outside the image"),
        (["--box", "1,1,10"], None, "expected X0,Y0,X1,Y1"),
        (["--box", "1,1,10,10", "--color", "red"], None, "colour 'red' is not #RRGGBB"),
        (["--box", "1,1,10,10", "--thickness", "0"], None, "--thickness 0"),
        (["--box", "1,1,10,10", "--window", "wide"], None, "--window 'wide'"),
        ([], '{"slice1.dcm": [{"box": [1, 1, 10, 10]}', "malformed JSON"),
        ([], '{"nosuch.dcm": [{"box": [1, 1, 10, 10]}]}', "key 'nosuch.dcm' matches no input"),
        ([], '{"slice1.dcm": [{"box": [1, 1, 10, 10], "color": "#12345"}]}', "is not #RRGGBB"),
        ([], '{"slice2.dcm": [{"box": [120, 1, 130, 10]}]}', "slice2.dcm: box \\[120, 1, 130, 10\\] reaches outside"),
        ([], '{"cine.dcm": [{"box": [1, 1, 10, 10], "frame": 9}]}', "on frame 9, but the image has 3"),
    ])
    def test_bad_box_input_writes_nothing(self, inputs, tmp_path, capsys, args, boxfile, msg):
        out = tmp_path / "out"
        argv = ["annotate", str(inputs / "slice1.dcm"), str(inputs / "slice2.dcm"), str(inputs / "cine.dcm")]
        if boxfile is not None:
            f = tmp_path / "boxes.json"
            f.write_text(boxfile)
            argv += ["--boxes", str(f)]
        argv += [*args, "--out", str(out), "--report", str(tmp_path / "r.json")]
        assert main(argv) == 2
        line = _one_error_line(capsys)
        assert re.search(msg, line), line
        assert not out.exists() and not (tmp_path / "r.json").exists()

    def test_box_and_boxes_are_exclusive(self, inputs, tmp_path, capsys):
        f = tmp_path / "b.json"
        f.write_text("{}")
        assert main(["annotate", str(inputs), "--boxes", str(f), "--box", "1,1,2,2",
                     "--out", str(tmp_path / "o")]) == 2
        assert "not both" in _one_error_line(capsys)

    def test_label_without_box_is_usage(self, inputs, tmp_path, capsys):
        with pytest.raises(SystemExit) as info:
            main(["annotate", str(inputs), "--label", "x", "--out", str(tmp_path / "o")])
        assert info.value.code == 2
        assert "--label must follow a --box" in capsys.readouterr().err

    def test_frame_option(self, inputs, tmp_path):
        out = tmp_path / "out"
        assert main(["annotate", str(inputs / "cine.dcm"), "--box", "1,1,9,9", "--frame", "3",
                     "--out", str(out)]) == 0
        (f,) = out.iterdir()
        assert f.name == "cine_f0003_annotated.dcm"
        assert pydicom.dcmread(f).SourceImageSequence[0].ReferencedFrameNumber == 3

    def test_profile_rules_apply_but_identity_and_study_are_kept(self, inputs, tmp_path):
        prof = tmp_path / "p.yaml"
        prof.write_text('identity: strip\nuids:\n  study: new\nset:\n  InstitutionName: "Annotation Lab"\n')
        out = tmp_path / "out"
        assert main(["annotate", str(inputs / "slice1.dcm"), "--box", "1,1,9,9", "--profile", str(prof),
                     "--out", str(out)]) == 0
        ds = pydicom.dcmread(out / "slice1_annotated.dcm")
        src = pydicom.dcmread(inputs / "slice1.dcm")
        assert ds.InstitutionName == "Annotation Lab"
        assert (ds.PatientID, ds.PatientName, ds.StudyInstanceUID) == (src.PatientID, src.PatientName,
                                                                        src.StudyInstanceUID)

    def test_inputs_are_untouched(self, inputs, tmp_path):
        before = {p.name: p.read_bytes() for p in inputs.iterdir()}
        main(["annotate", str(inputs), "--box", "1,1,9,9", "--all", "--gsps", "--out", str(tmp_path / "o")])
        assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before


def test_non_dicom_files_in_a_folder_are_listed_as_skipped(tmp_path):
    import shutil

    from dicom_rewrite.annotate import annotate_files

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "templates" / "ct.dcm", folder / "ct.dcm")
    (folder / "notes.txt").write_text("not an image")
    entries = list(annotate_files([folder], tmp_path / "out", boxes=[parse_box("10,10,20,20")]))
    by_name = {Path(e["input"]).name: e for e in entries}
    assert by_name["ct.dcm"]["status"] == "ok"
    assert by_name["notes.txt"]["status"] == "skipped" and by_name["notes.txt"]["reason"]


# ------------------------------------------------- sloppy sources (issue 11)

def _sequence_item(**values) -> Dataset:
    item = Dataset()
    for kw, v in values.items():
        setattr(item, kw, v)
    return item


def _no_study(ds: Dataset) -> None:
    del ds.StudyInstanceUID


def _latin1_iso2022(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO 2022 IR 100"
    ds.PatientName = "Müller^Jürgen"


def _multi_valued_charset(ds: Dataset) -> None:
    ds.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 100"]
    ds.PatientName = "Müller^Jürgen"


def _empty_charset(ds: Dataset) -> None:
    ds.SpecificCharacterSet = ""
    ds.PatientName = "Doe^John"


def _bad_sex(ds: Dataset) -> None:
    ds.PatientSex = "U"


def _slashed_date(ds: Dataset) -> None:
    ds.StudyDate = "1990/01/"


def _colon_time(ds: Dataset) -> None:
    ds.StudyTime = "15:26:10"


def _empty_coding_scheme_version(ds: Dataset) -> None:
    code = _sequence_item(CodeValue="P1", CodingSchemeDesignator="99LOCAL", CodeMeaning="Protocol",
                          CodingSchemeVersion="")
    item = _sequence_item(RequestedProcedureID="RP1", ScheduledProcedureStepID="SPS1")
    item.ScheduledProtocolCodeSequence = [code]
    ds.RequestAttributesSequence = [item]


def _zero_spacing(ds: Dataset) -> None:
    ds.PixelSpacing = [0, 0]


def _identity_removed(ds: Dataset) -> None:
    ds.PatientIdentityRemoved = "YES"
    for kw in ("DeidentificationMethod", "DeidentificationMethodCodeSequence"):
        if kw in ds:
            delattr(ds, kw)


def _image_laterality(ds: Dataset) -> None:
    ds.BodyPartExamined = "KNEE"
    ds.ImageLaterality = "L"
    ds.Laterality = ""


def _check_study(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    assert img.StudyInstanceUID == gsps.StudyInstanceUID
    assert pydicom.uid.UID(img.StudyInstanceUID).is_valid


def _check_utf8(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    assert img.SpecificCharacterSet == "ISO_IR 192"
    assert str(img.PatientName) == str(gsps.PatientName) == "Müller^Jürgen"


def _check_no_charset(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    assert str(img.get("SpecificCharacterSet", "") or "") in ("", "ISO_IR 100", "ISO_IR 192")


def _check(keyword: str, expected) -> object:
    def check(src: Dataset, img: Dataset, gsps: Dataset) -> None:
        for ds in (img, gsps):
            if keyword in ds or expected is not None:
                assert (ds.get(keyword) or None) == expected, f"{keyword}: {ds.get(keyword)!r}"
    return check


def _check_date(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    for ds in (img, gsps):  # dropped (the engine may date the study by the batch clock)
        assert re.fullmatch(r"(\d{8})?", str(ds.get("StudyDate", "") or ""))


def _check_code_item(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    code = img.RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0]
    assert "CodingSchemeVersion" not in code and code.CodeValue == "P1"


def _check_no_spacing(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    assert "PixelSpacing" not in img


def _check_deidentified(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    for ds in (img, gsps):
        assert ds.PatientIdentityRemoved == "YES"
        assert "de-identified source" in str(ds.DeidentificationMethod)


def _check_laterality(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    assert gsps.Laterality == "L"
    assert not img.get("Laterality")


def _bad_date_time(src: Dataset) -> None:
    src.AcquisitionDateTime = "***"  # a vendor's placeholder: not a DT (PS3.5 6.2)


def _empty_procedure_codes(src: Dataset) -> None:
    src.ProcedureCodeSequence = []  # Type 3: present means one item or more


def _classic_mr_with_frames(src: Dataset) -> None:
    """A classic MR Image (no Number of Frames in its IOD) written with 4 frames."""
    import numpy as np

    frames = np.stack([src.pixel_array] * 4)
    src.NumberOfFrames = 4
    src.PixelData = frames.tobytes()


def _check_no_value(keyword: str) -> object:
    def check(src: Dataset, img: Dataset, gsps: Dataset) -> None:
        assert not img.get(keyword) and not gsps.get(keyword)  # absent or empty (Type 3)
    return check


def _check_whole_image_reference(src: Dataset, img: Dataset, gsps: Dataset) -> None:
    refs = [r for item in gsps.ReferencedSeriesSequence for r in item.ReferencedImageSequence]
    assert refs and not any("ReferencedFrameNumber" in r for r in refs)


SLOPPY = [
    ("date-time", "ct.dcm", _bad_date_time, "AcquisitionDateTime", _check_no_value("AcquisitionDateTime")),
    ("empty-type3-sequence", "ct.dcm", _empty_procedure_codes, "ProcedureCodeSequence",
     _check_no_value("ProcedureCodeSequence")),
    ("classic-mr-frames", "mr.dcm", _classic_mr_with_frames, None, _check_whole_image_reference),
    ("no-study", "ct.dcm", _no_study, "new study", _check_study),
    ("iso2022-single", "ct.dcm", _latin1_iso2022, "UTF-8", _check_utf8),
    ("charset-multi", "ct.dcm", _multi_valued_charset, "UTF-8", _check_utf8),
    ("charset-empty", "ct.dcm", _empty_charset, "Specific Character Set", _check_no_charset),
    ("sex", "ct.dcm", _bad_sex, "Patient's Sex", _check("PatientSex", None)),
    ("date", "ct.dcm", _slashed_date, "StudyDate", _check_date),
    ("time", "ct.dcm", _colon_time, "StudyTime", _check("StudyTime", "152610")),
    ("coding-scheme-version", "ct.dcm", _empty_coding_scheme_version, "CodingSchemeVersion", _check_code_item),
    ("pixel-spacing", "cr.dcm", _zero_spacing, "Pixel Spacing", _check_no_spacing),
    ("deidentified", "ct.dcm", _identity_removed, "De-identification Method", _check_deidentified),
    ("image-laterality", "cr.dcm", _image_laterality, None, _check_laterality),
]


@pytest.mark.parametrize("name,tpl,plant,note,check", SLOPPY, ids=[s[0] for s in SLOPPY])
def test_sloppy_source_repaired(tmp_path, name, tpl, plant, note, check):
    from tests.interop import assert_dciodvfy_clean, require_tool

    src = template(tpl)
    plant(src)
    path = tmp_path / f"{name}.dcm"
    src.save_as(path)
    entries = list(annotate_files([path], tmp_path / "out", boxes=[Box(2, 2, 20, 20, "x")], gsps=True,
                                  durable=False))
    assert [e["status"] for e in entries] == ["ok", "ok"], entries
    image, state = entries
    if note is not None:
        assert any(note in n for n in image.get("notes", [])), image.get("notes")
    img = pydicom.dcmread(image["outputs"][0])
    gsps = pydicom.dcmread(state["outputs"][0])
    check(src, img, gsps)
    require_tool("dciodvfy")
    assert_dciodvfy_clean(image["outputs"][0])
    assert_dciodvfy_clean(state["outputs"][0])


class _Panic(BaseException):
    """Like pyo3's PanicException: a BaseException from a plugin."""


def test_gsps_step_failure_is_its_entry(tmp_path, monkeypatch):
    src = template("ct.dcm")
    path = tmp_path / "ct.dcm"
    src.save_as(path)

    def panic(self, group, k):
        raise _Panic("decoder panicked")

    monkeypatch.setattr(Annotator, "build_state", panic)
    entries = list(annotate_files([path], tmp_path / "out", boxes=[Box(2, 2, 20, 20)], gsps=True,
                                  durable=False))
    assert [e["status"] for e in entries][0] == "ok"
    assert entries[1]["input"] == "presentation state 1"
    assert entries[1]["status"] != "ok" and "decoder panicked" in entries[1]["error"]


def test_gsps_step_passes_keyboard_interrupt(tmp_path, monkeypatch):
    path = tmp_path / "ct.dcm"
    template("ct.dcm").save_as(path)

    def stop(self, group, k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Annotator, "build_state", stop)
    with pytest.raises(KeyboardInterrupt):
        list(annotate_files([path], tmp_path / "out", boxes=[Box(2, 2, 20, 20)], gsps=True, durable=False))


def test_clean_source_is_not_copied():
    from dicom_rewrite.annotate.repair import repair_source
    from dicom_rewrite.core.uids import UidMap

    src = template("ct.dcm")
    assert repair_source(src, UidMap()) == (src, []) or repair_source(src, UidMap())[0] is src
