"""Where outputs go, for every command that writes DICOM: ``--name`` places
files as asked (never outside ``--out``), ``--dicomdir`` for annotate and
series, and each report entry's ``destinations``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.fileset import FileSet

from dicom_rewrite.cli import main
from tests.conftest import REPO, SAMPLES

CT = REPO / "templates" / "ct.dcm"


def _pngs(folder, n):
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.full((8, 12), 20 * i, np.uint8)).save(folder / f"p{i}.png")


def _run(*argv):
    code = main([str(a) for a in argv])
    assert code == 0
    return code


def test_convert_name_places_files_by_the_outputs_keywords(tmp_path):
    _pngs(tmp_path / "png", 3)
    _run("convert", tmp_path / "png", "--template", CT, "--out", tmp_path / "out", "--report", tmp_path / "r.json",
         "--name", "{Modality}/{StudyInstanceUID}/{SeriesNumber}/{InstanceNumber:04d}_{stem}_{index}", "--no-fsync")
    entries = json.loads((tmp_path / "r.json").read_text())
    for k, e in enumerate(entries, 1):
        (path,) = e["outputs"]
        ds = dcmread(path)
        want = tmp_path / "out" / "CT" / ds.StudyInstanceUID / str(ds.SeriesNumber) / \
            f"{int(ds.InstanceNumber):04d}_p{k - 1}_{k}.dcm"
        assert path == str(want) and want.is_file()
        assert e["destinations"] == [path]


def test_a_name_never_leaves_the_output_folder(tmp_path):
    _pngs(tmp_path / "png", 1)
    _run("convert", tmp_path / "png", "--template", CT, "--out", tmp_path / "out", "--name", "../../{stem}/..",
         "--no-fsync")
    (written,) = [p for p in tmp_path.rglob("*.dcm")]
    assert (tmp_path / "out") in written.parents


def test_a_bad_name_writes_nothing(tmp_path, capsys):
    _pngs(tmp_path / "png", 1)
    assert main(["convert", str(tmp_path / "png"), "--template", str(CT), "--out", str(tmp_path / "out"),
                 "--name", "{NotAKeyword}"]) == 2
    assert "'NotAKeyword' is not a DICOM keyword" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_annotate_name_and_destinations(tmp_path):
    _pngs(tmp_path / "png", 2)
    _run("convert", tmp_path / "png", "--template", CT, "--out", tmp_path / "dcm", "--no-fsync")
    _run("annotate", tmp_path / "dcm", "--box", "1,1,4,4", "--gsps", "--out", tmp_path / "ann",
         "--name", "{Modality}/{InstanceNumber:03d}", "--report", tmp_path / "r.json", "--no-fsync")
    entries = json.loads((tmp_path / "r.json").read_text())
    assert sorted(p.relative_to(tmp_path / "ann").as_posix() for p in (tmp_path / "ann").rglob("*.dcm")) == \
        ["CT/001.dcm", "CT/002.dcm", "PR/001.dcm"]
    assert all(e["destinations"] == e["outputs"] and e["outputs"] for e in entries)


def test_series_into_a_fileset_and_by_name(tmp_path):
    _run("series", SAMPLES / "volume.npy", "--template", CT, "--out", tmp_path / "cd", "--dicomdir",
         "--report", tmp_path / "r.json", "--no-fsync")
    (entry,) = json.loads((tmp_path / "r.json").read_text())
    fs = FileSet(tmp_path / "cd" / "DICOMDIR")
    assert len(fs) == entry["slices"] == len(entry["destinations"])
    assert sorted(str(tmp_path / "cd" / i.FileID) for i in fs) == sorted(entry["outputs"])
    assert len(fs.find(SeriesInstanceUID=entry["series_instance_uid"])) == entry["slices"]

    _run("series", SAMPLES / "volume.npy", "--template", CT, "--out", tmp_path / "named", "--no-fsync",
         "--name", "{SeriesNumber}/{stem}_{InstanceNumber:03d}")
    names = sorted(p.name for p in (tmp_path / "named").rglob("*.dcm"))
    assert names == [f"volume_{k:03d}.dcm" for k in range(1, entry["slices"] + 1)]


def test_annotate_into_a_fileset(tmp_path):
    _pngs(tmp_path / "png", 1)
    _run("convert", tmp_path / "png", "--template", CT, "--out", tmp_path / "dcm", "--no-fsync")
    _run("annotate", tmp_path / "dcm", "--box", "1,1,4,4", "--gsps", "--out", tmp_path / "cd", "--dicomdir",
         "--no-fsync")
    fs = FileSet(tmp_path / "cd" / "DICOMDIR")
    assert sorted(i.node.record_type for i in fs) == ["IMAGE", "PRESENTATION"]


@pytest.mark.parametrize("argv", [["--dicomdir"], ["--dicomdir", "--name", "{stem}"]])
def test_dicomdir_needs_out_and_takes_no_name(tmp_path, capsys, argv):
    _pngs(tmp_path / "png", 1)
    out = [] if argv == ["--dicomdir"] else ["--out", str(tmp_path / "out")]
    assert main(["series", str(SAMPLES / "volume.npy"), "--template", str(CT), *out, *argv]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
