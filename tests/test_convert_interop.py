"""The interop matrix: real-world templates x every image kind, checked by
dciodvfy (0 errors), strict dcmdump, gdcminfo and pydicom (exact pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from dicom_rewrite import convert_files
from dicom_rewrite.core.scrub import IDENTITY_TAGS
from tests.conftest import REPO
from tests.images import make_images
from tests.interop import dciodvfy, dcmdump_strict, gdcminfo, require_tool

pytestmark = pytest.mark.interop


#: pydicom's real-world files, written by GE, Siemens, dcmtk, GDCM and others
PYDICOM_TEMPLATES = [
    "CT_small.dcm",  # GE CT, explicit LE
    "693_J2KI.dcm",  # CT, JPEG 2000
    "MR_small.dcm",
    "MR_small_bigendian.dcm",  # explicit big endian
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "examples_overlay.dcm",  # MR with an overlay
    "JPEG-lossy.dcm",  # SC, lossy JPEG extended
    "JPGExtended.dcm",
    "image_dfl.dcm",  # deflated
    "SC_rgb_rle.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_small_odd_big_endian.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "examples_palette.dcm",  # US palette
    "examples_rgb_color.dcm",  # US RGB
    "ExplVR_BigEnd.dcm",  # US big endian
    "examples_ybr_color.dcm",  # US multi-frame YBR JPEG
    "examples_jpeg2k.dcm",  # US J2K
    "rtdose_1frame.dcm",  # a pixel IOD we do not write -> SC
]


def _templates() -> list[tuple[str, Path]]:
    out = [(name, Path(get_testdata_file(name))) for name in PYDICOM_TEMPLATES]
    out += [(p.name, p) for p in sorted((REPO / "templates").glob("*.dcm"))]
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("images")
    return folder, make_images(folder)


def _identity_values(tpl: pydicom.Dataset) -> set[str]:
    """Identity values of the template that are distinctive enough to scan
    for (at least 4 characters), less values that non-identity attributes
    legitimately share (e.g. InstitutionName == Manufacturer)."""
    values, shared = set(), set()
    for elem in tpl.iterall():
        if elem.VR in ("SQ", "UI", "OB", "OW", "UN") or not elem.value:
            continue
        text = str(elem.value)
        if int(elem.tag) in IDENTITY_TAGS:
            if len(text) >= 4:
                values.add(text)
        else:
            shared.add(text)
    return {v for v in values if not any(v in s for s in shared)}


def _source_values(ds: pydicom.Dataset) -> np.ndarray:
    """The pixels as the source image had them: after the Modality LUT (gray)."""
    arr = ds.pixel_array
    return apply_modality_lut(arr, ds) if ds.SamplesPerPixel == 1 else arr


@pytest.mark.parametrize("name,template", _templates(), ids=[n for n, _ in _templates()])
def test_matrix(name, template, images, tmp_path):
    require_tool("dciodvfy")
    folder, expected = images
    out = tmp_path / "out"
    entries = list(convert_files([folder], template, out))
    failures = []
    tpl = pydicom.dcmread(template)
    tpl_uids = {str(e.value) for e in tpl.iterall() if e.VR == "UI" and e.value}
    tpl_uids -= {str(tpl.SOPClassUID)}
    leaks = _identity_values(tpl)
    assert len(entries) == len(expected)
    for entry in entries:
        src = Path(entry["input"]).name
        if entry["status"] != "ok":
            failures.append(f"{src}: {entry['error']}")
            continue
        (path,) = entry["outputs"]
        verdict = dciodvfy(path)
        if verdict.errors:
            failures.append(f"{src}: dciodvfy: " + " | ".join(verdict.errors))
        dcmdump_strict(path)
        gdcminfo(path)
        ds = pydicom.dcmread(path)
        if not np.array_equal(_source_values(ds), expected[src]):
            failures.append(f"{src}: pixels differ from the source image")
        used = {str(e.value) for e in ds.iterall() if e.VR == "UI" and e.value}
        if used & tpl_uids:
            failures.append(f"{src}: reuses template UIDs {used & tpl_uids}")
        # every text value (private and nested ones included), and the raw
        # bytes for values that cannot occur by chance inside a random UID
        raw = Path(path).read_bytes()
        text = "\n".join(str(e.value) for e in ds.iterall()
                         if e.VR not in ("UI", "OB", "OW", "OF", "UN", "SQ"))
        for v in leaks:
            in_raw = not v.isdigit() and v.encode("utf-8", "ignore") in raw
            if v in text or in_raw:
                failures.append(f"{src}: template identity value {v!r} leaked")
        for stale in ("IconImageSequence", "ModalityLUTSequence", "VOILUTSequence"):
            if stale in ds:
                failures.append(f"{src}: stale {stale} kept")
        if any(0x6000 <= (int(t) >> 16) <= 0x601E for t in ds.keys()):
            failures.append(f"{src}: overlay group kept")
    assert not failures, "\n".join(failures)


def test_template_defects_are_repaired(images, tmp_path):
    """A template missing Type 2 attributes and carrying invalid private
    values still gives outputs with 0 dciodvfy errors."""
    require_tool("dciodvfy")
    folder, expected = images
    tpl = pydicom.dcmread(REPO / "templates" / "ct.dcm")
    for kw in ("PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber",
               "ReferringPhysicianName", "StudyID", "SeriesNumber", "KVP", "SliceThickness",
               "PositionReferenceIndicator", "Manufacturer", "PatientPosition"):
        if kw in tpl:
            del tpl[kw]
    block = tpl.private_block(0x0029, "BROKEN VENDOR", create=True)
    # raw bytes: pydicom would refuse these values if given as text
    from pydicom.dataelem import RawDataElement

    for offset, vr, raw in ((0x10, "DS", b"not-a-number"), (0x11, "DA", b"2024-13-45")):
        t = block.get_tag(offset)
        tpl[t] = RawDataElement(t, vr, len(raw), raw, 0, False, True)
    bad = tmp_path / "bad_template.dcm"
    tpl.save_as(bad, enforce_file_format=True)
    assert dciodvfy(bad).errors, "the planted defects must be visible to dciodvfy"
    for e in convert_files([folder / "gray8.png", folder / "rgb.png"], bad, tmp_path / "out"):
        verdict = dciodvfy(e["outputs"][0])
        assert not verdict.errors, verdict.errors


@pytest.mark.parametrize("alias", ["rle", "jpeg-ls-lossless", "jpeg2000-lossless"])
def test_compressed_outputs_validate(images, tmp_path, alias):
    require_tool("dciodvfy")
    folder, expected = images
    for e in convert_files([folder / "gray16.png", folder / "rgb.png"], REPO / "templates" / "mr.dcm",
                           tmp_path / "out", transfer_syntax=alias):
        path = e["outputs"][0]
        assert not dciodvfy(path).errors
        dcmdump_strict(path)
        gdcminfo(path)
        assert np.array_equal(pydicom.dcmread(path).pixel_array, expected[Path(e["input"]).name])


@pytest.mark.parametrize("template", sorted((REPO / "templates").glob("*.dcm")), ids=lambda p: p.name)
def test_rendered_by_dcmtk_equals_the_source(images, tmp_path, template):
    """What a viewer shows is the source image: dcmtk renders our output
    with the file's own window (gray) or as is (RGB), pixel for pixel."""
    import subprocess

    from PIL import Image

    exe = require_tool("dcmj2pnm")
    folder, expected = images
    for e in convert_files([folder / "gray8.png", folder / "rgb.png", folder / "palette.png"],
                           template, tmp_path / "out"):
        path = e["outputs"][0]
        out = tmp_path / (Path(path).stem + ".pnm")
        proc = subprocess.run([exe, "+Wi", "1", "+on", path, str(out)] if "gray" in path
                              else [exe, "+on", path, str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        with Image.open(out) as im:
            shown = np.asarray(im)
        assert np.array_equal(shown, expected[Path(e["input"]).name]), path


@pytest.mark.parametrize("template", [REPO / "templates" / "ct.dcm", REPO / "templates" / "us.dcm",
                                      Path(get_testdata_file("CT_small.dcm"))],
                         ids=lambda p: p.name)
def test_batch_fast_path_outputs_validate(template, tmp_path):
    """Outputs after the first two of a kind are filled into a stamp
    (dicom_rewrite/stamp.py); those must validate like the rest."""
    require_tool("dciodvfy")
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(11)
    expected = {}
    for i in range(4):
        gray = rng.integers(0, 256, (33, 47), dtype=np.uint8)  # odd size: padded
        rgb = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
        Image.fromarray(gray).save(folder / f"g{i}.png")
        Image.fromarray(rgb).save(folder / f"c{i}.png")
        expected[f"g{i}.png"], expected[f"c{i}.png"] = gray, rgb
    entries = list(convert_files([folder], template, tmp_path / "out"))
    uids = set()
    for entry in entries:
        (path,) = entry["outputs"]
        name = Path(entry["input"]).name
        if name[1] == "3":  # the fourth of each kind: a filled stamp
            verdict = dciodvfy(path)
            assert not verdict.errors, verdict.errors
            dcmdump_strict(path)
            gdcminfo(path)
        ds = pydicom.dcmread(path)
        assert np.array_equal(_source_values(ds), expected[name])
        uids.add(ds.SOPInstanceUID)
    assert len(uids) == 8
