"""Tests of ``dicom-rewrite export`` (library and CLI)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.fileset import FileSet

from dicom_rewrite import export as export_api
from dicom_rewrite.cli import main
from dicom_rewrite.errors import UsageError
from dicom_rewrite.render import windowing

TEST_FILES = Path(get_testdata_file("CT_small.dcm")).parent
DICOMDIR = TEST_FILES / "dicomdirtests" / "DICOMDIR"


def copy_test_file(name: str, dest: Path, new_name: str | None = None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / (new_name or Path(name).name)
    shutil.copyfile(get_testdata_file(name), target)
    return target


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


class TestDicomdir:
    def test_every_image_instance_is_exported(self, tmp_path):
        out = tmp_path / "out"
        report = tmp_path / "report.json"
        rc = main(["export", str(DICOMDIR), "--out", str(out), "--report", str(report)])
        assert rc == 0
        fs = FileSet(pydicom.dcmread(DICOMDIR))
        expected = {str(Path(inst.path)) for inst in fs}
        entries = json.loads(report.read_text())
        assert {e["input"] for e in entries} == expected
        assert all(e["status"] == "ok" and e["dicomdir"] == str(DICOMDIR) for e in entries)
        outputs = [Path(o) for e in entries for o in e["outputs"]]
        assert len(outputs) == len(expected) == len(set(outputs))
        assert all_files(out) == set(outputs)
        # default template: PatientID/StudyDate/SeriesNumber/InstanceNumber
        first = next(e for e in entries if e["input"].endswith("77654033/CR1/6154"))
        ds = pydicom.dcmread(first["input"], stop_before_pixels=True)
        assert Path(first["outputs"][0]) == (
            out / ds.PatientID / ds.StudyDate / str(ds.SeriesNumber) / f"{ds.InstanceNumber}.png"
        ).resolve()

    def test_dicomdir_inside_a_folder_walk_is_skipped_not_doubled(self, tmp_path):
        media = tmp_path / "media"
        shutil.copytree(DICOMDIR.parent / "98892003", media / "98892003")
        shutil.copyfile(DICOMDIR, media / "DICOMDIR")
        (media / "notes.txt").write_text("not dicom")
        entries = list(export_api.export([media], tmp_path / "out"))
        by_name = {Path(e["input"]).name: e for e in entries}
        assert by_name["DICOMDIR"]["status"] == "skipped"
        assert by_name["notes.txt"] == {
            "input": str(media / "notes.txt"), "outputs": [], "status": "skipped", "error": None,
            "reason": "not a DICOM file",
        }
        images = [e for e in entries if e["status"] == "ok"]
        n_files = sum(1 for p in (media / "98892003").rglob("*") if p.is_file())
        assert len(images) == n_files == 17


class TestHostileNames:
    @pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
    def test_patient_id_cannot_escape_out(self, tmp_path):
        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        ds.PatientID = "../../x"
        ds.StudyDate = "/etc"
        ds.SeriesNumber = None
        ds.InstanceNumber = None
        src = tmp_path / "in" / "hostile.dcm"
        src.parent.mkdir()
        ds.save_as(src)
        out = tmp_path / "deep" / "out"
        before = all_files(tmp_path)
        entries = list(export_api.export([src], out))
        assert entries[0]["status"] == "ok"
        written = all_files(tmp_path) - before
        assert written == {(out / "_.._x" / "_etc" / "unknown" / "unknown.png").resolve()}
        for path in written:
            assert out.resolve() in path.parents

    def test_reserved_and_control_characters_in_template_values(self, tmp_path):
        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        ds.PatientID = "CON"
        ds.PatientName = "a\x01b\\c"
        src = tmp_path / "h.dcm"
        ds.save_as(src)
        entries = list(export_api.export([src], tmp_path / "out", name="/{PatientID}/../{PatientName}_{stem}"))
        assert Path(entries[0]["outputs"][0]) == (tmp_path / "out" / "CON_" / "unknown" / "a_b_c_h.png").resolve()

    @pytest.mark.parametrize(
        ("template", "match"),
        [("{NotAKeyword}", "'NotAKeyword' is not a DICOM keyword"), ("{PatientID.x}", "must be a DICOM keyword"),
         ("{0}", "must be a DICOM keyword"), ("{PatientID!r}", "must be a DICOM keyword"), ("//", "empty")],
    )
    def test_bad_template_is_a_usage_error(self, tmp_path, template, match):
        with pytest.raises(UsageError, match=match):
            export_api.export([get_testdata_file("MR_small.dcm")], tmp_path / "out", name=template)
        assert not (tmp_path / "out").exists()


class TestBatchErrors:
    def test_truncated_file_one_line_error_and_batch_goes_on(self, tmp_path, capsys):
        good = copy_test_file("CT_small.dcm", tmp_path / "in")
        bad = tmp_path / "in" / "truncated.dcm"
        data = Path(get_testdata_file("MR_small.dcm")).read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        header_only = tmp_path / "in" / "header.dcm"
        header_only.write_bytes(data[:300])
        hashes = {p: digest(p) for p in (good, bad, header_only)}
        out = tmp_path / "out"
        rc = main(["export", str(tmp_path / "in"), "--out", str(out), "--report", str(tmp_path / "r.json")])
        assert rc == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        bad_lines = [ln for ln in lines if "truncated.dcm" in ln]
        assert len(bad_lines) == 1 and bad_lines[0].startswith(f"dicom-rewrite: error: {bad}: ")
        assert len([ln for ln in lines if "header.dcm" in ln]) == 1
        assert lines[-1] == "dicom-rewrite: 1 input(s) done, 2 failed"
        entries = json.loads((tmp_path / "r.json").read_text())
        status = {Path(e["input"]).name: e["status"] for e in entries}
        assert status == {"CT_small.dcm": "ok", "header.dcm": "error", "truncated.dcm": "error"}
        assert len(all_files(out)) == 1
        assert {p: digest(p) for p in hashes} == hashes  # inputs never modified

    def test_pydicom_truncated_test_file(self, tmp_path):
        entry = next(export_api.export([get_testdata_file("MR_truncated.dcm")], tmp_path / "out"))
        assert entry["status"] == "error" and "\n" not in entry["error"]
        assert "less than expected (8130 vs 8192 bytes)" in entry["error"]

    def test_explicit_non_dicom_file_is_an_error(self, tmp_path):
        p = tmp_path / "x.dcm"
        p.write_text("hello")
        entry = next(export_api.export([p], tmp_path / "out"))
        assert entry["status"] == "error" and entry["error"] == "not a DICOM file (no 'DICM' prefix at byte 128)"

    def test_missing_input(self, tmp_path, capsys):
        rc = main(["export", str(tmp_path / "nope.dcm"), "--out", str(tmp_path / "out")])
        assert rc == 1
        assert f"{tmp_path / 'nope.dcm'}: no such file or folder" in capsys.readouterr().err

    def test_missing_decoder_plugin_is_named(self, tmp_path, monkeypatch):
        from pydicom.pixels.decoders.base import Decoder

        monkeypatch.setattr(Decoder, "is_available", property(lambda self: not self.UID.is_compressed))
        monkeypatch.setattr(
            Decoder, "missing_dependencies", property(lambda self: ["pylibjpeg - requires pylibjpeg-rle"])
        )
        entries = list(export_api.export(
            [get_testdata_file("MR_small_RLE.dcm"), get_testdata_file("MR_small.dcm")], tmp_path / "out"
        ))
        assert entries[0]["status"] == "error"
        assert entries[0]["error"] == (
            "cannot decode RLE Lossless: no decoder plugin installed (pylibjpeg - requires pylibjpeg-rle)"
        )
        assert entries[1]["status"] == "ok"

    @pytest.mark.parametrize(
        ("args", "match"),
        [(["--window", "40"], "--window '40': expected CENTER,WIDTH"),
         (["--window-index", "0"], "--window-index 0: window numbers start at 1"),
         (["--frames", "0"], "--frames '0': frame numbers start at 1"),
         (["--name", "{Nope}"], "'Nope' is not a DICOM keyword")],
    )
    def test_usage_errors_exit_2(self, tmp_path, capsys, args, match):
        out = tmp_path / "out"
        rc = main(["export", get_testdata_file("MR_small.dcm"), "--out", str(out), *args])
        err = capsys.readouterr().err
        assert rc == 2 and match in err and len(err.strip().splitlines()) == 1
        assert not out.exists()

    def test_window_index_missing_in_one_file_is_per_file(self, tmp_path):
        entries = list(export_api.export(
            [get_testdata_file("examples_overlay.dcm"), get_testdata_file("MR_small.dcm")],
            tmp_path / "out", window_index=1,
        ))
        assert [e["status"] for e in entries] == ["ok", "error"]
        assert entries[1]["error"].startswith("window index 2 does not exist")


class TestPng16:
    @pytest.mark.parametrize("name", ["MR_small.dcm", "CT_small.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                      "JPGExtended.dcm", "image_dfl.dcm"])
    def test_stored_values_round_trip(self, tmp_path, name):
        ds = pydicom.dcmread(get_testdata_file(name))
        entry = next(export_api.export([get_testdata_file(name)], tmp_path / "out", format="png16"))
        assert entry["status"] == "ok", entry
        with Image.open(entry["outputs"][0]) as im:
            assert im.format == "PNG" and im.mode in ("I;16", "I")
            back = np.asarray(im).astype(np.int64)
        stored = ds.pixel_array.astype(np.int64)
        if ds.PixelRepresentation == 1:
            back = np.where(back >= 32768, back - 65536, back)
        assert np.array_equal(back, stored)

    def test_color_is_refused(self, tmp_path):
        entry = next(export_api.export([get_testdata_file("SC_rgb_rle.dcm")], tmp_path / "out", format="png16"))
        assert entry["status"] == "error"
        assert entry["error"] == (
            "png16 holds grayscale stored values; (0028,0002) Samples per Pixel is 3 (use --format png)"
        )


class TestReportAndNames:
    def test_report_sidecar_and_rendering(self, tmp_path):
        src = get_testdata_file("CT_small.dcm")
        report = tmp_path / "r.json"
        rc = main(["export", src, "--out", str(tmp_path / "out"), "--window", "lung", "--sidecar",
                   "--report", str(report), "--name", "{Modality}/{stem}"])
        assert rc == 0
        (entry,) = json.loads(report.read_text())
        out = (tmp_path / "out" / "CT" / "CT_small.png").resolve()
        assert entry["input"] == src and entry["status"] == "ok" and entry["error"] is None
        assert entry["outputs"] == [str(out)] and entry["frames"] == [1]
        t = entry["transforms"][0]
        assert (t["voi_source"], t["window_center"], t["window_width"], t["inverted"]) == (
            "explicit window", -600.0, 1500.0, False)
        assert (t["modality_lut"], t["rescale_intercept"]) == ("rescale", -1024.0)
        side = json.loads(out.with_suffix(".json").read_text())
        assert side["output"] == str(out) and side["window_center"] == -600.0
        ds = pydicom.dcmread(src)
        assert np.array_equal(read_png(out), windowing.render(ds, window=(-600, 1500)))
        assert np.array_equal(read_png(out), export_api.render_frame(ds, window=(-600, 1500)))

    def test_multiframe_names_and_frame_selection(self, tmp_path):
        src = get_testdata_file("SC_rgb_rle_2frame.dcm")
        ds = pydicom.dcmread(src)
        entry = next(export_api.export([src], tmp_path / "a", name="{stem}"))
        assert [Path(p).name for p in entry["outputs"]] == ["SC_rgb_rle_2frame_f0001.png",
                                                          "SC_rgb_rle_2frame_f0002.png"]
        arrs = [read_png(Path(p)) for p in entry["outputs"]]
        assert arrs[0].shape == (100, 100, 3)
        assert np.array_equal(arrs[1], ds.pixel_array[1])
        entry = next(export_api.export([src], tmp_path / "b", name="{stem}-{frame:03d}", frames="2"))
        assert [Path(p).name for p in entry["outputs"]] == ["SC_rgb_rle_2frame-002.png"]
        entry = next(export_api.export([src], tmp_path / "c", frames="3"))
        assert entry["status"] == "error"
        assert entry["error"] == "frame 3 does not exist: (0028,0008) Number of Frames is 2"

    def test_collisions_never_overwrite(self, tmp_path):
        a = copy_test_file("MR_small.dcm", tmp_path / "in" / "a")
        b = copy_test_file("MR_small.dcm", tmp_path / "in" / "b")
        out = tmp_path / "out"
        entries = list(export_api.export([a, b], out, name="{stem}"))
        names = [Path(e["outputs"][0]).name for e in entries]
        assert names == ["MR_small.png", "MR_small_2.png"]
        first = out / "MR_small.png"
        first_hash = digest(first)
        again = next(export_api.export([a], out, name="{stem}", format="jpeg"))
        assert Path(again["outputs"][0]).name == "MR_small.jpg"
        third = next(export_api.export([a], out, name="{stem}"))
        assert Path(third["outputs"][0]).name == "MR_small_3.png"
        assert digest(first) == first_hash

    def test_same_file_twice_in_one_run(self, tmp_path):
        src = get_testdata_file("MR_small.dcm")
        entries = list(export_api.export([src, src], tmp_path / "out"))
        assert [e["status"] for e in entries] == ["ok", "skipped"]
        assert entries[1]["reason"] == "already exported in this run"

    def test_jpeg_output(self, tmp_path):
        rc = main(["export", get_testdata_file("examples_ybr_color.dcm"), "--out", str(tmp_path / "o"),
                   "--format", "jpeg", "--frames", "1,30", "--name", "{stem}"])
        assert rc == 0
        files = sorted((tmp_path / "o").iterdir())
        assert [f.name for f in files] == ["examples_ybr_color_f0001.jpg", "examples_ybr_color_f0030.jpg"]
        ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))
        with Image.open(files[0]) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (ds.Columns, ds.Rows)
            got = np.asarray(im).astype(int)
        assert np.abs(got - export_api.render_frame(ds, 0).astype(int)).mean() < 2

    def test_monochrome1_is_inverted_in_the_output(self, tmp_path):
        src = TEST_FILES / "dicomdirtests" / "77654033" / "CR1" / "6154"
        ds = pydicom.dcmread(src)
        entry = next(export_api.export([src], tmp_path / "out", window_index=0, sidecar=True))
        got = read_png(Path(entry["outputs"][0]))
        values = windowing.modality_values(ds, ds.pixel_array)
        plain = windowing.linear_window(values, float(ds.WindowCenter), float(ds.WindowWidth))
        assert entry["transforms"][0]["inverted"] is True
        assert np.abs(got.astype(float) - (255 - plain)).max() < 1.0001
        # bright (dense) stored values come out dark
        assert got[values >= values.max() - 1].mean() < got[values <= values.min() + 1].mean()


class TestParseFrames:
    def test_values(self):
        assert export_api.parse_frames("all") == "all"
        assert export_api.parse_frames("1,3-5,3") == (0, 2, 3, 4)
        assert export_api.parse_frames(2) == (1,)

    @pytest.mark.parametrize("text", ["x", "0", "5-3", "1,,2"])
    def test_invalid(self, text):
        with pytest.raises(UsageError, match="--frames"):
            export_api.parse_frames(text)


# --- issue 11 (class 6): export reads what convert reads ----------------------

CORPUS = Path(__file__).resolve().parent / "corpus"


class TestReadsLikeDcmtk:
    def test_file_without_preamble_is_read(self, tmp_path):
        """No preamble/'DICM' (and no file meta): read with force, as dcmtk does."""
        entry = next(export_api.export([CORPUS / "sc_pal_face_nopre.dcm"], tmp_path / "out"))
        assert entry["status"] == "ok", entry.get("error")
        assert read_png(Path(entry["outputs"][0])).shape[-1] == 3  # PALETTE COLOR -> RGB

    def test_group_0002_inside_the_data_set_names_the_transfer_syntax(self, tmp_path):
        from dicom_rewrite.io.dicom_in import read_dicom

        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        path = tmp_path / "meta_twice.dcm"
        ds.save_as(path, enforce_file_format=True)
        raw = path.read_bytes()
        stripped = raw[132:]  # no preamble: group 0002 is the first thing of the data set
        (tmp_path / "nopre.dcm").write_bytes(stripped)
        read = read_dicom(tmp_path / "nopre.dcm")
        assert str(read.file_meta.TransferSyntaxUID) == pydicom.uid.ExplicitVRLittleEndian
        assert not [t for t in read.keys() if t.group == 2]
        assert np.array_equal(read.pixel_array, ds.pixel_array)

    def test_random_bytes_are_still_not_dicom(self, tmp_path):
        p = tmp_path / "x.dcm"
        p.write_bytes(bytes(range(256)) * 4)
        entry = next(export_api.export([p], tmp_path / "out"))
        assert entry["status"] == "error" and "not a DICOM file" in entry["error"]

    def test_rows_without_pixel_data_is_skipped(self, tmp_path):
        entry = next(export_api.export([CORPUS / "cr_agfa_jp.dcm"], tmp_path / "out"))
        assert entry["status"] == "skipped" and entry["reason"].startswith("no pixel data")


    def test_empty_lut_sequences_and_rescale_are_ignored_as_dcmtk_does(self, tmp_path):
        """A Modality and a VOI LUT Sequence item with no LUT Descriptor and no
        LUT Data, and an empty Rescale Slope/Intercept (as a LEADTOOLS sample
        has): dcmtk ignores them ("incomplete or missing LookupTableDescriptor
        ... ignoring LUT"); export renders the stored values with a min-max
        window and says in the sidecar what it skipped."""
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        empty = Dataset()
        empty.add_new(0x00283002, "US", None)
        empty.add_new(0x00283006, "US", None)
        ds.ModalityLUTSequence = Sequence([empty])
        ds.VOILUTSequence = Sequence([Dataset(empty)])
        for kw in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
            if kw in ds:
                ds[kw].value = None
        src = tmp_path / "emptyluts.dcm"
        ds.save_as(src, enforce_file_format=True)
        entry = next(export_api.export([src], tmp_path / "out", sidecar=True))
        assert entry["status"] == "ok", entry.get("error")
        png = Path(entry["outputs"][0])
        side = json.loads(png.with_suffix(".json").read_text())
        assert side["voi_source"] == "min-max" and side["modality_lut"] == "none"
        assert len(side["ignored"]) == 2
        stored = ds.pixel_array.astype(np.float64)
        expected = np.clip(np.floor((stored - stored.min()) / (stored.max() - stored.min()) * 255 + 1e-6), 0, 255)
        assert np.abs(read_png(png).astype(int) - expected.astype(int)).max() <= 1


class TestDecoders:
    def test_jpeg_12bit_falls_back_to_gdcm_and_sidecar_names_it(self, tmp_path, capsys):
        src = CORPUS / "cr_fuji_jply.dcm"
        rc = main(["export", str(src), "--out", str(tmp_path / "out"), "--sidecar"])
        assert rc == 0
        err = capsys.readouterr().err
        assert "Traceback" not in err and "Unsupported JPEG" not in err and err.count("\n") <= 1
        (sidecar,) = (tmp_path / "out").rglob("*.json")
        assert json.loads(sidecar.read_text())["decoder"].startswith("gdcm")

    def test_plugin_failures_are_logged_in_one_line_with_verbose(self, caplog):
        import logging

        from dicom_rewrite.io.dicom_in import decode_frame_with_plugin

        ds = pydicom.dcmread(CORPUS / "cr_fuji_jply.dcm")
        with caplog.at_level(logging.DEBUG):
            arr, plugin = decode_frame_with_plugin(ds, 0, raw=True)
        assert plugin is not None and plugin.startswith("gdcm") and arr.shape == (ds.Rows, ds.Columns)
        assert not [r for r in caplog.records if r.exc_info]
        assert any("decoder plugin pylibjpeg failed" in r.getMessage() for r in caplog.records)

    def test_native_pixel_data_has_no_decoder_field(self, tmp_path):
        main(["export", get_testdata_file("CT_small.dcm"), "--out", str(tmp_path / "out"), "--sidecar"])
        (sidecar,) = (tmp_path / "out").rglob("*.json")
        assert "decoder" not in json.loads(sidecar.read_text())

    def test_deflated_image_frame_compression(self, tmp_path):
        """PS3.5 8.2.16 / A.4.13: each frame a raw Deflate stream of its native encoding."""
        import zlib

        from dicom_rewrite.io.dicom_in import decode_frame_with_plugin

        ds = pydicom.dcmread(CORPUS / "seg_liver_dfl.dcm")
        for frame in range(int(ds.NumberOfFrames)):
            arr, plugin = decode_frame_with_plugin(ds, frame, raw=True)
            assert plugin == "deflate" and arr.shape == (ds.Rows, ds.Columns)
        # against a hand-made one: a 16-bit frame deflated
        native = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        stream = comp.compress(native.PixelData) + comp.flush()
        native.PixelData = pydicom.encaps.encapsulate([stream])
        native["PixelData"].VR = "OB"
        native.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.8.1"
        arr, _ = decode_frame_with_plugin(native, 0, raw=True)
        assert np.array_equal(arr, pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array)
        entry = next(export_api.export([CORPUS / "seg_liver_dfl.dcm"], tmp_path / "out", frames=[1]))
        assert entry["status"] == "ok", entry.get("error")


class TestFloatPixelData:
    def test_float_pixel_data_renders_min_max(self, tmp_path):
        """dcmtk cannot render Float Pixel Data: the oracle is a direct numpy
        min-max rendering of the float values."""
        src = CORPUS / "pm_float.dcm"
        entry = next(export_api.export([src], tmp_path / "out", frames=[0], voi="minmax"))
        assert entry["status"] == "ok", entry.get("error")
        mine = read_png(Path(entry["outputs"][0])).astype(int)
        values = pydicom.dcmread(src).pixel_array.astype(np.float64)
        values = values[0] if values.ndim == 3 else values
        lo, hi = values.min(), values.max()
        expected = np.rint((values - lo) / (hi - lo) * 255)
        assert np.abs(mine - expected).max() <= 1
        assert mine.min() == 0 and mine.max() == 255

    def test_png16_refuses_float_pixel_data(self, tmp_path):
        entry = next(export_api.export([CORPUS / "pm_float.dcm"], tmp_path / "out", format="png16"))
        assert entry["status"] == "error" and "float pixel data" in entry["error"]
