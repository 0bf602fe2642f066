"""``--dicomdir``: the output folder is a DICOM file-set (PS3.10, PS3.11
General Purpose CD-R) that dcmtk, GDCM and pydicom read back with every
instance; a second run adds to it."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.fileset import FileSet

from dicom_rewrite.cli import main
from tests.conftest import REPO
from tests.interop import assert_dciodvfy_clean, dcmdump_strict, gdcminfo, require_tool

pytestmark = pytest.mark.interop

CT, MR = REPO / "templates" / "ct.dcm", REPO / "templates" / "mr.dcm"
FILE_ID = re.compile(r"^[A-Z0-9_]{1,8}$")  # PS3.10 8.5, PS3.11 D.3.2


def _pngs(folder, n):
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 24), dtype=np.uint8)).save(folder / f"slice-{i}.png")


def _convert(inputs, template, out, report):
    code = main(["convert", str(inputs), "--template", str(template), "--out", str(out), "--dicomdir",
                 "--report", str(report), "--no-fsync"])
    assert code == 0
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    """Two runs into one file-set: three CT outputs, then two MR outputs added."""
    tmp = tmp_path_factory.mktemp("fileset")
    _pngs(tmp / "a", 3)
    _pngs(tmp / "b", 2)
    first = _convert(tmp / "a", CT, tmp / "cd", tmp / "r1.json")
    second = _convert(tmp / "b", MR, tmp / "cd", tmp / "r2.json")
    return tmp / "cd", first, second


def test_every_instance_is_listed_under_patient_study_series(fileset):
    root, first, second = fileset
    fs = FileSet(root / "DICOMDIR")
    sent = {u for e in first + second for u in e["sop_instance_uids"]}
    assert len(sent) == 5
    assert {str(i.SOPInstanceUID) for i in fs} == sent
    for inst in fs:
        parts = inst.FileID.split("/")
        assert len(parts) <= 8 and all(FILE_ID.match(p) for p in parts), inst.FileID
        assert str(dcmread(inst.path).SOPInstanceUID) == inst.SOPInstanceUID
        kinds = [n.record_type for n in inst.node.reverse()]
        assert kinds == ["IMAGE", "SERIES", "STUDY", "PATIENT"]
    # the report's outputs are the file-set's files
    assert sorted(p for e in first + second for p in e["outputs"]) == sorted(str(root / i.FileID) for i in fs)
    assert sorted(fs.find_values("Modality")) == ["CT", "MR"]


def test_dcmtk_and_gdcm_read_the_fileset(fileset):
    root, first, _ = fileset
    dump = dcmdump_strict(root / "DICOMDIR")
    kinds = re.findall(r"\(0004,1430\) CS \[(\w+) *\]", dump)
    assert kinds.count("IMAGE") == 5 and kinds.count("PATIENT") == 2 and kinds.count("SERIES") == 2
    assert "Media Storage Directory Storage" in gdcminfo(root / "DICOMDIR")
    gdcm = subprocess.run([require_tool("gdcmdump"), str(root / "DICOMDIR")], capture_output=True, text=True,
                          timeout=60)
    assert gdcm.returncode == 0 and gdcm.stdout.count("(0004,1500)") == 5
    assert_dciodvfy_clean(root / "DICOMDIR")
    assert_dciodvfy_clean(first[0]["outputs"][0])
    # dcmmkdir, strict about Type 1 record keys and file names, builds a DICOMDIR from our files
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != "DICOMDIR")
    check = subprocess.run([require_tool("dcmmkdir"), "-I", "+W", "+D", "../check.dir", *files], cwd=root,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Warning" not in check.stderr and "W:" not in check.stderr, check.stderr


def test_empty_record_keys_get_a_value_in_the_instance_too(fileset):
    root, first, _ = fileset
    ds = dcmread(first[0]["outputs"][0])
    assert ds.PatientID.startswith("DR") and ds.StudyID
    assert any("Patient ID" in n and "F.5.1" in n for n in first[0]["notes"])
    # one study: one PATIENT and one STUDY record for all three
    fs = FileSet(root / "DICOMDIR")
    assert len(fs.find(StudyInstanceUID=first[0]["study_instance_uid"])) == 3


def test_a_folder_of_other_files_is_not_made_a_fileset(tmp_path, capsys):
    _pngs(tmp_path / "png", 1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    code = main(["convert", str(tmp_path / "png"), "--template", str(CT), "--out", str(tmp_path / "out"),
                 "--dicomdir"])
    assert code == 2
    assert "holds files but no DICOMDIR" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]
