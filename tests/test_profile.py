"""The YAML profile language (issue 3): loading, every rule, every error,
UIDs, value templates and the ``profile`` command."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from dicom_rewrite import api
from dicom_rewrite.cli import main
from dicom_rewrite.core.uids import is_valid_uid
from dicom_rewrite.engine.converter import Converter, Template
from dicom_rewrite.errors import InputError, ProfileError
from dicom_rewrite.io.images import read_image
from dicom_rewrite.profile import (
    Action,
    Identity,
    PrivateTag,
    UidMode,
    load_profile,
    parse_tag,
    parse_template,
)

REPO = Path(__file__).resolve().parents[1]
CT = REPO / "templates" / "ct.dcm"
GRAY8 = REPO / "sample_data" / "gray8.png"
GRAY16 = REPO / "sample_data" / "gray16.png"
STARTED = datetime(2024, 5, 6, 7, 8, 9)


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def convert(profile, *images: Path, template: Path = CT) -> list[Dataset]:
    images = images or (GRAY8,)
    results = list(api.convert_batch(list(images), template, profile, started=STARTED))
    for r in results:
        assert r.ok, r.error
    return [ds for r in results for ds in r.datasets]


def one(profile, **kw) -> Dataset:
    return convert(profile, **kw)[0]


# ------------------------------------------------------------ YAML typing

class TestScalarTyping:
    def test_every_scalar_stays_text(self, tmp_path):
        p = write(tmp_path, "p.yaml", """\
set:
  StudyID: 00123
  BurnedInAnnotation: NO
  AccessionNumber: 012
  SeriesDescription: 12:30:00
  ImageComments: yes
  SeriesNumber: 0x10
""".replace("SeriesNumber: 0x10", "OperatorsName: null"))
        ds = one(p)
        assert ds.StudyID == "00123"  # safe_load: 123
        assert ds.BurnedInAnnotation == "NO"  # safe_load: False
        assert ds.AccessionNumber == "012"  # safe_load: 10 (octal)
        assert ds.SeriesDescription == "12:30:00"  # safe_load (YAML 1.1): 45000
        assert ds.ImageComments == "yes"
        assert str(ds.OperatorsName) == "null"

    def test_numbers_converted_by_vr(self, tmp_path):
        p = write(tmp_path, "p.yaml", """\
set:
  SeriesNumber: "007"
  SliceThickness: 2.50
  ImageType: [DERIVED, SECONDARY, AXIAL]
  PixelSpacing: "0.5\\\\0.5"
""")
        ds = one(p)
        assert int(ds.SeriesNumber) == 7
        assert float(ds.SliceThickness) == 2.5
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"]
        assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.5]


# ------------------------------------------------------------ tag syntax

class TestTagSyntax:
    def test_forms(self):
        assert parse_tag("PatientName").leaf == 0x00100010
        assert parse_tag("(0010,0020)").leaf == 0x00100020
        p = parse_tag("ReferencedStudySequence[0].ReferencedSOPClassUID")
        assert p.steps == ((0x00081110, 0),) and p.leaf == 0x00081150
        assert parse_tag("OtherPatientIDsSequence[*].PatientID").steps[0][1] is None
        assert parse_tag('(0009,"ACME 1.0",01)').leaf == PrivateTag(0x0009, "ACME 1.0", 0x01)

    @pytest.mark.parametrize("text,match", [
        ("PatientNmae", "did you mean 'PatientName'"),
        ("(0009,1001)", "private tag; address it with its creator"),
        ("(0010,0000)", "group length"),
        ("(0011,\"X\",01)", None),
        ("PatientName[0].PatientID", "not a sequence"),
        ("ReferencedStudySequence.ReferencedSOPClassUID", "needs an item index"),
        ("ReferencedStudySequence[0]", "ends with an item index"),
        ("Patient Name", "cannot read"),
    ])
    def test_bad(self, text, match):
        if match is None:
            parse_tag(text)
            return
        with pytest.raises(ValueError, match=re.escape(match)):
            parse_tag(text)


# ------------------------------------------------------------ templates

class TestValueTemplates:
    def test_variables_and_format_specs(self, tmp_path):
        p = write(tmp_path, "p.yaml", """\
identity: keep
set:
  PatientID: "P{index:04d}"
  SeriesDescription: "{stem:.4}|{name}|{date}|{time}|{template.Modality}"
  ImageComments: "{template.SeriesNumber:03d} {{literal}}"
  AccessionNumber: "{index:>5}"
""")
        ds = one(p)
        assert ds.PatientID == "P0001"
        assert ds.SeriesDescription == "gray|gray8.png|20240506|070809|CT"
        assert ds.ImageComments == "003 {literal}"
        assert ds.AccessionNumber == "    1"

    def test_index_follows_batch_order(self, tmp_path):
        p = write(tmp_path, "p.yaml", 'set:\n  ImageComments: "n={index}"\n')
        a, b = convert(p, GRAY8, GRAY16)
        assert (a.ImageComments, b.ImageComments) == ("n=1", "n=2")

    @pytest.mark.parametrize("text,match", [
        ("{template.__class__}", "is not a variable"),
        ("{template.PatientName.__class__}", "is not a variable"),
        ("{stem.__class__.__mro__}", "is not a variable"),
        ("{stem[0]}", "is not a variable"),
        ("{0}", "is not a variable"),
        ("{}", "is not a variable"),
        ("{os}", "is not a variable"),
        ("{stem!r}", "conversions"),
        ("{index:{stem}}", "nested fields"),
        ("{index:04z}", "bad format spec"),
        ("{template.PatientNmae}", "did you mean 'PatientName'"),
        ("{stem", "literal braces"),
    ])
    def test_rejected_at_load(self, text, match):
        with pytest.raises(ValueError, match=re.escape(match)):
            parse_template(text)

    def test_traversal_rejected_by_cli(self, tmp_path, capsys):
        p = write(tmp_path, "p.yaml", 'set:\n  PatientName: "{template.__class__}"\n')
        out = tmp_path / "out"
        code = main(["convert", str(GRAY8), "--template", str(CT), "--profile", str(p),
                     "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and "p.yaml:2: set PatientName" in err and "not a variable" in err
        assert not out.exists()

    def test_template_identity_refused_under_strip(self, tmp_path):
        p = write(tmp_path, "p.yaml", 'set:\n  ImageComments: "was {template.PatientName}"\n')
        with pytest.raises(ProfileError, match=r"p\.yaml:2: set ImageComments: "
                           r"\{template\.PatientName\} is a template identity value"):
            load_profile(p)
        write(tmp_path, "k.yaml", 'identity: keep\nset:\n  ImageComments: "was {template.PatientName}"\n')
        assert one(tmp_path / "k.yaml").ImageComments == "was DOE^JANE^Q"
        # keeping the tag makes it usable under strip
        write(tmp_path, "k2.yaml", 'keep: [PatientName]\nset:\n  ImageComments: "{template.PatientName}"\n')
        load_profile(tmp_path / "k2.yaml")

    def test_render_error_is_per_input(self, tmp_path):
        # the template has no AcquisitionNumber: {..:03d} cannot format ""
        p = write(tmp_path, "p.yaml", 'set:\n  ImageComments: "{template.TemporalPositionIdentifier:03d}"\n')
        (r,) = api.convert_batch([GRAY8], CT, p)
        assert not r.ok and "p.yaml:2: set ImageComments: cannot render" in r.error


# ------------------------------------------------------------ rules

class TestRules:
    def test_order_and_actions(self, tmp_path):
        p = write(tmp_path, "p.yaml", """\
identity: keep
set:
  '(0009,"NORTHWIND CT 1.0",01)': {vr: LO, value: "rewritten"}
  '(0011,"ACME",02)': {vr: SH, value: "new"}
  "ReferencedStudySequence[0].ReferencedSOPClassUID": "1.2.840.10008.3.1.2.3.1"
  "ReferencedStudySequence[0].ReferencedSOPInstanceUID": "1.2.3.4"
default:
  StudyDescription: "not used, the template has one"
  AdmittingDiagnosesDescription: "default used"
remove: [private, InstitutionAddress, "(0008,1010)"]
blank: [ReferringPhysicianName, OtherPatientIDsSequence]
""")
        ds = one(p)
        # remove private came first, then set re-created one element of a block
        assert ds[0x00090010].value == "NORTHWIND CT 1.0"
        assert ds[0x00091001].value == "rewritten"
        assert 0x00091002 not in ds and 0x00430010 not in ds
        block = ds.private_block(0x0011, "ACME")
        assert ds[block.get_tag(0x02)].value == "new" and ds[block.get_tag(0x02)].VR == "SH"
        assert ds.StudyDescription == "CT ABDOMEN MIT KM"
        assert ds.AdmittingDiagnosesDescription == "default used"
        assert "InstitutionAddress" not in ds and "StationName" not in ds
        assert "ReferringPhysicianName" in ds and not ds.ReferringPhysicianName
        assert len(ds.OtherPatientIDsSequence) == 0
        item = ds.ReferencedStudySequence[0]
        assert item.ReferencedSOPInstanceUID == "1.2.3.4"

    def test_sequence_star_and_index(self, tmp_path):
        tpl = pydicom.dcmread(CT)
        a, b = Dataset(), Dataset()
        a.PatientID, a.IssuerOfPatientID = "X1", "H1"
        b.PatientID, b.IssuerOfPatientID = "X2", "H2"
        tpl.OtherPatientIDsSequence = [a, b]
        p = write(tmp_path, "p.yaml", """\
identity: keep
set:
  "OtherPatientIDsSequence[*].IssuerOfPatientID": "NEW"
remove: ["OtherPatientIDsSequence[1].PatientID"]
""")
        ds = one(p, template=Template.from_dataset(tpl))
        assert [i.IssuerOfPatientID for i in ds.OtherPatientIDsSequence] == ["NEW", "NEW"]
        assert "PatientID" in ds.OtherPatientIDsSequence[0]
        assert "PatientID" not in ds.OtherPatientIDsSequence[1]

    def test_item_gap_is_an_input_error(self, tmp_path):
        p = write(tmp_path, "p.yaml", 'set:\n  "ReferencedStudySequence[3].ReferencedSOPInstanceUID": "1.2.3"\n')
        (r,) = api.convert_batch([GRAY8], CT, p)
        assert not r.ok and "item [3] can only be created after item [-1]" in r.error

    def test_keep_survives_strip(self, tmp_path):
        p = write(tmp_path, "p.yaml", "keep: [InstitutionName, StationName]\n")
        ds = one(p)
        assert ds.InstitutionName == "Klinikum Süd" and "StationName" in ds
        assert "InstitutionAddress" not in ds and not ds.PatientName

    def test_keep_private_by_creator(self, tmp_path):
        p = write(tmp_path, "p.yaml", "keep: ['(0043,\"NORTHWIND CT DOSE\",02)']\n")
        ds = one(p)
        assert ds[0x00430010].value == "NORTHWIND CT DOSE"
        assert ds[0x00431002].value == "Dose Report Pending"
        assert 0x00431001 not in ds and 0x00090010 not in ds

    def test_keep_all_private(self, tmp_path):
        ds = one(write(tmp_path, "p.yaml", "keep: [private]\n"))
        assert ds[0x00091002].value == "B30f" and ds[0x00431001].value == 9.87
        assert 0x00091001 not in one(None)

    def test_remove_overlays(self, tmp_path):
        p = write(tmp_path, "p.yaml", "remove: [overlays, curves]\n")
        prof = load_profile(p)
        ds = Dataset()
        ds.add_new(0x60000010, "US", 4)
        ds.add_new(0x50000005, "US", 1)
        ds.PatientName = "x"
        from dicom_rewrite.profile import Context

        changes = prof.apply(ds, Context("s", "s", 1, STARTED, Dataset()))
        assert list(ds.keys()) == [0x00100010]
        assert {c.rule for c in changes} == {f"{p.name}:1"} or all(":1" in c.rule for c in changes)

    def test_changes_carry_file_and_line(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        write(tmp_path, "p.yaml", "# comment\nset:\n  PatientName: \"A^B\"\nblank: [StudyID]\n")
        conv = Converter(Template.load(CT), load_profile("p.yaml"), started=STARTED)
        out = conv.convert(read_image(GRAY8)[0], stem="gray8", name="gray8.png")
        rules = {c.keyword: c.rule for c in out.changes if c.rule.startswith("p.yaml")}
        assert rules == {"PatientName": "p.yaml:3", "StudyID": "p.yaml:4"}

    def test_dry_run_shows_rule(self, tmp_path, capsys, monkeypatch):
        monkeypatch.chdir(tmp_path)
        write(tmp_path, "p.yaml", 'set:\n  PatientName: "SYNTH^{stem}"\n')
        code = main(["convert", str(GRAY8), "--template", str(CT), "--profile", "p.yaml", "--dry-run"])
        out = capsys.readouterr().out
        assert code == 0
        (line,) = [ln for ln in out.splitlines() if "PatientName" in ln]
        assert "<redacted>" in line and "SYNTH^gray8" in line and "[p.yaml:2]" in line
        assert "DOE" not in out


# ------------------------------------------------------------ extends

class TestExtends:
    def test_child_wins_per_tag(self, tmp_path):
        write(tmp_path, "common/base.yaml", """\
identity: strip
uids: {study: new, series: new}
set:
  PatientName: "BASE^NAME"
  PatientID: "BASE"
remove: [StudyID]
keep: [InstitutionName]
pixel: {transfer_syntax: rle}
""")
        write(tmp_path, "common/other.yaml", 'set:\n  PatientID: "OTHER"\n  OperatorsName: "OP"\n')
        child = write(tmp_path, "site/child.yaml", """\
extends: [../common/base.yaml, ../common/other.yaml]
set:
  PatientName: "CHILD^NAME"
  StudyID: "42"
""")
        prof = load_profile(child)
        ds = one(child)
        assert ds.PatientName == "CHILD^NAME" and ds.PatientID == "OTHER" and ds.OperatorsName == "OP"
        assert ds.StudyID == "42"  # child set replaced the parent's remove
        assert ds.InstitutionName == "Klinikum Süd"
        assert prof.pixel.transfer_syntax == "rle"
        assert str(ds.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.5"
        assert len(prof.chain) == 3 and prof.chain[0].endswith("child.yaml")

    def test_string_form_and_settings(self, tmp_path):
        write(tmp_path, "base.yaml", "identity: keep\nuids:\n  series: keep\n")
        child = write(tmp_path, "child.yaml", "extends: base.yaml\nuids:\n  study: keep\n")
        prof = load_profile(child)
        assert prof.identity is Identity.KEEP
        assert prof.uids.series is UidMode.KEEP and prof.uids.study is UidMode.KEEP

    def test_cycle(self, tmp_path):
        write(tmp_path, "a.yaml", "extends: b.yaml\n")
        write(tmp_path, "b.yaml", "set:\n  StudyID: '1'\nextends: [a.yaml]\n")
        with pytest.raises(ProfileError, match=r"b\.yaml:3: extends .*a\.yaml: extends cycle"):
            load_profile(tmp_path / "a.yaml")

    def test_self_cycle(self, tmp_path):
        write(tmp_path, "a.yaml", "extends: a.yaml\n")
        with pytest.raises(ProfileError, match="extends cycle"):
            load_profile(tmp_path / "a.yaml")

    def test_missing_parent(self, tmp_path):
        write(tmp_path, "a.yaml", "\n\nextends: nowhere.yaml\n")
        with pytest.raises(ProfileError, match=r"a\.yaml:3: extends .*nowhere\.yaml: profile not found"):
            load_profile(tmp_path / "a.yaml")

    def test_diamond_is_not_a_cycle(self, tmp_path):
        write(tmp_path, "root.yaml", "set:\n  StudyID: '1'\n")
        write(tmp_path, "l.yaml", "extends: root.yaml\n")
        write(tmp_path, "r.yaml", "extends: root.yaml\n")
        write(tmp_path, "c.yaml", "extends: [l.yaml, r.yaml]\n")
        assert len(load_profile(tmp_path / "c.yaml").rules) == 1


# ------------------------------------------------------------ errors

ERROR_CASES = [
    # (profile text, expected message fragment, line)
    ("identty: strip\n", "unknown key 'identty'; did you mean 'identity'?", 1),
    ("set:\n  PatientNmae: X\n", "set PatientNmae: unknown keyword 'PatientNmae'; did you mean 'PatientName'?", 2),
    ("remove: [StationNme]\n", "did you mean 'StationName'?", 1),
    ("set:\n  Modality: ABCDEFGHIJKLMNOPQ\n", "17 characters, CS allows at most 16", 2),
    ("set:\n  Modality: ct\n", "CS allows only A-Z", 2),
    ("set:\n  StudyDate: 20240230\n", "not a valid date", 2),
    ("set:\n  StudyDate: 2024-01-01\n", "DA allows at most 8", 2),
    ("set:\n  StudyTime: '256000'\n", "not a time", 2),
    ("set:\n  StudyInstanceUID: 1.2.abc\n", "is not a UID", 2),
    ("set:\n  StudyInstanceUID: 1.02.3\n", "is not a UID", 2),
    ("set:\n  PatientName: A^B^C^D^E^F\n", "more than 5 name components", 2),
    ("set:\n  PatientName: A=B=C=D\n", "4 component groups", 2),
    ("set:\n  SeriesNumber: '99999999999'\n", "outside the IS range", 2),
    ("set:\n  SeriesNumber: 1.5\n", "not an integer string", 2),
    ("set:\n  SliceThickness: abc\n", "not a decimal string", 2),
    ("set:\n  PatientID: " + "x" * 65 + "\n", "LO allows at most 64", 2),
    ("set:\n  StationName: " + "x" * 17 + "\n", "SH allows at most 16", 2),
    ("set:\n  PatientAge: 42\n", "not an age", 2),
    ("set:\n  PixelSpacing: '1'\n", "takes VM 2", 2),
    ("set:\n  PatientName:\n", "no value; use blank", 2),
    ("set:\n  OtherPatientIDsSequence: x\n", "is a sequence", 2),
    ("set:\n  PatientName: X\n  (0010,0010): Y\n", "already given a rule (set at line 2)", 3),
    ("set:\n  PatientName: X\n  PatientName: Y\n", "given twice (first at line 2)", 3),
    ("remove: [StudyID]\nblank: [StudyID]\n", "already given a rule (remove at line 1)", 2),
    ("keep: [InstitutionName]\nremove: [InstitutionName]\n", "already given a rule", 2),
    ("set:\n  Rows: '512'\n", "Rows belongs to the engine", 2),
    ("set:\n  SOPInstanceUID: 1.2.3\n", "SOPInstanceUID belongs to the engine", 2),
    ("set:\n  SOPClassUID: 1.2.3\n", "belongs to the engine", 2),
    ("remove: [PixelData]\n", "belongs to the engine", 1),
    ("blank: [PhotometricInterpretation]\n", "belongs to the engine", 1),
    ("set:\n  TransferSyntaxUID: 1.2.840.10008.1.2.1\n", "belongs to the engine", 2),
    ("set:\n  (0002,0013): X\n", "belongs to the engine", 2),
    ("set:\n  NumberOfFrames: '2'\n", "belongs to the engine", 2),
    ("remove: [StudyInstanceUID]\n", "owned by the uids section", 1),
    ("uids:\n  instance: keep\n", "uids.instance keep: refused", 2),
    ("uids:\n  study: maybe\n", "use one of new, keep, hash", 2),
    ("uids:\n  root: 1.2.abc\n", "uids.root: UID root", 2),
    ("uids:\n  sutdy: new\n", "uids: unknown key 'sutdy'", 2),
    ("uids:\n  study: hash\n", "uids.study hash: needs uids.key", 2),
    ("uids:\n  key: env:DICOM_REWRITE_TEST_UNSET\n  series: hash\n",
     "environment variable DICOM_REWRITE_TEST_UNSET is not set", 2),
    ("pixel:\n  transfer_syntax: jpeg-lossy\n", "pixel.transfer_syntax: transfer syntax 'jpeg-lossy'", 2),
    ("pixel:\n  sop_class: ct\n", "use one of auto, keep, secondary-capture", 2),
    ("identity: maybe\n", "use strip or keep", 1),
    ("remove: [overlays]\nkeep: [overlays]\n", "'overlays' is only allowed in remove", 2),
    ("keep: [\"OtherPatientIDsSequence[0].PatientID\"]\n", "keep takes tags, not paths", 1),
    ("set:\n  '(0011,\"ACME\",01)': x\n", "VR of this private element is not known", 2),
    ("set: [PatientName]\n", "set must be a mapping", 1),
    ("version: 2\n", "version '2' is not supported", 1),
    ("set:\n  PatientName: 'a\n", "not valid YAML", 3),
    ("set:\n  ImageComments: \"{template.__class__}\"\n", "is not a variable", 2),
]


@pytest.mark.parametrize("text,fragment,line", ERROR_CASES,
                         ids=[f"{i}-{c[1][:30]}" for i, c in enumerate(ERROR_CASES)])
def test_profile_errors(text, fragment, line, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DICOM_REWRITE_TEST_UNSET", raising=False)
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "bad.yaml", text)
    out = tmp_path / "out"
    code = main(["convert", str(GRAY8), "--template", str(CT), "--profile", "bad.yaml",
                 "--out", str(out), "--report", str(tmp_path / "report.json")])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"dicom-rewrite: error: bad.yaml:{line}: "), err
    assert fragment in err, err
    assert not out.exists() and not (tmp_path / "report.json").exists()
    # and profile check agrees
    assert main(["profile", "check", "bad.yaml"]) == 2
    assert fragment in capsys.readouterr().err


def test_root_profile_missing(tmp_path, capsys):
    code = main(["profile", "check", str(tmp_path / "nope.yaml")])
    assert code == 2 and "nope.yaml: profile not found" in capsys.readouterr().err


def test_empty_profile_is_the_default(tmp_path):
    prof = load_profile(write(tmp_path, "p.yaml", "# nothing\n"))
    assert prof.identity is Identity.STRIP and prof.rules == ()


# ------------------------------------------------------------ UIDs

def _uids(ds: Dataset) -> tuple[str, str, str, str]:
    return (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID)


class TestUids:
    HASH = """\
uids:
  root: "1.2.826.0.1.3680043.10.543"
  key: "env:DR_TEST_KEY"
  study: hash
  series: hash
  instance: hash
  frame_of_reference: hash
set:
  PatientID: "{pid}"
"""

    def test_hash_is_deterministic_across_runs(self, tmp_path, monkeypatch):
        p = write(tmp_path, "p.yaml", self.HASH.replace("{pid}", "P1"))
        monkeypatch.setenv("DR_TEST_KEY", "secret-one")
        run1 = [_uids(d) for d in convert(load_profile(p), GRAY8, GRAY16)]
        run2 = [_uids(d) for d in convert(load_profile(p), GRAY8, GRAY16)]
        assert run1 == run2
        # one study/series for the patient, one instance per input
        assert run1[0][:2] == run1[1][:2] and run1[0][2] != run1[1][2]
        for uid in (u for row in run1 for u in row):
            assert is_valid_uid(uid) and uid.startswith("1.2.826.0.1.3680043.10.543.")
        monkeypatch.setenv("DR_TEST_KEY", "secret-two")
        run3 = [_uids(d) for d in convert(load_profile(p), GRAY8, GRAY16)]
        assert not set(run3[0]) & set(run1[0])

    def test_literal_key_and_2_25(self, tmp_path):
        p = write(tmp_path, "p.yaml", "uids:\n  key: k\n  instance: hash\n")
        a = one(p).SOPInstanceUID
        assert a == one(p).SOPInstanceUID and a.startswith("2.25.") and is_valid_uid(a)
        assert "<literal, not shown>" in load_profile(p).describe()
        assert "key: k" not in load_profile(p).describe()

    def test_new_mode_differs_across_runs(self, tmp_path):
        p = write(tmp_path, "p.yaml", "uids: {study: new}\n")
        assert one(p).StudyInstanceUID != one(p).StudyInstanceUID

    @pytest.mark.parametrize("mode", ["new", "hash"])
    def test_study_scoped_per_patient(self, tmp_path, monkeypatch, mode):
        monkeypatch.setenv("DR_TEST_KEY", "k")
        text = self.HASH.replace("hash", mode).replace("{pid}", "P{index:04d}")
        p = write(tmp_path, "p.yaml", text)
        a, b, c = convert(load_profile(p), GRAY8, GRAY16, GRAY8)
        assert [d.PatientID for d in (a, b, c)] == ["P0001", "P0002", "P0003"]
        assert len({d.StudyInstanceUID for d in (a, b, c)}) == 3
        assert len({d.SeriesInstanceUID for d in (a, b, c)}) == 3
        same = write(tmp_path, "same.yaml", text.replace("P{index:04d}", "SAME"))
        a, b = convert(load_profile(same), GRAY8, GRAY16)
        assert a.StudyInstanceUID == b.StudyInstanceUID

    def test_keep_and_profile_set(self, tmp_path):
        tpl = pydicom.dcmread(CT)
        p = write(tmp_path, "p.yaml", "uids: {study: keep}\nset:\n  SeriesInstanceUID: 1.2.3.4.5\n")
        ds = one(p)
        assert ds.StudyInstanceUID == tpl.StudyInstanceUID
        assert ds.SeriesInstanceUID == "1.2.3.4.5"


# ------------------------------------------------------------ profile CLI

class TestProfileCommand:
    def test_check_prints_resolved(self, tmp_path, capsys, monkeypatch):
        monkeypatch.chdir(tmp_path)
        write(tmp_path, "base.yaml", "set:\n  PatientName: BASE\n  PatientID: '007'\n")
        write(tmp_path, "child.yaml", "extends: base.yaml\nuids: {key: env:X, study: new}\n"
                                       "set:\n  PatientName: CHILD\n")
        assert main(["profile", "check", "child.yaml"]) == 0
        out = capsys.readouterr().out
        assert "# resolved profile: child.yaml <- base.yaml" in out
        assert '"PatientName": "CHILD"  # child.yaml:4' in out
        assert '"PatientID": "007"  # base.yaml:3' in out
        assert "BASE" not in out and 'key: "env:X"' in out
        # the printed profile is itself a valid profile
        write(tmp_path, "resolved.yaml", out)
        assert len(load_profile(tmp_path / "resolved.yaml").rules) == 2

    def test_schema(self, capsys):
        assert main(["profile", "schema"]) == 0
        schema = json.loads(capsys.readouterr().out)
        assert schema["$schema"].startswith("http://json-schema.org/draft-07")
        props = schema["properties"]
        assert set(props) == {"version", "description", "extends", "identity", "uids", "set",
                              "default", "remove", "blank", "keep", "pixel", "metadata"}
        assert schema["additionalProperties"] is False
        names = schema["definitions"]["assignments"]["properties"]
        assert "PatientName" in names and "Rows" not in names
        assert props["uids"]["properties"]["instance"]["enum"] == ["new", "hash"]
        pattern = re.compile(schema["definitions"]["assignments"]["propertyNames"]["pattern"])
        for ok in ("PatientName", "(0010,0010)", 'Seq[0].Attr', '(0009,"ACME 1",01)'):
            assert pattern.match(ok)

    def test_init(self, tmp_path, capsys):
        assert main(["profile", "init", "--from", str(CT)]) == 0
        text = capsys.readouterr().out
        tpl = pydicom.dcmread(CT)
        assert "#   (0010,0010) PatientName" in text
        assert "#   Manufacturer" in text
        assert '(0009,"NORTHWIND CT 1.0",..)' in text
        for value in (str(tpl.PatientName), tpl.PatientID, tpl.PatientBirthDate,
                      tpl.InstitutionName, tpl.StudyDescription, tpl.AccessionNumber):
            assert value not in text
        out = tmp_path / "starter.yaml"
        assert main(["profile", "init", "--from", str(CT), "--out", str(out)]) == 0
        assert out.read_text() == text
        assert main(["profile", "init", "--from", str(CT), "--out", str(out)]) == 2
        assert "exists" in capsys.readouterr().err
        ds = one(out)
        assert ds.PatientName == "ANON^gray8" and ds.PatientID == "ANON0001"


# ------------------------------------------------------------ shipped profiles

SHIPPED = ["base", "research-anonymous", "site-dialect", "annotation-output"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_load(name):
    prof = load_profile(REPO / "templates" / f"{name}.yaml")
    assert prof.rules
    ds = one(prof)
    assert ds.SOPInstanceUID


def test_shipped_site_dialect_keeps_institution():
    ds = one(REPO / "templates" / "site-dialect.yaml")
    assert ds.InstitutionName == "Klinikum Süd" and ds.PatientName == "QA^PHANTOM"
    assert ds.PatientID == "QA-20240506" and ds.SeriesDescription == "gray8 (CT)"


def test_rule_actions_are_ordered():
    from dicom_rewrite.profile import APPLY_ORDER

    assert [a.value for a in APPLY_ORDER] == ["remove", "blank", "default", "metadata", "set"]
    assert Action.KEEP not in APPLY_ORDER


def test_private_set_uses_dictionary_vr(tmp_path):
    # pydicom's private dictionary knows SIEMENS CSA HEADER (0029,xx08) as CS
    p = write(tmp_path, "p.yaml", "set:\n  '(0029,\"SIEMENS CSA HEADER\",08)': \"IMAGE NUM 4\"\n")
    ds = one(p)
    tag = ds.private_block(0x0029, "SIEMENS CSA HEADER").get_tag(0x08)
    assert ds[tag].VR == "CS" and ds[tag].value == "IMAGE NUM 4"


def test_input_error_type():
    assert issubclass(InputError, ValueError)
