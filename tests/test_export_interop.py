"""Rendering compared with dcmtk's ``dcmj2pnm``/``dcml2pnm`` for the same VOI choice.

dcmtk writes PGM/PPM (``+on``) read back with Pillow. Lossless data must agree
within one gray level; lossy JPEG data (decoded by different libjpeg builds,
with different chroma upsampling) gets a wider, stated tolerance. dcmtk does
not decode JPEG 2000, so J2K files are compared with pydicom's own decode of
the same pixels.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from dicom_rewrite import export as export_api
from dicom_rewrite.render import windowing
from tests.interop import require_tool

pytestmark = pytest.mark.interop

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent
CR_MONO1 = TEST_FILES / "dicomdirtests" / "77654033" / "CR1" / "6154"


def dcmtk_render(tool: str, src: Path, opts: list[str], frame: int, out: Path) -> np.ndarray:
    exe = require_tool(tool)
    proc = subprocess.run(
        [exe, "+on", *opts, "+F", str(frame), str(src), str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{tool} failed on {src}: {proc.stderr}"
    with Image.open(out) as im:
        return np.asarray(im)


def _synth(tmp_path: Path, name: str, **attrs) -> Path:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    for key, value in attrs.items():
        setattr(ds, key, value)
    path = tmp_path / name
    ds.save_as(path)
    return path


# (id, source, tool, dcmtk options, our options, frame (1-based), max abs difference allowed)
CASES = [
    ("CT_small-minmax", "CT_small.dcm", "dcmj2pnm", ["+Wm"], {"voi": "minmax"}, 1, 1),
    ("CT_small-window", "CT_small.dcm", "dcmj2pnm", ["+Ww", "40", "400"], {"window": (40, 400)}, 1, 1),
    ("MR_small", "MR_small.dcm", "dcmj2pnm", ["+Wi", "1"], {"window_index": 0}, 1, 1),
    ("MR_small_implicit", "MR_small_implicit.dcm", "dcmj2pnm", ["+Wi", "1"], {"window_index": 0}, 1, 1),
    ("MR_small_RLE", "MR_small_RLE.dcm", "dcmj2pnm", ["+Wi", "1"], {"window_index": 0}, 1, 1),
    ("MR_small_jpeg_ls_lossless", "MR_small_jpeg_ls_lossless.dcm", "dcml2pnm", ["+Wi", "1"], {"window_index": 0}, 1, 1),
    ("MR_small_bigendian", "MR_small_bigendian.dcm", "dcmj2pnm", ["+Wi", "1"], {"window_index": 0}, 1, 1),
    ("deflated", "image_dfl.dcm", "dcmj2pnm", ["+Wm"], {"voi": "minmax"}, 1, 1),
    ("US-palette", "examples_palette.dcm", "dcmj2pnm", [], {}, 1, 1),
    ("US-rgb", "examples_rgb_color.dcm", "dcmj2pnm", [], {}, 1, 1),
    ("SC-rgb-rle-2frame-f1", "SC_rgb_rle_2frame.dcm", "dcmj2pnm", [], {}, 1, 1),
    ("SC-rgb-rle-2frame-f2", "SC_rgb_rle_2frame.dcm", "dcmj2pnm", [], {}, 2, 1),
    ("SC-rgb-rle-16bit", "SC_rgb_rle_16bit.dcm", "dcmj2pnm", [], {}, 1, 1),
    ("SC-rgb-jpeg-lossless", "SC_rgb_jpeg_gdcm.dcm", "dcmj2pnm", [], {}, 1, 1),
    ("overlay-off", "examples_overlay.dcm", "dcmj2pnm", ["+Wi", "1", "-O"], {"window_index": 0}, 1, 1),
    ("overlay-on", "examples_overlay.dcm", "dcmj2pnm", ["+Wi", "1"], {"window_index": 0, "overlays": True}, 1, 1),
    ("CR-MONOCHROME1", str(CR_MONO1), "dcmj2pnm", ["+Wi", "1"], {"window_index": 0}, 1, 1),
    # lossy: 12-bit JPEG extended, decoded by libjpeg (pylibjpeg) vs dcmtk's IJG build
    ("JPGExtended-12bit", "JPGExtended.dcm", "dcmj2pnm", ["+Wm"], {"voi": "minmax"}, 1, 1),
    # lossy YBR_FULL_422 baseline JPEG: chroma upsampling differs between decoders
    ("US-ybr-jpeg-f1", "examples_ybr_color.dcm", "dcmj2pnm", [], {}, 1, 3),
    ("US-ybr-jpeg-f30", "examples_ybr_color.dcm", "dcmj2pnm", [], {}, 30, 3),
]


@pytest.mark.parametrize(
    ("source", "tool", "opts", "ours", "frame", "tolerance"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_matches_dcmtk(tmp_path, source, tool, opts, ours, frame, tolerance):
    src = Path(source) if Path(source).is_absolute() else Path(get_testdata_file(source))
    theirs = dcmtk_render(tool, src, opts, frame, tmp_path / "dcmtk.pnm")
    mine = export_api.render_frame(pydicom.dcmread(src), frame - 1, **ours)
    assert mine.shape == theirs.shape
    diff = np.abs(mine.astype(int) - theirs.astype(int))
    assert diff.max() <= tolerance, f"max abs difference {diff.max()} (mean {diff.mean():.4f})"
    if tolerance > 1:
        assert diff.mean() < 0.05


@pytest.mark.parametrize(
    ("attrs", "opts"),
    [
        ({"PhotometricInterpretation": "MONOCHROME1"}, ["+Wi", "1"]),
        ({"PhotometricInterpretation": "MONOCHROME1", "PresentationLUTShape": "INVERSE"}, ["+Wi", "1"]),
        ({"PhotometricInterpretation": "MONOCHROME1", "PresentationLUTShape": "IDENTITY"}, ["+Wi", "1"]),
        ({"PresentationLUTShape": "INVERSE"}, ["+Wi", "1"]),
        ({"VOILUTFunction": "SIGMOID"}, ["+Wi", "1"]),
        ({"WindowCenter": [600, 300], "WindowWidth": [1600, 200]}, ["+Wi", "2"]),
        ({"RescaleSlope": 0.5, "RescaleIntercept": -100}, ["+Ww", "200", "700"]),
    ],
    ids=["mono1", "mono1-inverse", "mono1-identity", "mono2-inverse", "sigmoid", "second-window", "rescale"],
)
def test_synthetic_variants_match_dcmtk(tmp_path, attrs, opts):
    src = _synth(tmp_path, "variant.dcm", **attrs)
    theirs = dcmtk_render("dcmj2pnm", src, opts, 1, tmp_path / "dcmtk.pgm")
    ds = pydicom.dcmread(src)
    if opts[0] == "+Wi":
        mine = export_api.render_frame(ds, 0, window_index=int(opts[1]) - 1)
    else:
        mine = export_api.render_frame(ds, 0, window=(float(opts[1]), float(opts[2])))
    assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 1


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "693_J2KI.dcm", "SC_rgb_gdcm_KY.dcm"])
def test_jpeg2000_against_pydicom_decode(name):
    """dcmtk has no JPEG 2000 decoder: check the pipeline on pydicom's decode."""
    ds = pydicom.dcmread(get_testdata_file(name))
    mine = export_api.render_frame(ds, 0)
    decoded = ds.pixel_array
    if decoded.ndim == 3:
        assert np.array_equal(mine, decoded)
        return
    values = decoded.astype(float) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    windows = ds.get("WindowCenter")
    c = float(windows[0] if isinstance(windows, pydicom.multival.MultiValue) else windows)
    w = ds.WindowWidth
    w = float(w[0] if isinstance(w, pydicom.multival.MultiValue) else w)
    expected = np.floor(windowing.linear_window(values, c, w) + 1e-6)
    assert np.array_equal(mine, expected)


def test_jpeg2000_lossless_equals_uncompressed():
    a = export_api.render_frame(pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm")))
    b = export_api.render_frame(pydicom.dcmread(get_testdata_file("MR_small.dcm")))
    assert np.array_equal(a, b)


# --- issue 11 (class 6): like with like ---------------------------------------

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.mark.parametrize("overlays,dcmtk_opts", [(True, []), (False, ["-O"])], ids=["burnt", "not-burnt"])
def test_overlay_plane_like_dcmtk(tmp_path, overlays, dcmtk_opts):
    """dcmj2pnm displays every overlay plane by default (``+O 0``, see
    ``man dcmj2pnm``); export burns them only with ``--overlays``. Each is
    compared with the matching dcmtk choice (default / ``-O``)."""
    src = CORPUS / "mr_sie_overlay.dcm"
    entry = next(export_api.export([src], tmp_path / "out", frames=[0], window_index=0, overlays=overlays))
    assert entry["status"] == "ok", entry.get("error")
    with Image.open(entry["outputs"][0]) as im:
        mine = np.asarray(im).astype(int)
    theirs = dcmtk_render("dcmj2pnm", src, ["+Wi", "1", *dcmtk_opts], 1, tmp_path / "dcmtk.pgm").astype(int)
    assert np.abs(mine - theirs).max() <= 1
    if overlays:  # the overlay is there: the two renderings differ
        plain = next(export_api.export([src], tmp_path / "plain", frames=[0], window_index=0))
        with Image.open(plain["outputs"][0]) as im:
            assert (np.asarray(im).astype(int) != mine).any()


@pytest.mark.parametrize("photometric,value", [("MONOCHROME2", 100), ("MONOCHROME1", 100), ("MONOCHROME2", 0)])
def test_flat_frame_under_minmax_like_dcmtk(tmp_path, photometric, value):
    """A frame whose min equals its max, under ``--voi minmax`` / ``+Wm``:
    dcmtk 3.6.7 shows MONOCHROME2 black and MONOCHROME1 white (its window
    c = min + 1/2, w = 1 puts the one value at the bottom); export agrees."""
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.PixelData = np.full((ds.Rows, ds.Columns), value, dtype=ds.pixel_array.dtype).tobytes()
    ds.PhotometricInterpretation = photometric
    for keyword in ("WindowCenter", "WindowWidth"):
        if keyword in ds:
            del ds[keyword]
    src = tmp_path / "flat.dcm"
    ds.save_as(src)
    entry = next(export_api.export([src], tmp_path / "out", voi="minmax"))
    with Image.open(entry["outputs"][0]) as im:
        mine = np.asarray(im).astype(int)
    theirs = dcmtk_render("dcmj2pnm", src, ["+Wm"], 1, tmp_path / "dcmtk.pgm").astype(int)
    assert np.array_equal(mine, theirs)
    assert mine.max() == (255 if photometric == "MONOCHROME1" else 0)
