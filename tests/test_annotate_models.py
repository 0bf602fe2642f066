"""annotate with what models write: COCO data sets and prediction lists
(fractional boxes, scores, Instance Number keys), polygons, label-map masks
(a PNG, a volume aligned with the series), legible labels, and the
structured report; checked by dciodvfy, dcmtk's rendering, highdicom's
read-back and Orthanc.

The source is a 30-slice 64 x 64 CT series written by ``series`` from the
shipped CT template, with a 200 HU sphere (the "lesion") in a 40 HU disc."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dicom_rewrite.annotate import Box, Polygon, load_boxes, place_boxes
from dicom_rewrite.annotate.contours import polygon_mask, trace_contours
from dicom_rewrite.annotate.draw import FILL_ALPHA, default_font_size, text_size
from dicom_rewrite.annotate.layout import label_text
from dicom_rewrite.annotate.shapes import BoxError
from dicom_rewrite.cli import main
from tests.interop import assert_dciodvfy_clean, require_tool

REPO = Path(__file__).resolve().parents[1]
SLICES, SIZE = 30, 64
CENTRE = (15, 30, 36)  # slice, row, column of the lesion
RADIUS = 8


def _lesion() -> np.ndarray:
    z, y, x = np.mgrid[0:SLICES, 0:SIZE, 0:SIZE]
    return ((z - CENTRE[0]) ** 2 + (y - CENTRE[1]) ** 2 + (x - CENTRE[2]) ** 2) < RADIUS ** 2


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    """The source series: ``ct_0001.dcm``... (Instance Number k + 1 at position k)."""
    root = tmp_path_factory.mktemp("ct")
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    vol = np.full((SLICES, SIZE, SIZE), -1000, np.int16)
    vol[:, ((y - 32) ** 2 + (x - 32) ** 2) < 28 ** 2] = 40
    vol[_lesion()] = 200
    np.save(root / "ct.npy", vol)
    assert main(["series", str(root / "ct.npy"), "--template", str(REPO / "templates" / "ct.dcm"),
                 "--out", str(root / "src"), "--spacing", "2,1,1"]) == 0
    return root / "src"


def _coco_predictions(path: Path) -> list[dict]:
    """A detector's output: one fractional box per lesion slice, scores falling
    away from the centre, and one low-scoring false positive."""
    preds = []
    for k in range(CENTRE[0] - 3, CENTRE[0] + 4):
        preds.append({"image_id": k + 1, "category_id": 1, "bbox": [27.6, 21.2, 17.3, 17.9],
                      "score": round(0.95 - 0.05 * abs(k - CENTRE[0]), 2)})
    preds.append({"image_id": 5, "category_id": 1, "bbox": [5, 5, 10, 10], "score": 0.12})
    path.write_text(json.dumps(preds))
    return preds


# ---------------------------------------------------------------- shape files


def test_coco_prediction_list(tmp_path):
    p = tmp_path / "preds.json"
    p.write_text(json.dumps([
        {"image_id": 7, "category_id": 3, "bbox": [20.4, 30.0, 40.2, 41], "score": 0.875},
        {"image_id": "slice2", "category_id": 3, "bbox": [0, 0, 1, 1]},
    ]))
    shapes = load_boxes(p)
    (box,) = shapes["7"]
    # [x, y, w, h] continuous -> inclusive pixels, rounded outward
    assert box.corners == (20, 30, 60, 70) and box.score == 0.875 and box.label == "3"
    assert shapes["slice2"][0].corners == (0, 0, 0, 0)


def test_coco_dataset_with_images_categories_and_segmentation(tmp_path):
    p = tmp_path / "coco.json"
    p.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.dcm"}, {"id": 2, "file_name": "b.dcm"}],
        "categories": [{"id": 10, "name": "nodule"}, {"id": 11, "name": "cyst"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 10, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 11, "score": 0.5,
             "segmentation": [[10, 10, 20, 10, 15, 18]], "bbox": [10, 10, 10, 8]},
        ],
    }))
    shapes = load_boxes(p)
    (a,) = shapes["a.dcm"]
    (b,) = shapes["b.dcm"]
    assert isinstance(a, Box) and a.corners == (1, 2, 3, 5) and a.label == "nodule"
    assert isinstance(b, Polygon) and b.label == "cyst" and b.score == 0.5
    assert a.color != b.color  # a colour per category


def test_keyed_json_and_csv_take_scores_and_points(tmp_path):
    j = tmp_path / "s.json"
    j.write_text(json.dumps({"x.dcm": [{"box": [1, 1, 5, 5], "score": 0.3, "label": "a"},
                                       {"points": [[2, 2], [9, 2], [9, 7]], "label": "b"}]}))
    box, poly = load_boxes(j)["x.dcm"]
    assert box.score == 0.3 and isinstance(poly, Polygon) and poly.corners == (2, 2, 8, 6)
    c = tmp_path / "s.csv"
    c.write_text("file,x0,y0,x1,y1,label,color,frame,score\nx.dcm,1.5,2,3,4.2,a,,,0.9\n")
    (row,) = load_boxes(c)["x.dcm"]
    assert row.corners == (1, 2, 3, 5) and row.score == 0.9


@pytest.mark.parametrize("content,msg", [
    ([{"image_id": 1, "segmentation": {"counts": "abc", "size": [4, 4]}}], "RLE segmentation"),
    ([{"image_id": 1, "bbox": [1, 2, -3, 4]}], "negative width"),
    ([{"image_id": 1}], "no \"bbox\""),
    ({"images": [], "annotations": [{"bbox": [1, 2, 3, 4]}]}, "no \"image_id\""),
    ([1, 2], "JSON must be an object"),
])
def test_coco_errors_name_the_file_and_item(tmp_path, content, msg):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(content))
    with pytest.raises(BoxError, match=msg) as exc:
        load_boxes(p)
    assert str(p) in str(exc.value)


# ---------------------------------------------------------------- geometry


def test_mask_contours_enclose_exactly_the_mask():
    rng = np.random.default_rng(1)
    m = rng.random((24, 31)) > 0.55
    m[5:15, 8:20] = True
    m[9:11, 12:14] = False  # a hole
    rebuilt = np.zeros_like(m)
    for line in trace_contours(m):
        assert (line[0] == line[-1]).all(), "contours are closed"
        rebuilt ^= polygon_mask(line[:-1], *m.shape)
    assert (rebuilt == m).all()


def test_polygon_of_a_box_covers_exactly_the_box():
    box = Box(3, 4, 10, 12)
    expected = np.zeros((20, 20), dtype=bool)
    expected[4:13, 3:11] = True
    assert (polygon_mask(box.polyline()[:-1], 20, 20) == expected).all()
    assert (Polygon(box.polyline()[:-1]).outline_mask(20, 20, 2) == box.outline_mask(20, 20, 2)).all()


def test_labels_scale_with_the_image_and_stay_off_the_finding():
    rows = cols = 1500
    size = default_font_size(rows)
    assert size == 30  # 2% of the height
    placed = place_boxes([Box(600, 600, 800, 800, "nodule", score=0.875)], rows, cols)
    (p,) = placed
    assert p.label_text == "nodule 0.88"
    x0, y0, x1, y1 = p.label_rect
    assert y1 - y0 + 1 >= 0.02 * rows
    assert y1 < 600 or y0 > 800 or x1 < 600 or x0 > 800, "the label covers the finding"
    assert text_size("nodule 0.88", size)[0] > text_size("nodule", size)[0]


def test_label_format_and_font_size(tmp_path):
    b = Box(1, 1, 5, 5, "lesion", score=0.876)
    assert label_text(b, "{label} ({score:.0%})") == "lesion (88%)"
    assert label_text(Box(1, 1, 5, 5, "lesion")) == "lesion"
    small = place_boxes([Box(20, 20, 40, 40, "x")], 100, 100, font_size=12)[0]
    big = place_boxes([Box(20, 20, 40, 40, "x")], 100, 100, font_size=18)[0]
    assert (big.label_rect[3] - big.label_rect[1]) > (small.label_rect[3] - small.label_rect[1])


# ---------------------------------------------------------------- the batch


def _run(args: list[str]) -> list[dict]:
    report = Path(args[args.index("--out") + 1]).with_suffix(".report.json")
    assert main(["annotate", *args, "--report", str(report)]) == 0
    return json.loads(report.read_text())


def test_predictions_by_instance_number_with_min_score(series, tmp_path):
    preds = _coco_predictions(tmp_path / "preds.json")
    out = tmp_path / "boxes"
    entries = _run([str(series), "--boxes", str(tmp_path / "preds.json"), "--min-score", "0.5",
                    "--out", str(out)])
    written = sorted(p.name for p in out.glob("ct_*_annotated.dcm"))
    assert written == [f"ct_{p['image_id']:04d}_annotated.dcm" for p in preds if p["score"] >= 0.5]
    skipped = {Path(e["input"]).name for e in entries if e["status"] == "skipped"}
    assert "ct_0005.dcm" in skipped  # its only box scored 0.12
    ds = pydicom.dcmread(out / "ct_0016_annotated.dcm")
    assert ds.InstanceNumber and "1 bounding box(es)" in ds.DerivationDescription


def test_png_mask_and_polygon_file(series, tmp_path):
    lm = np.zeros((SIZE, SIZE), np.uint8)
    lm[20:30, 10:25] = 2
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(lm).save(masks / "ct_0003.png")
    polys = tmp_path / "polys.json"
    polys.write_text(json.dumps({"ct_0003.dcm": [{"points": [[40, 40], [60, 40], [50, 58]],
                                                   "label": "wedge", "color": "#00FF00"}]}))
    out = tmp_path / "out"
    _run([str(series), "--masks", str(masks), "--mask-labels", "2=kidney", "--polygons", str(polys),
          "--window", "40,400", "--out", str(out)])
    rgb = pydicom.dcmread(out / "ct_0003_annotated.dcm").pixel_array
    assert (rgb[40, 41:59] == [0, 255, 0]).all(), "the polygon's top edge is outlined in its colour"
    # label value 2 -> palette colour 2 (green), outlined inward and filled translucently
    assert (rgb[20, 10:25] == [0, 255, 0]).all() and (rgb[29, 10:25] == [0, 255, 0]).all()
    inner, gray = rgb[25, 17].astype(int), rgb[32, 8].astype(int)  # same tissue, in and out
    assert gray[0] == gray[1] == gray[2]
    expected = np.rint(gray * (1 - FILL_ALPHA) + FILL_ALPHA * np.array([0, 255, 0]))
    assert np.abs(inner - expected).max() <= 1


# ---------------------------------------------------------------- interop


def _dcmj2pnm(path: Path, out: Path) -> np.ndarray:
    exe = require_tool("dcmj2pnm")
    proc = subprocess.run([exe, "+on", str(path), str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return np.asarray(Image.open(out).convert("RGB"))


def _read_sr(path: Path):
    from highdicom.sr import Comprehensive3DSR

    sr = Comprehensive3DSR.from_dataset(pydicom.dcmread(path))
    return sr, list(sr.content.get_planar_roi_measurement_groups())


@pytest.fixture(scope="module")
def detector_run(series, tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("detector")
    preds = _coco_predictions(root / "preds.json")
    _run([str(series), "--boxes", str(root / "preds.json"), "--min-score", "0.5", "--gsps", "--sr",
          "--out", str(root / "out")])
    return root / "out", [p for p in preds if p["score"] >= 0.5]


@pytest.fixture(scope="module")
def segmentation_run(series, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("segmentation")
    np.save(root / "labels.npy", _lesion().astype(np.uint8))
    _run([str(series), "--masks", str(root / "labels.npy"), "--mask-labels", "1=lesion", "--gsps", "--sr",
          "--out", str(root / "out")])
    return root / "out"


@pytest.mark.interop
@pytest.mark.parametrize("run", ["detector_run", "segmentation_run"])
def test_outputs_pass_dciodvfy(run, request):
    out = request.getfixturevalue(run)
    out = out[0] if isinstance(out, tuple) else out
    files = sorted(out.glob("*.dcm"))
    assert any(f.name.startswith("gsps_") for f in files) and any(f.name.startswith("sr_") for f in files)
    for f in files:
        assert_dciodvfy_clean(f)


@pytest.mark.interop
def test_detector_boxes_render_and_report(detector_run, series, tmp_path):
    out, kept = detector_run
    img = _dcmj2pnm(out / "ct_0016_annotated.dcm", tmp_path / "b.png")
    # bbox [27.6, 21.2, 17.3, 17.9] -> pixels [27, 21, 44, 39], outline 2 px inward, red
    red = np.array([255, 0, 0])
    assert (img[21, 27:45] == red).all() and (img[39, 27:45] == red).all()
    assert (img[21:40, 27] == red).all() and (img[21:40, 44] == red).all()
    assert not (img[30, 35] == red).all(), "inside the box is the image"
    # the label: the box colour behind text, at least 2% of the height, off the box
    label_rows = [r for r in range(SIZE) if (img[r] == red).all(axis=1).sum() > 0 and not 21 <= r <= 39]
    assert len(label_rows) >= 0.02 * SIZE
    sr, rois = _read_sr(out / "sr_001.dcm")
    assert len(rois) == len(kept)
    sources = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in series.glob("*.dcm")}
    scores = []
    for roi in rois:
        region = roi.roi
        assert region.value_type.name == "SCOORD"
        ref = region.ContentSequence[0].ReferencedSOPSequence[0]  # SELECTED FROM the source image
        assert str(ref.ReferencedSOPInstanceUID) in sources
        assert np.allclose(region.value, [[27, 21], [45, 21], [45, 40], [27, 40], [27, 21]])
        (m,) = roi.get_measurements()
        scores.append(round(float(m.value), 2))
    assert sorted(scores) == sorted(p["score"] for p in kept)
    gsps = pydicom.dcmread(out / "gsps_001.dcm")
    assert len(gsps.ReferencedSeriesSequence[0].ReferencedImageSequence) == len(kept)


@pytest.mark.interop
def test_label_map_volume_renders_and_reports(segmentation_run, tmp_path):
    out = segmentation_run
    lesion = _lesion()
    written = sorted(out.glob("ct_*_annotated.dcm"))
    assert len(written) == int(lesion.any(axis=(1, 2)).sum())
    k = CENTRE[0]
    img = _dcmj2pnm(out / f"ct_{k + 1:04d}_annotated.dcm", tmp_path / "m.png")
    edge = lesion[k] & ~np.pad(lesion[k], 1)[2:, 1:-1]  # bottom edge pixels of the slice's disc
    assert (img[edge] == [255, 0, 0]).all(), "the contour is drawn in the segment's colour"
    centre = img[CENTRE[1], CENTRE[2]].astype(float)
    assert centre[0] > centre[1] == centre[2], "the inside is filled translucently red"
    gsps = pydicom.dcmread(out / "gsps_001.dcm")
    objs = [o for a in gsps.GraphicAnnotationSequence for o in a.get("GraphicObjectSequence", [])]
    assert len(objs) == len(written) and all(o.GraphicType == "POLYLINE" for o in objs)
    _sr, rois = _read_sr(out / "sr_001.dcm")
    assert len(rois) == len(written)
    assert {r.finding_type.meaning for r in rois} == {"lesion"}
    assert all(r.finding_category.value == "49755003" for r in rois)


@pytest.mark.interop
def test_orthanc_files_everything_into_the_source_study(series, detector_run, segmentation_run, tmp_path):
    from tests.orthanc import running_orthanc

    files = [*sorted(series.glob("*.dcm")), *sorted(detector_run[0].glob("*.dcm")),
             *sorted(segmentation_run.glob("*.dcm"))]
    with running_orthanc(tmp_path / "orthanc") as server:
        for f in files:
            req = urllib.request.Request(server.base + "/instances", data=f.read_bytes(), method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert json.loads(r.read())["Status"] in ("Success", "AlreadyStored")
        studies = server.json("/studies")
        assert len(studies) == 1, "annotations, presentation states and reports join the source study"
        modalities = sorted(server.json(f"/series/{s}")["MainDicomTags"].get("Modality", "")
                            for s in server.json(f"/studies/{studies[0]}")["Series"])
        assert modalities.count("PR") >= 1 and modalities.count("SR") >= 1 and "CT" in modalities
        assert len(server.json("/instances")) == len(files)


def test_long_batch_reads_files_again_with_the_same_result(series, tmp_path, monkeypatch):
    """Past KEEP_PARSED inputs, pass 1 keeps only what pass 2 needs and pass 2
    reads each file again: the same pictures and references."""
    import dicom_rewrite.annotate.files as files
    from dicom_rewrite.annotate import annotate_files

    inputs = sorted(series.glob("*.dcm"))[12:16]
    box = [Box(20, 20, 40, 40, "a", score=0.5)]
    runs = {}
    default = files.KEEP_PARSED
    for keep in (default, 0):
        monkeypatch.setattr(files, "KEEP_PARSED", keep)
        out = tmp_path / f"keep{keep}"
        entries = list(annotate_files(inputs, out, boxes=box, gsps=True, durable=False))
        assert all(e["status"] == "ok" for e in entries)
        runs[keep] = out
    written = sorted(runs[0].glob("ct_*_annotated.dcm"))
    assert len(written) == len(inputs)
    for f in written:
        a, b = pydicom.dcmread(f), pydicom.dcmread(runs[default] / f.name)
        assert (a.pixel_array == b.pixel_array).all()
        assert a.SourceImageSequence[0].ReferencedSOPInstanceUID == b.SourceImageSequence[0].ReferencedSOPInstanceUID
    refs = [len(pydicom.dcmread(r / "gsps_001.dcm").ReferencedSeriesSequence[0].ReferencedImageSequence)
            for r in runs.values()]
    assert refs == [len(inputs), len(inputs)]
