"""JPEG inputs kept as their own bitstream (``--transfer-syntax jpeg-baseline``),
re-encoded when DICOM cannot hold them, and lossy outputs of other inputs:
validated by dciodvfy, dcmtk and GDCM, pixels against Pillow's decode of the
source, and the lossy bookkeeping (PS3.3 C.7.6.1.1.5)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageOps
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array

from dicom_rewrite import convert_files
from dicom_rewrite.encode.syntax import Options
from dicom_rewrite.errors import CodecUnavailableError
from dicom_rewrite.io import jpeg
from tests.conftest import REPO
from tests.interop import dciodvfy, dcmdump_strict, gdcminfo, require_tool

pytestmark = pytest.mark.interop

H, W = 40, 56

#: inputs stored as they are, and those DICOM cannot hold (re-encoded)
KEPT = ("photo.jpg", "gray.jpg", "photo444.jpg")
TRANSCODED = ("cmyk.jpg", "progressive.jpg", "rotated.jpg")

TEMPLATES = [*sorted((REPO / "templates").glob("*.dcm")),
             *(Path(get_testdata_file(n)) for n in
               ("CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "examples_ybr_color.dcm", "JPEG-lossy.dcm"))]


def _rgb() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return np.dstack([(x * 4) % 256, (y * 6) % 256, (x + y) * 2 % 256]).astype(np.uint8)


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("jpegs")
    rgb = _rgb()
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x010F] = "CameraMaker"  # EXIF without orientation: removed from the stream
    im.save(folder / "photo.jpg", quality=85, exif=exif, comment=b"a comment")  # 4:2:0 JFIF
    im.save(folder / "photo444.jpg", quality=85, subsampling=0)
    Image.fromarray(rgb[..., 1]).save(folder / "gray.jpg", quality=85)
    im.convert("CMYK").save(folder / "cmyk.jpg", quality=85)
    im.save(folder / "progressive.jpg", quality=85, progressive=True)
    rotated = im.getexif()
    rotated[0x0112] = 6  # EXIF orientation: rotate 90 degrees to be upright
    im.save(folder / "rotated.jpg", quality=85, exif=rotated)
    return folder


def _upright(path: Path) -> np.ndarray:
    """Pillow's decode of the source as a viewer shows it."""
    with Image.open(path) as im:
        shown = ImageOps.exif_transpose(im)
        return np.asarray(shown.convert("L" if im.mode == "L" else "RGB"))


def _after_sof(data: bytes) -> bytes:
    """The stream from its frame header to EOI (an oracle independent of io.jpeg)."""
    start = data.index(b"\xff\xc0")
    return data[start:data.rindex(b"\xff\xd9") + 2]


#: transfer syntax -> the dcmtk tool that decodes it (dcmtk has no JPEG 2000)
_DCMTK_DECODER = {"1.2.840.10008.1.2.4.50": "dcmj2pnm", "1.2.840.10008.1.2.4.51": "dcmj2pnm",
                  "1.2.840.10008.1.2.4.81": "dcml2pnm"}


def _values(value: object) -> list[str]:
    """A DICOM value as a list of its values (one or many)."""
    return [str(v) for v in value] if isinstance(value, pydicom.multival.MultiValue) else [str(value)]


def _check_valid(path: str) -> None:
    """0 dciodvfy errors, strict dcmdump, and dcmtk and GDCM decode every frame."""
    verdict = dciodvfy(path)
    assert not verdict.errors, f"{path}: " + " | ".join(verdict.errors)
    dcmdump_strict(path)
    gdcminfo(path)
    tsyntax = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    commands = [[require_tool("gdcmconv"), "--raw", path, path + ".raw.dcm"]]
    if tsyntax in _DCMTK_DECODER:
        commands.append([require_tool(_DCMTK_DECODER[tsyntax]), "+Fa", "+on", path, path + ".pnm"])
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True)
        assert proc.returncode == 0 and "E:" not in proc.stderr, (command, proc.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_jpeg_inputs_over_every_template(jpegs, template, tmp_path):
    entries = {Path(e["input"]).name: e for e in convert_files(
        [jpegs], template, tmp_path, transfer_syntax="jpeg-baseline")}
    assert set(entries) == {*KEPT, *TRANSCODED}
    for name, entry in entries.items():
        assert entry["status"] == "ok", entry.get("error")
        (path,) = entry["outputs"]
        _check_valid(path)
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
        (fragment,) = generate_frames(ds.PixelData, number_of_frames=1)
        source = (jpegs / name).read_bytes()
        shown = _upright(jpegs / name)
        decoded = ds.pixel_array.astype(int)
        raw = ds.Rows * ds.Columns * ds.SamplesPerPixel
        assert ds.LossyImageCompression == "01"
        methods = _values(ds.LossyImageCompressionMethod)
        ratios = [float(r) for r in _values(ds.LossyImageCompressionRatio)]
        assert ratios[-1] == pytest.approx(raw / len(fragment), abs=0.01)
        if name in KEPT:
            # the stream as is: frame header, tables and scan byte for byte
            assert _after_sof(fragment) == _after_sof(source)
            assert fragment == jpeg.for_dicom(source)
            assert b"CameraMaker" not in fragment and b"a comment" not in fragment
            assert Path(path).stat().st_size < len(source) + 4096
            assert methods == ["ISO_10918_1"]
            # the source's decoder (Pillow, through pydicom's pillow plugin)
            # shows the DICOM as the file; other plugins (pylibjpeg) differ in
            # 4:2:0 chroma upsampling, so they are not the oracle here
            pillow = pixel_array(ds, decoding_plugin="pillow").astype(int)
            assert np.abs(pillow - shown).max() <= 1, name
            expected_pi = "MONOCHROME2" if name == "gray.jpg" else "YBR_FULL_422"
            assert ds.PhotometricInterpretation == expected_pi
        else:
            assert any("transcoded" in n for n in entry["notes"]), entry["notes"]
            assert methods == ["ISO_10918_1", "ISO_10918_1"]  # the source's, then ours
            assert decoded.shape == shown.shape  # rotated upright
            assert np.abs(decoded - shown).mean() < 2 and np.abs(decoded - shown).max() <= 16, name


def test_passthrough_only_refuses_what_needs_re_encoding(jpegs, tmp_path):
    Image.fromarray(_rgb()).save(jpegs.parent / "plain.png")
    inputs = [jpegs / n for n in (*KEPT, *TRANSCODED)] + [jpegs.parent / "plain.png"]
    entries = list(convert_files(inputs, REPO / "templates" / "sc.dcm", tmp_path,
                                 transfer_syntax="jpeg-baseline", passthrough_only=True))
    status = {Path(e["input"]).name: e for e in entries}
    for name in KEPT:
        assert status[name]["status"] == "ok"
    for name in (*TRANSCODED, "plain.png"):
        error = status[name]["error"]
        assert status[name]["status"] != "ok" and name in error and "--passthrough-only" in error
    assert "EXIF orientation 6" in status["rotated.jpg"]["error"]
    assert "CMYK" in status["cmyk.jpg"]["error"]
    assert "progressive" in status["progressive.jpg"]["error"]


def test_stream_photometric():
    info = jpeg.parse(_jpeg(_rgb(), subsampling=0))
    assert (info.process, info.samples, info.photometric) == ("baseline", 3, "YBR_FULL_422")
    assert info.components[0][1:] == (1, 1)
    assert jpeg.parse(_jpeg(_rgb(), subsampling=2)).components[0][1:] == (2, 2)
    assert jpeg.parse(_jpeg(_rgb()[..., 0])).photometric == "MONOCHROME2"
    # Adobe APP14 with transform 0: the components are R, G, B
    adobe = _jpeg(_rgb(), subsampling=0, mode="CMYK")
    assert jpeg.parse(adobe).photometric is None and jpeg.parse(adobe).adobe_transform is not None
    assert "progressive" in jpeg.parse(_jpeg(_rgb(), progressive=True)).not_storable(False)


def _jpeg(arr: np.ndarray, mode: str = "", **kw: object) -> bytes:
    import io

    buf = io.BytesIO()
    im = Image.fromarray(arr)
    (im.convert(mode) if mode else im).save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def _smooth() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return (x * 2 + y + 20).astype(np.uint8)  # no edges: lossy coders do well


@pytest.mark.parametrize("alias,tolerance,method", [
    ("jpeg-baseline", 6, "ISO_10918_1"),
    ("jpeg-ls-near-lossless", 3, "ISO_14495_1"),  # NEAR 3: the largest error, by definition
    ("jpeg2000", 12, "ISO_15444_1"),
])
def test_lossy_encoding_of_other_inputs(tmp_path, alias, tolerance, method):
    gray, rgb = _smooth(), np.dstack([_smooth(), _smooth()[::-1], _smooth()[:, ::-1]])
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    for e in convert_files([tmp_path / "gray.png", tmp_path / "rgb.png"], REPO / "templates" / "us.dcm",
                           tmp_path / "out", transfer_syntax=alias,
                           encoding=Options(quality=90, near=3, ratio=8)):
        assert e["status"] == "ok", e.get("error")
        (path,) = e["outputs"]
        _check_valid(path)
        ds = pydicom.dcmread(path)
        source = gray if "gray" in path else rgb
        error = np.abs(ds.pixel_array.astype(int) - source)
        assert error.max() <= tolerance and error.mean() < 2, (error.max(), error.mean())
        assert (ds.LossyImageCompression, ds.LossyImageCompressionMethod) == ("01", method)
        frames = list(generate_frames(ds.PixelData, number_of_frames=1))
        assert float(ds.LossyImageCompressionRatio) == pytest.approx(
            source.size / len(frames[0]), abs=0.01)


def test_sixteen_bit_to_jpeg_baseline_is_one_clear_error(tmp_path):
    Image.fromarray(_smooth().astype(np.uint16) * 200).save(tmp_path / "g16.png")
    (entry,) = convert_files([tmp_path / "g16.png"], REPO / "templates" / "mr.dcm", tmp_path / "out",
                             transfer_syntax="jpeg-baseline")
    assert entry["status"] != "ok" and "8-bit" in entry["error"] and "g16.png" in entry["error"]


def test_htj2k_without_an_encoder_is_refused_before_any_output(tmp_path):
    from pydicom.pixels import get_encoder
    from pydicom.uid import HTJ2KLossless

    try:
        if get_encoder(HTJ2KLossless).is_available:
            pytest.skip("an HTJ2K encoder is installed: htj2k-lossless is written")
    except NotImplementedError:
        pass
    Image.fromarray(_smooth()).save(tmp_path / "g.png")
    with pytest.raises(CodecUnavailableError, match="High-Throughput"):
        list(convert_files([tmp_path / "g.png"], REPO / "templates" / "sc.dcm", tmp_path / "out",
                           transfer_syntax="htj2k-lossless"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_twelve_bit_jpeg_kept_as_jpeg_extended(tmp_path):
    """A 12-bit gray JPEG (Pillow cannot read it) goes into a CT as JPEG
    Extended, its stream as is, Bits Allocated 16 / Stored 12."""
    src = pydicom.dcmread(get_testdata_file("JPGExtended.dcm"))
    (stream,) = generate_frames(src.PixelData, number_of_frames=1)
    (tmp_path / "ct12.jpg").write_bytes(stream)
    (entry,) = convert_files([tmp_path / "ct12.jpg"], REPO / "templates" / "ct.dcm", tmp_path / "out",
                             transfer_syntax="jpeg-extended")
    assert entry["status"] == "ok", entry.get("error")
    path = entry["outputs"][0]
    _check_valid(path)
    ds = pydicom.dcmread(path)
    assert (ds.SOPClassUID.name, ds.BitsAllocated, ds.BitsStored) == ("CT Image Storage", 16, 12)
    assert list(generate_frames(ds.PixelData, number_of_frames=1)) == [jpeg.for_dicom(stream)]
    assert np.array_equal(ds.pixel_array, src.pixel_array)
