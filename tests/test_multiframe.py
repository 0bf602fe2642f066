"""``--multiframe``: the pages of a TIFF or GIF, or every input of a batch, as
one multi-frame instance, rendered by dcmtk frame by frame as the source."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageSequence
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array

from dicom_rewrite import convert_files
from dicom_rewrite.io import jpeg
from tests.conftest import REPO
from tests.interop import dciodvfy, dcmdump_strict, gdcminfo, require_tool

pytestmark = pytest.mark.interop

H, W = 24, 32


def _gray(k: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return ((x * 5 + y * 3 + k * 40) % 256).astype(np.uint8)


def _colour(k: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return np.dstack([(x * 7 + k * 8) % 256, (y * 9) % 256, np.full_like(x, k * 8)]).astype(np.uint8)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stacks")
    pages = [Image.fromarray(_gray(k)) for k in range(5)]
    pages[0].save(folder / "scan.tif", save_all=True, append_images=pages[1:])
    frames = [Image.fromarray(_colour(k)) for k in range(30)]
    frames[0].save(folder / "cine.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    return folder


def _source_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        return [np.asarray(f.convert("L" if f.mode in ("L", "I;16") else "RGB"))
                for f in ImageSequence.Iterator(im)]


def _dcmtk_frames(path: str, gray: bool, tmp: Path) -> list[np.ndarray]:
    """Every frame as dcmtk renders it (gray: with the file's own window)."""
    out = tmp / (Path(path).stem + ".png")
    proc = subprocess.run([require_tool("dcmj2pnm"), "+Fa", *(["+Wi", "1"] if gray else []), "+on",
                           path, str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    frames = sorted(tmp.glob(out.name + ".*.png"), key=lambda p: int(p.suffixes[-2][1:]))
    return [np.asarray(Image.open(p)) for p in frames]


@pytest.mark.parametrize("template,gif_class", [
    ("sc.dcm", "Multi-frame True Color Secondary Capture Image Storage"),
    ("us.dcm", "Ultrasound Multi-frame Image Storage"),
    ("ct.dcm", "Multi-frame True Color Secondary Capture Image Storage"),
])
def test_pages_become_one_instance_rendered_as_the_source(stacks, tmp_path, template, gif_class):
    entries = {Path(e["input"]).name: e for e in convert_files(
        [stacks], REPO / "templates" / template, tmp_path / "out", multiframe="pages")}
    for name, kind in (("scan.tif", "Multi-frame Grayscale Byte Secondary Capture Image Storage"),
                       ("cine.gif", gif_class)):
        entry = entries[name]
        assert entry["status"] == "ok", entry.get("error")
        (path,) = entry["outputs"]
        assert entry["sop_class"] == kind
        assert not dciodvfy(path).errors, dciodvfy(path).errors
        dcmdump_strict(path)
        gdcminfo(path)
        expected = _source_frames(stacks / name)
        ds = pydicom.dcmread(path)
        assert int(ds.NumberOfFrames) == len(expected)
        shown = _dcmtk_frames(path, name.endswith(".tif"), tmp_path)
        assert len(shown) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(shown, expected, strict=True)), name
        if name == "cine.gif":  # PS3.3 C.7.6.5: the GIF's 40 ms per frame
            assert (float(ds.FrameTime), int(ds.CineRate), ds.FrameIncrementPointer) == (40, 25, 0x00181063)
        else:  # pages, not time: Page Number Vector (C.8.6.3)
            assert ds.FrameIncrementPointer == 0x00182001 and list(ds.PageNumberVector) == [1, 2, 3, 4, 5]


def test_varying_durations_and_frame_time(tmp_path):
    frames = [Image.fromarray(_colour(k)) for k in range(3)]
    frames[0].save(tmp_path / "v.gif", save_all=True, append_images=frames[1:], duration=[30, 50, 70])
    (entry,) = convert_files([tmp_path / "v.gif"], REPO / "templates" / "sc.dcm", tmp_path / "a",
                             multiframe="pages")
    ds = pydicom.dcmread(entry["outputs"][0])
    # C.7.6.5.1.2: the increment before each frame, 0 for the first
    assert [float(v) for v in ds.FrameTimeVector] == [0, 30, 50] and ds.FrameIncrementPointer == 0x00181065
    assert not dciodvfy(entry["outputs"][0]).errors
    (entry,) = convert_files([tmp_path / "v.gif"], REPO / "templates" / "sc.dcm", tmp_path / "b",
                             multiframe="pages", frame_time=100)
    assert float(pydicom.dcmread(entry["outputs"][0]).FrameTime) == 100


def test_batch_of_jpegs_keeps_one_fragment_per_frame(tmp_path):
    names = []
    for k in range(3):
        Image.fromarray(_colour(k * 5)).save(tmp_path / f"f{k}.jpg", quality=85)
        names.append(tmp_path / f"f{k}.jpg")
    Image.fromarray(np.zeros((H + 2, W, 3), np.uint8)).save(tmp_path / "other_size.jpg")
    entries = list(convert_files([*names[:2], tmp_path / "other_size.jpg", names[2]],
                                 REPO / "templates" / "us.dcm", tmp_path / "out", multiframe="batch",
                                 frame_time=50, transfer_syntax="jpeg-baseline"))
    bad = [e for e in entries if e["status"] != "ok"]
    assert len(bad) == 1 and "other_size.jpg" in bad[0]["error"] and "share size" in bad[0]["error"]
    outputs = {o for e in entries for o in e["outputs"]}
    assert outputs == {str(tmp_path / "out" / "multiframe.dcm")}
    path = outputs.pop()
    assert not dciodvfy(path).errors, dciodvfy(path).errors
    dcmdump_strict(path)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID.name == "Ultrasound Multi-frame Image Storage" and int(ds.NumberOfFrames) == 3
    fragments = list(generate_frames(ds.PixelData, number_of_frames=3))
    assert fragments == [jpeg.for_dicom(p.read_bytes()) for p in names]  # input order, as is
    # decoded with the source's decoder (Pillow): each frame as its file
    for frame, name in zip(pixel_array(ds, decoding_plugin="pillow"), names, strict=True):
        assert np.abs(frame.astype(int) - np.asarray(Image.open(name))).max() <= 1
    assert len(_dcmtk_frames(path, False, tmp_path)) == 3
