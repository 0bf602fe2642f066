"""Profiles against real checkers: the identity leak scan and dciodvfy for
every shipped profile."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicom_rewrite import convert_files
from dicom_rewrite.cli import main
from tests.conftest import REPO
from tests.interop import assert_dciodvfy_clean, dcmdump_strict

pytestmark = pytest.mark.interop

GRAY8 = REPO / "sample_data" / "gray8.png"
SHIPPED = ["base", "research-anonymous", "site-dialect", "annotation-output"]
TEMPLATES = sorted((REPO / "templates").glob("*.dcm"))

#: identity values planted in the template: top level, nested in sequences
#: (identity and non-identity ones) and in private elements
IDENTITY = {
    "name": "LEAKYNAME^PERSONA^XAVER",
    "name_part": "PERSONA",
    "pid": "LEAKID-98765",
    "other_pid": "OTHERID-4242",
    "issuer": "ISSUERHOSP-31",
    "birth": "19510203",
    "accession": "ACC-55555",
    "referrer": "DRLEAKY^REFERRER",
    "requested": "REQPROC-777",
    "operator": "OPLEAKY^OPERATOR",
    "address": "1 Leaky Lane, Leakton",
    "nested_name": "NESTEDNAME^HIDDEN",
    "private_text": "PRIVLEAK^SECRETNAME",
    "private_nested": "PRIVSEQLEAK-1234",
    "comment": "patient LEAKYCOMMENT said",
}


def _leaky_template() -> Dataset:
    tpl = pydicom.dcmread(REPO / "templates" / "ct.dcm")
    tpl.PatientName = IDENTITY["name"]
    tpl.PatientID = IDENTITY["pid"]
    tpl.PatientBirthDate = IDENTITY["birth"]
    tpl.AccessionNumber = IDENTITY["accession"]
    tpl.ReferringPhysicianName = IDENTITY["referrer"]
    tpl.OperatorsName = IDENTITY["operator"]
    tpl.PatientAddress = IDENTITY["address"]
    tpl.ImageComments = IDENTITY["comment"]
    other = Dataset()
    other.PatientID = IDENTITY["other_pid"]
    other.IssuerOfPatientID = IDENTITY["issuer"]
    tpl.OtherPatientIDsSequence = Sequence([other])
    req = Dataset()
    req.RequestedProcedureID = IDENTITY["requested"]
    req.AccessionNumber = IDENTITY["accession"]
    tpl.RequestAttributesSequence = Sequence([req])
    # identity attributes inside a sequence that is itself kept
    region = Dataset()
    region.CodeValue = "T-D4000"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Abdomen"
    region.PatientName = IDENTITY["nested_name"]
    region.PatientID = IDENTITY["pid"]
    tpl.AnatomicRegionSequence = Sequence([region])
    # private elements, plain and in a private sequence
    block = tpl.private_block(0x0011, "LEAKY CREATOR", create=True)
    block.add_new(0x01, "LO", IDENTITY["private_text"])
    block.add_new(0x02, "PN", IDENTITY["name"])
    inner = Dataset()
    inner.PatientID = IDENTITY["pid"]
    iblock = inner.private_block(0x0013, "LEAKY INNER", create=True)
    iblock.add_new(0x01, "LO", IDENTITY["private_nested"])
    block.add_new(0x03, "SQ", Sequence([inner]))
    return tpl


@pytest.fixture(scope="module")
def leaky(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "leaky.dcm"
    _leaky_template().save_as(path, enforce_file_format=True)
    # the planted values are really in the template's bytes
    raw = path.read_bytes()
    for value in IDENTITY.values():
        assert value.encode() in raw
    return path


def _scan(path: Path, values: dict[str, str]) -> list[str]:
    raw = path.read_bytes()
    hits = [k for k, v in values.items() if v.encode("utf-8") in raw]
    # also as pydicom reads it (catches values split across encodings)
    text = "\n".join(str(e.value) for e in pydicom.dcmread(path).iterall()
                     if e.VR not in ("OB", "OW", "UN", "SQ"))
    hits += [f"{k} (decoded)" for k, v in values.items() if v in text]
    return hits


STRIP_PROFILES = [None, "base", "research-anonymous"]


@pytest.mark.parametrize("profile", STRIP_PROFILES, ids=[p or "default" for p in STRIP_PROFILES])
def test_leak_scan_identity_strip(profile, leaky, tmp_path):
    prof = None if profile is None else REPO / "templates" / f"{profile}.yaml"
    out = tmp_path / "out"
    (entry,) = convert_files([GRAY8], leaky, out, prof)
    assert entry["status"] == "ok", entry
    (path,) = map(Path, entry["outputs"])
    assert _scan(path, IDENTITY) == []
    tpl = pydicom.dcmread(leaky)
    tpl_uids = {str(e.value) for e in tpl.iterall() if e.VR == "UI" and e.value} - {
        str(tpl.SOPClassUID), "1.2.840.10008.1.2.1"}
    raw = path.read_bytes()
    assert [u for u in tpl_uids if u.encode() in raw] == []
    ds = pydicom.dcmread(path)
    assert ds.PatientIdentityRemoved == "YES"
    assert not any(e.tag.is_private for e in ds.iterall())
    assert_dciodvfy_clean(path)


def test_leak_scan_site_dialect_keeps_only_what_it_says(leaky, tmp_path):
    """site-dialect keeps the institution (by design), nothing else."""
    (entry,) = convert_files([GRAY8], leaky, tmp_path / "out",
                             REPO / "templates" / "site-dialect.yaml")
    (path,) = map(Path, entry["outputs"])
    assert _scan(path, IDENTITY) == []
    assert b"Klinikum S" in path.read_bytes()


def test_leak_scan_fails_when_identity_is_kept(leaky, tmp_path):
    """The scan itself works: identity: keep lets the values through (the
    nested name sits in Anatomic Region Sequence, an anatomy fact that is
    lent to new pixels only when the profile keeps it)."""
    p = tmp_path / "keep.yaml"
    p.write_text("identity: keep\nkeep: [private, AnatomicRegionSequence]\n")
    (entry,) = convert_files([GRAY8], leaky, tmp_path / "out", p)
    (path,) = map(Path, entry["outputs"])
    hits = _scan(path, IDENTITY)
    assert "name" in hits and "nested_name" in hits and "private_text" in hits
    assert "private_nested" in hits


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.stem for t in TEMPLATES])
@pytest.mark.parametrize("profile", SHIPPED)
def test_shipped_profiles_dciodvfy_clean(profile, template, tmp_path):
    out = tmp_path / "out"
    code = main(["convert", str(GRAY8), "--template", str(template), "--profile",
                 str(REPO / "templates" / f"{profile}.yaml"), "--out", str(out)])
    assert code == 0
    (path,) = out.glob("*.dcm")
    assert_dciodvfy_clean(path)
    dcmdump_strict(path)


def test_profile_init_output_is_clean(tmp_path):
    starter = tmp_path / "starter.yaml"
    assert main(["profile", "init", "--from", str(REPO / "templates" / "ct.dcm"),
                 "--out", str(starter)]) == 0
    out = tmp_path / "out"
    assert main(["convert", str(GRAY8), "--template", str(REPO / "templates" / "ct.dcm"),
                 "--profile", str(starter), "--out", str(out)]) == 0
    (path,) = out.glob("*.dcm")
    assert_dciodvfy_clean(path)


def test_hash_profile_reproducible_files(tmp_path, monkeypatch):
    """Two runs with the same key give byte-identical UIDs in the files."""
    monkeypatch.setenv("DR_INTEROP_KEY", "site-secret")
    p = tmp_path / "h.yaml"
    p.write_text("extends: " + str(REPO / "templates" / "research-anonymous.yaml") + "\n"
                 "uids: {key: 'env:DR_INTEROP_KEY', study: hash, series: hash, instance: hash,"
                 " frame_of_reference: hash}\n")
    started = datetime(2024, 1, 2, 3, 4, 5)
    from dicom_rewrite import api

    runs = []
    for _ in range(2):
        (r,) = api.convert_batch([GRAY8], REPO / "templates" / "ct.dcm", p, started=started)
        ds = r.datasets[0]
        runs.append((ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID))
    assert runs[0] == runs[1]
    out = tmp_path / "out"
    (entry,) = convert_files([GRAY8], REPO / "templates" / "ct.dcm", out, p)
    (path,) = map(Path, entry["outputs"])
    assert pydicom.dcmread(path).SOPInstanceUID == runs[0][2]
    assert_dciodvfy_clean(path)
