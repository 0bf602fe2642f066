"""Unit and CLI tests of the core engine and `dicom-rewrite convert`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
)

import dicom_rewrite
from dicom_rewrite import Converter, Template, convert_batch, convert_files, convert_image
from dicom_rewrite.cli import main
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.engine.converter import IMPLEMENTATION_CLASS_UID
from dicom_rewrite.io.images import from_array, read_image
from dicom_rewrite.profile import Context, Identity, Profile
from tests.conftest import REPO
from tests.images import jpeg_with_orientation, make_images, multipage_tiff

CT = REPO / "templates" / "ct.dcm"
MR = REPO / "templates" / "mr.dcm"
US = REPO / "templates" / "us.dcm"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("img")
    return folder, make_images(folder)


def _tree_hash(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


class TestScrub:
    def test_stale_attributes_are_removed_or_recomputed(self, images):
        folder, expected = images
        tpl = pydicom.dcmread(CT)
        # plant everything the new pixels make stale
        tpl.ModalityLUTSequence = Sequence([Dataset()])
        tpl.VOILUTSequence = Sequence([Dataset()])
        tpl.add_new(0x60000010, "US", 10)
        tpl.add_new(0x60003000, "OW", b"\0" * 20)
        tpl.add_new(0x50000005, "US", 1)
        tpl.ICCProfile = b"fake"
        tpl.RedPaletteColorLookupTableDescriptor = [256, 0, 8]
        tpl.SmallestImagePixelValue = -2000
        tpl.LargestImagePixelValue = 3000
        tpl.BurnedInAnnotation = "NO"
        tpl.LossyImageCompression = "01"
        tpl.LossyImageCompressionRatio = 10
        tpl.SourceImageSequence = Sequence([Dataset()])
        tpl.SourceImageSequence[0].ReferencedSOPInstanceUID = tpl.SOPInstanceUID
        tpl.SourceImageSequence[0].ReferencedSOPClassUID = tpl.SOPClassUID
        assert "IconImageSequence" in tpl and "PixelPaddingValue" in tpl
        ds = convert_image(folder / "gray8.png", tpl)
        for kw in ("IconImageSequence", "ModalityLUTSequence", "VOILUTSequence", "ICCProfile",
                   "RedPaletteColorLookupTableDescriptor", "SmallestImagePixelValue",
                   "LargestImagePixelValue", "PixelPaddingValue", "BurnedInAnnotation",
                   "LossyImageCompressionRatio", "SourceImageSequence",
                   "ReferencedImageSequence", "WindowCenterWidthExplanation"):
            assert kw not in ds, kw
        assert not [t for t in ds.keys() if 0x5000 <= (t >> 16) <= 0x60FF and (t >> 16) % 2 == 0]
        assert not [t for t in ds.keys() if t.is_private]
        # recomputed for the new pixels: identity rescale, a window showing 0..255 as is
        assert (ds.RescaleIntercept, ds.RescaleSlope) == (0, 1)
        assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (128.0, 256.0)
        assert ds.LossyImageCompression == "00"

    def test_8bit_gray_into_ct_is_stored_as_16bit(self, images):
        folder, expected = images
        ds = convert_image(folder / "gray8.png", CT)
        assert ds.SOPClassUID == CTImageStorage
        assert ds.BitsAllocated == 16 and ds.BitsStored == 16 and ds.PixelRepresentation == 0
        assert np.array_equal(ds.pixel_array, expected["gray8.png"])

    def test_16bit_window_covers_the_data(self, images):
        folder, expected = images
        ds = convert_image(folder / "gray16.png", MR)
        lo, hi = int(expected["gray16.png"].min()), int(expected["gray16.png"].max())
        assert float(ds.WindowWidth) == hi - lo + 1
        assert float(ds.WindowCenter) == (lo + hi + 1) / 2
        assert "RescaleSlope" not in ds  # MR Image has no Modality LUT

    def test_rgb_into_ct_switches_to_secondary_capture(self, images, tmp_path):
        folder, _ = images
        (entry,) = convert_files([folder / "rgb.png"], CT, tmp_path)
        assert entry["sop_class"] == SecondaryCaptureImageStorage.name
        assert entry["sop_class_switched_from"] == CTImageStorage.name
        ds = pydicom.dcmread(entry["outputs"][0])
        assert ds.SOPClassUID == SecondaryCaptureImageStorage
        assert ds.PhotometricInterpretation == "RGB" and ds.PlanarConfiguration == 0
        assert ds.ConversionType == "WSD"
        assert "KVP" not in ds  # CT Image module attributes do not belong in SC

    def test_rgb_into_us_keeps_us(self, images):
        folder, expected = images
        ds = convert_image(folder / "rgb.png", US)
        assert ds.SOPClassUID == UltrasoundImageStorage
        assert np.array_equal(ds.pixel_array, expected["rgb.png"])

    def test_odd_length_pixel_data_is_padded(self):
        ds = convert_image(np.arange(9, dtype=np.uint8).reshape(3, 3), REPO / "templates" / "sc.dcm")
        assert len(ds.PixelData) == 10
        assert np.array_equal(ds.pixel_array, np.arange(9).reshape(3, 3))


class TestIdentityAndUids:
    def test_identity_is_stripped_by_default(self, images):
        folder, _ = images
        tpl = pydicom.dcmread(CT)
        ds = convert_image(folder / "gray8.png", CT)
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber",
                   "ReferringPhysicianName", "StudyID"):
            assert not ds.get(kw), kw
        assert ds.StudyDate != tpl.StudyDate
        assert ds.PatientIdentityRemoved == "YES"
        assert "InstitutionName" not in ds and "InstitutionAddress" not in ds
        # the dialect survives
        assert ds.Manufacturer == tpl.Manufacturer
        assert ds.ManufacturerModelName == tpl.ManufacturerModelName

    def test_uids_new_per_output_shared_per_batch(self, images):
        folder, _ = images
        tpl = pydicom.dcmread(CT)
        results = list(convert_batch([folder / "gray8.png", folder / "gray16.png"], CT))
        a, b = (r.datasets[0] for r in results)
        assert a.SOPInstanceUID != b.SOPInstanceUID
        assert a.StudyInstanceUID == b.StudyInstanceUID
        assert a.SeriesInstanceUID == b.SeriesInstanceUID
        assert a.FrameOfReferenceUID == b.FrameOfReferenceUID
        template_uids = {str(e.value) for e in tpl.iterall() if e.VR == "UI"} - {CTImageStorage}
        for ds in (a, b):
            used = {str(e.value) for e in ds.iterall() if e.VR == "UI"}
            assert not used & template_uids
            assert all(len(u) <= 64 for u in used)
        (c,) = next(iter(convert_batch([folder / "gray8.png"], CT))).datasets
        assert c.StudyInstanceUID != a.StudyInstanceUID  # a new batch is a new study
        assert [a.InstanceNumber, b.InstanceNumber] == [1, 2]

    def test_file_meta_matches_dataset(self, images):
        folder, _ = images
        ds = convert_image(folder / "gray8.png", CT)
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        assert ds.file_meta.ImplementationVersionName.startswith("DCMREWRITE")

    def test_non_ascii_values_get_a_character_set(self, images):
        folder, _ = images

        class Named(Profile):
            def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
                ds.PatientName = "Müller^Jörg"
                ds.StudyDescription = "肺 CT"
                return []

        ds = convert_image(folder / "gray8.png", CT, Named())
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        back = pydicom.dcmread(_roundtrip(ds))
        assert back.PatientName == "Müller^Jörg" and back.StudyDescription == "肺 CT"

    def test_template_character_set_kept_when_it_fits(self, images):
        folder, _ = images
        ds = convert_image(folder / "gray8.png", CT, Profile(identity=Identity.KEEP))
        assert ds.SpecificCharacterSet == "ISO_IR 100"
        back = pydicom.dcmread(_roundtrip(ds))
        assert back.InstitutionName == pydicom.dcmread(CT).InstitutionName


def _roundtrip(ds: Dataset):
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return buf


class TestImageInputs:
    def test_every_kind_keeps_its_values(self, images):
        folder, expected = images
        for name, want in expected.items():
            (raster,) = read_image(folder / name)
            assert np.array_equal(raster.array, want), name
            assert raster.array.dtype == (np.uint16 if want.dtype == np.uint16 else np.uint8)

    def test_exif_orientation_is_applied(self, tmp_path):
        arr = np.zeros((20, 40, 3), np.uint8)
        arr[:, :20] = 255  # left half white
        jpeg_with_orientation(tmp_path / "rot.jpg", arr, 6)  # 90° clockwise to display
        (raster,) = read_image(tmp_path / "rot.jpg", keep_color=True)  # black and white RGB
        assert raster.array.shape == (40, 20, 3)
        assert raster.array[:20].mean() > 200 and raster.array[20:].mean() < 50
        assert raster.lossy_method == "ISO_10918_1"

    def test_multipage_tiff_gives_one_file_per_page(self, tmp_path):
        pages = [np.full((8, 8), v, np.uint16) for v in (100, 2000, 40000)]
        multipage_tiff(tmp_path / "stack.tif", pages)
        (entry,) = convert_files([tmp_path / "stack.tif"], MR, tmp_path / "out")
        names = [Path(p).name for p in entry["outputs"]]
        assert names == ["stack_p0001.dcm", "stack_p0002.dcm", "stack_p0003.dcm"]
        for path, page in zip(entry["outputs"], pages):
            assert np.array_equal(pydicom.dcmread(path).pixel_array, page)

    def test_translucent_alpha_is_composited_over_black(self, tmp_path):
        rgba = np.zeros((4, 4, 4), np.uint8)
        rgba[..., 0] = 200
        rgba[..., 3] = 128
        Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
        (raster,) = read_image(tmp_path / "a.png")
        assert raster.array.shape == (4, 4, 3)
        assert int(raster.array[0, 0, 0]) == round(200 * 128 / 255)
        assert any("composited" in n for n in raster.notes)

    def test_16bit_colour_png_is_refused(self, tmp_path):
        import struct
        import zlib

        # a minimal 16-bit RGB PNG, written by hand (Pillow cannot write one)
        raw = b"".join(b"\0" + b"\x01\x00" * 3 * 2 for _ in range(2))
        ihdr = struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(
                ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
        (tmp_path / "rgb48.png").write_bytes(png)
        with pytest.raises(dicom_rewrite.PixelDataError, match="16-bit colour PNG"):
            read_image(tmp_path / "rgb48.png")

    def test_lossy_source_is_flagged(self, images):
        folder, _ = images
        ds = convert_image(folder / "rgb.jpg", CT)
        assert ds.LossyImageCompression == "01"
        assert ds.LossyImageCompressionMethod == "ISO_10918_1"
        assert float(ds.LossyImageCompressionRatio) > 1

    def test_images_wider_than_dicom_allows_are_refused(self):
        with pytest.raises(dicom_rewrite.PixelDataError, match="1..65535"):
            convert_image(np.zeros((1, 70000), np.uint8), CT)

    def test_float_arrays_are_refused_with_a_pointer_to_series(self):
        with pytest.raises(dicom_rewrite.PixelDataError, match="series"):
            from_array(np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("alias,uid", [
    ("rle", RLELossless), ("jpeg-ls-lossless", JPEGLSLossless), ("jpeg2000-lossless", JPEG2000Lossless),
])
@pytest.mark.parametrize("name", ["gray8.png", "gray16.png", "rgb.png"])
def test_lossless_transfer_syntaxes_round_trip(images, tmp_path, alias, uid, name):
    folder, expected = images
    (entry,) = convert_files([folder / name], CT, tmp_path, transfer_syntax=alias)
    ds = pydicom.dcmread(entry["outputs"][0])
    assert ds.file_meta.TransferSyntaxUID == uid
    assert np.array_equal(ds.pixel_array, expected[name])
    assert ds.get("LossyImageCompression", "00") == "00"


class TestBatch:
    def test_template_is_parsed_once_per_batch(self, images, tmp_path, monkeypatch):
        folder, expected = images
        calls = []
        import dicom_rewrite.engine.template as engine

        real = engine.dcmread
        monkeypatch.setattr(engine, "dcmread", lambda *a, **k: calls.append(a) or real(*a, **k))
        entries = list(convert_files([folder], CT, tmp_path))
        assert len(entries) == len(expected) and len(calls) == 1

    def test_same_stem_never_overwrites(self, tmp_path, images):
        folder, _ = images
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        for sub in "ab":
            (tmp_path / sub / "x.png").write_bytes((folder / "gray8.png").read_bytes())
        out = tmp_path / "out"
        out.mkdir()
        (out / "x.dcm").write_bytes(b"precious")
        entries = list(convert_files([tmp_path / "a", tmp_path / "b"], CT, out))
        assert [Path(e["outputs"][0]).name for e in entries] == ["x_2.dcm", "x_3.dcm"]
        assert (out / "x.dcm").read_bytes() == b"precious"

    def test_dangling_symlink_is_not_replaced(self, images, tmp_path):
        folder, _ = images
        out = tmp_path / "out"
        out.mkdir()
        (out / "gray8.dcm").symlink_to(tmp_path / "nowhere")
        (entry,) = convert_files([folder / "gray8.png"], CT, out)
        assert Path(entry["outputs"][0]).name == "gray8_2.dcm"
        assert (out / "gray8.dcm").is_symlink()

    def test_outputs_get_ordinary_file_permissions(self, images, tmp_path):
        """0666 less the umask, as any new file (not mkstemp's 0600)."""
        import os
        import stat

        folder, _ = images
        old = os.umask(0o027)
        try:
            (entry,) = convert_files([folder / "gray8.png"], CT, tmp_path / "out")
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(entry["outputs"][0]).st_mode) == 0o640
        assert [p.name for p in (tmp_path / "out").iterdir()] == ["gray8.dcm"]

    def test_crash_while_writing_leaves_no_partial_file(self, images, tmp_path, monkeypatch):
        folder, _ = images

        from dicom_rewrite.io import files

        def boom(data, f):
            f.write(data[: len(data) // 2])
            raise OSError("disk full")

        monkeypatch.setattr(files, "_write_all", boom)
        (entry,) = convert_files([folder / "gray8.png"], CT, tmp_path / "out")
        assert entry["status"] == "error" and "disk full" in entry["error"]
        assert list((tmp_path / "out").iterdir()) == []

    def test_converter_is_reusable_and_library_first(self, images):
        folder, expected = images
        conv = Converter(Template.load(CT))
        outs = [conv.convert(from_array(expected[n]), index=i) for i, n in enumerate(["gray8.png", "gray16.png"], 1)]
        assert outs[0].dataset.SeriesInstanceUID == outs[1].dataset.SeriesInstanceUID


class TestCli:
    def test_convert_writes_report_and_exit_0(self, images, tmp_path, capsys):
        folder, expected = images
        before = _tree_hash(folder)
        rc = main(["convert", str(folder), "--template", str(CT), "--out", str(tmp_path / "out"),
                   "--report", str(tmp_path / "r.json")])
        assert rc == 0
        report = json.loads((tmp_path / "r.json").read_text())
        assert len(report) == len(expected)
        assert all(e["status"] == "ok" and len(e["outputs"]) == 1 for e in report)
        assert _tree_hash(folder) == before  # inputs never modified
        for e in report:
            assert Path(e["outputs"][0]).parent == (tmp_path / "out").resolve()
        # the UIDs in the report are those of the files (filled outputs included)
        for e in report:
            (path,) = e["outputs"]
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            assert e["sop_instance_uids"] == [ds.SOPInstanceUID]
            assert (e["study_instance_uid"], e["series_instance_uid"]) == (
                ds.StudyInstanceUID, ds.SeriesInstanceUID)
        assert len({e["series_instance_uid"] for e in report}) == 1
        assert len({u for e in report for u in e["sop_instance_uids"]}) == len(report)

    def test_bad_input_exit_1_rest_written(self, images, tmp_path, capsys):
        folder, _ = images
        bad = tmp_path / "broken.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        rc = main(["convert", str(folder / "gray8.png"), str(bad), "--template", str(CT),
                   "--out", str(tmp_path / "out"), "--report", str(tmp_path / "r.json")])
        assert rc == 1
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if "error" in ln]
        assert any(str(bad) in ln for ln in lines)
        assert f"{bad}: {bad}" not in err  # the file is named once
        assert "Traceback" not in err
        assert (tmp_path / "out" / "gray8.dcm").exists()
        report = json.loads((tmp_path / "r.json").read_text())
        assert [e["status"] for e in report] == ["ok", "error"]

    @pytest.mark.parametrize("make_template,message", [
        (lambda p: p.write_bytes(b"not dicom at all"), "not a readable DICOM"),
        (lambda p: None, "template not found"),
        (lambda p: p.write_bytes(Path(get_testdata_file("reportsi.dcm")).read_bytes()), "no image pixels"),
    ])
    def test_bad_template_exit_2_nothing_written(self, images, tmp_path, capsys, make_template, message):
        folder, _ = images
        tpl = tmp_path / "tpl.dcm"
        make_template(tpl)
        rc = main(["convert", str(folder), "--template", str(tpl), "--out", str(tmp_path / "out")])
        assert rc == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err and str(tpl) in err
        assert not (tmp_path / "out").exists()

    def test_dry_run_prints_diff_and_writes_nothing(self, images, tmp_path, capsys):
        folder, _ = images
        rc = main(["convert", str(folder / "gray8.png"), "--template", str(CT), "--dry-run",
                   "--out", str(tmp_path / "out")])
        assert rc == 0
        out = capsys.readouterr().out
        assert "(0010,0010) PatientName" in out and "<redacted>" in out
        assert "DOE^JANE" not in out and "TPL-000123" not in out
        assert "(0028,0100) BitsAllocated" not in out  # unchanged: both 16
        assert "(0028,1053) RescaleSlope" not in out
        assert "SOPInstanceUID" in out
        assert not (tmp_path / "out").exists()

    def test_missing_out_is_a_usage_error(self, images, capsys):
        folder, _ = images
        assert main(["convert", str(folder), "--template", str(CT)]) == 2
        assert "--out" in capsys.readouterr().err


class TestOutputLayout:
    @staticmethod
    def _tree(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.dcm"))

    def _inputs(self, tmp_path: Path) -> Path:
        src = tmp_path / "in"
        for rel in ("a/x.png", "b/x.png", "c/d/y.png", "we:ird/w.png", "z.png"):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((4, 5), 7, np.uint8)).save(src / rel)
        return src

    def test_flat_by_default_keep_tree_mirrors_folders(self, tmp_path):
        src = self._inputs(tmp_path)
        list(convert_files([src], CT, tmp_path / "flat"))
        assert self._tree(tmp_path / "flat") == ["w.dcm", "x.dcm", "x_2.dcm", "y.dcm", "z.dcm"]
        rc = main(["convert", str(src), str(src / "z.png"), "--template", str(CT),
                   "--out", str(tmp_path / "tree"), "--keep-tree"])
        assert rc == 0
        # files named on the command line go to the top of --out
        assert self._tree(tmp_path / "tree") == [
            "a/x.dcm", "b/x.dcm", "c/d/y.dcm", "we_ird/w.dcm", "z.dcm", "z_2.dcm"]

    def test_overwrite_replaces_earlier_runs_only(self, tmp_path):
        src = self._inputs(tmp_path)
        out = tmp_path / "out"
        list(convert_files([src], CT, out))
        list(convert_files([src], CT, out))
        assert "x_3.dcm" in self._tree(out)  # default: nothing overwritten
        for p in out.glob("*.dcm"):
            p.unlink()
        list(convert_files([src], CT, out))
        first = (out / "x.dcm").read_bytes()
        rc = main(["convert", str(src), "--template", str(CT), "--out", str(out), "--overwrite"])
        assert rc == 0
        # same names as one run (inputs sharing a stem in this run still get _2)
        assert self._tree(out) == ["w.dcm", "x.dcm", "x_2.dcm", "y.dcm", "z.dcm"]
        assert (out / "x.dcm").read_bytes() != first  # a new file (new UIDs)
        assert not list(out.glob(".*.part"))
