"""Per-image metadata (``convert --metadata``): manifests read with their
line numbers, rows matched to inputs, ``{meta[...]}``/``{path[N]}`` values,
studies and series from the data, spacing from the row, the fast path, and
one error line naming ``file:line`` for each bad manifest."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shlex
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pydicom
import pytest

from dicom_rewrite.cli import main
from dicom_rewrite.convert import convert_batch, convert_files
from dicom_rewrite.errors import ManifestError
from dicom_rewrite.io import manifest as mf
from tests.conftest import REPO
from tests.interop import dciodvfy, require_tool

DX = REPO / "templates" / "dx.dcm"
NIH = REPO / "templates" / "nih-chestxray14.yaml"
CHEXPERT = REPO / "templates" / "chexpert.yaml"


def _datasets_module():
    spec = importlib.util.spec_from_file_location("make_datasets", REPO / "sample_data" / "make_datasets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("datasets")
    _datasets_module().main([str(out), "--nih", "30", "--size", "24"])
    return out


def _read(folder: Path) -> dict[str, pydicom.Dataset]:
    return {str(p.relative_to(folder)): pydicom.dcmread(p) for p in sorted(folder.rglob("*.dcm"))}


# ------------------------------------------------------------- manifests

@pytest.mark.parametrize("suffix,text", [
    (".csv", "name,Age\n\na.png,7\n\"b.png\",\"multi\nline\"\nc.png,9\n"),
    (".tsv", "name\tAge\n\na.png\t7\nb.png\tmulti\n\nc.png\t9\n"),
    (".json", '[\n {"name": "a.png", "Age": 7},\n\n {"name": "b.png",\n  "Age": null}, {"name": "c.png", "Age": 9}\n]'),
    (".jsonl", '{"name": "a.png", "Age": 7}\n\n{"name": "b.png", "Age": true}\n{"name": "c.png", "Age": 9}\n'),
])
def test_manifest_rows_keep_their_lines(tmp_path, suffix, text):
    p = tmp_path / f"m{suffix}"
    p.write_text(text, encoding="utf-8")
    m = mf.read_manifest(p)
    assert m.columns == ("name", "Age")
    assert [r["name"] for r in m.rows] == ["a.png", "b.png", "c.png"]
    assert m.rows[0]["Age"] == "7" and m.rows[2]["Age"] == "9"
    assert m.rows[0].line == {".csv": 3, ".tsv": 3, ".json": 2, ".jsonl": 1}[suffix]
    assert m.rows[2].line == {".csv": 6, ".tsv": 6, ".json": 5, ".jsonl": 4}[suffix]


@pytest.mark.parametrize("name,text,where", [
    ("m.json", '[{"a": 1},\n {"a": [1]}]', "m.json:2"),
    ("m.json", '[{"a": 1},\n {"a": 1]', "m.json:2"),
    ("m.jsonl", '{"a": 1}\n{"a": \n', "m.jsonl:2"),
    ("m.csv", "a,b\n1,2\n3,4,5\n", "m.csv:3"),
    ("m.csv", "a,a\n1,2\n", "m.csv:1:2"),
    ("m.csv", 'a\n"' + "x" * (mf.MAX_FIELD + 1) + '"\n', "m.csv:2"),
    ("m.xlsx", "a\n", "m.xlsx"),
])
def test_bad_manifests_name_file_and_line(tmp_path, name, text, where):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as exc:
        mf.read_manifest(tmp_path / name, name)
    assert str(exc.value).startswith(where + ":") and "\n" not in str(exc.value)


def test_rows_match_names_stems_and_relative_paths():
    m = mf.Manifest("m.csv", ("k",), tuple(mf.Row("m.csv", i + 2, {"k": v}) for i, v in enumerate(
        ["a.png", "b", "DS/train/p1/s1/v1.jpg", "p2/s1/v1.jpg", "zzz.png"])))
    inputs = [("A", ("a.png", "in/a.png")), ("B", ("b.png",)), ("C", ("v1.jpg", "p1/s1/v1.jpg")),
              ("D", ("v1.jpg", "p2/s1/v1.jpg")), ("E", ("e.png",))]
    got = mf.match(m, inputs)
    assert {k: r["k"] for k, r in got.rows.items()} == {
        "A": "a.png", "B": "b", "C": "DS/train/p1/s1/v1.jpg", "D": "p2/s1/v1.jpg"}
    assert got.missing == ["E"] and [r.line for r in got.unused] == [6]


# ------------------------------------------------------------- datasets

def test_nih_style_folder(datasets, tmp_path):
    table = mf.read_manifest(datasets / "nih" / "Data_Entry_2017.csv")
    started = datetime(2026, 1, 2, 3, 4, 5)
    entries = list(convert_files([datasets / "nih" / "images"], DX, tmp_path, NIH, started=started,
                                 metadata=datasets / "nih" / "Data_Entry_2017.csv"))
    assert all(e["status"] == "ok" for e in entries) and len(entries) == 30
    out = _read(tmp_path)
    studies: dict[str, set[str]] = defaultdict(set)
    for row in table.rows:
        ds = out[row["Image Index"].replace(".png", ".dcm")]
        pid = int(row["Patient ID"])
        assert ds.PatientID == f"NIH{pid:08d}"
        assert ds.PatientAge == f"{int(row['Patient Age']):03d}Y" and ds.PatientSex == row["Patient Gender"]
        assert ds.ViewPosition == row["View Position"]
        # the original's spacing scaled to the 24x24 PNG (PS3.3 10.7.1.3: row\column)
        want = [float(row["y]"]) * int(row["Height]"]) / 24,
                float(row["OriginalImagePixelSpacing[x"]) * int(row["OriginalImage[Width"]) / 24]
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx(want, rel=1e-5)
        assert ds.ImagerPixelSpacing == ds.PixelSpacing
        studies[ds.StudyInstanceUID].add(f"{pid}/{row['Follow-up #']}")
        assert ds.AccessionNumber == f"NIH{pid:08d}{int(row['Follow-up #']):03d}"
    # one study per (patient, follow-up), and never two of those in one study
    pairs = {f"{int(r['Patient ID'])}/{r['Follow-up #']}" for r in table.rows}
    assert len(studies) == len(pairs) and all(len(v) == 1 for v in studies.values())
    # the fast path's files are those of the ordinary path (hashed UIDs: the same on both)
    hashed = tmp_path.parent / (tmp_path.name + "_hashed.yaml")
    hashed.write_text(f"extends: {NIH}\nuids: {{study: hash, series: hash, instance: hash, key: k}}\n")
    fast = tmp_path.parent / (tmp_path.name + "_fast")
    list(convert_files([datasets / "nih" / "images"], DX, fast, hashed, started=started,
                       metadata=datasets / "nih" / "Data_Entry_2017.csv"))
    for result in convert_batch([datasets / "nih" / "images"], DX, hashed, started=started,
                                metadata=datasets / "nih" / "Data_Entry_2017.csv"):
        buf = io.BytesIO()
        result.datasets[0].save_as(buf, enforce_file_format=True)
        name = Path(result.input).with_suffix(".dcm").name
        assert (fast / name).read_bytes() == buf.getvalue(), name


def test_chexpert_style_tree(datasets, tmp_path):
    root = datasets / "chexpert" / "CheXpert-v1.0-small"
    entries = list(convert_files([root / "train"], DX, tmp_path, CHEXPERT, keep_tree=True,
                                 metadata=root / "train.csv"))
    assert all(e["status"] == "ok" for e in entries) and len(entries) == 10
    out = _read(tmp_path)
    by_study: dict[tuple[str, str], set[str]] = defaultdict(set)
    series: dict[str, list[int]] = defaultdict(list)
    for rel, ds in out.items():
        patient, study, view = Path(rel).parts
        assert ds.PatientID == patient and ds.StudyID == study
        by_study[(patient, study)].add(ds.StudyInstanceUID)
        assert ds.SeriesDescription == ("Frontal" if "frontal" in view else "Lateral")
        assert int(ds.SeriesNumber) == (1 if "frontal" in view else 2)  # first seen first
        series[ds.SeriesInstanceUID].append(int(ds.InstanceNumber))
        assert ds.PatientSex in ("M", "F") and ds.PatientAge.endswith("Y")
    assert all(len(uids) == 1 for uids in by_study.values())
    assert len({u for uids in by_study.values() for u in uids}) == len(by_study)
    assert all(sorted(n) == list(range(1, len(n) + 1)) for n in series.values())


def test_outputs_are_dciodvfy_clean(datasets, tmp_path):
    require_tool("dciodvfy")
    root = datasets / "chexpert" / "CheXpert-v1.0-small"
    list(convert_files([root / "train"], DX, tmp_path / "c", CHEXPERT, metadata=root / "train.csv"))
    list(convert_files([datasets / "nih" / "images"], DX, tmp_path / "n", NIH,
                       metadata=datasets / "nih" / "Data_Entry_2017.csv"))
    list(convert_files([datasets / "mimic" / "files"], DX, tmp_path / "m", REPO / "templates" / "mimic-cxr.yaml",
                       metadata=datasets / "mimic" / "mimic-cxr-2.0.0-metadata.csv"))
    files = sorted(tmp_path.rglob("*.dcm"))
    assert len(files) == 10 + 30 + 5
    for path in files[::3]:  # every third file: all three layouts, lean
        verdict = dciodvfy(path)
        assert not verdict.errors, f"{path}: {verdict.errors}"


def test_hashed_uids_follow_the_row(datasets, tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(f"extends: {NIH}\nuids: {{study: hash, series: hash, key: k}}\n")
    images = datasets / "nih" / "images"
    table = datasets / "nih" / "Data_Entry_2017.csv"
    first = list(convert_files([images], DX, tmp_path / "a", profile, metadata=table))
    # the same rows in another order and a subset of the images: the same studies
    subset = sorted(images.iterdir())[::-1][:7]
    second = list(convert_files(subset, DX, tmp_path / "b", profile, metadata=table, metadata_optional=True))
    uids = {Path(e["input"]).name: (e["study_instance_uid"], e["series_instance_uid"]) for e in first}
    assert all(uids[Path(e["input"]).name] == (e["study_instance_uid"], e["series_instance_uid"]) for e in second)


# -------------------------------------------------------- bad manifests

def _cli(tmp_path, capsys, csv_text: str, *extra: str) -> tuple[int, list[str]]:
    images = tmp_path / "in"
    images.mkdir(exist_ok=True)
    for name in ("a.png", "b.png"):
        (images / name).write_bytes((REPO / "sample_data" / "gray8.png").read_bytes())
    (tmp_path / "meta.csv").write_text(csv_text, encoding="utf-8")
    (tmp_path / "p.yaml").write_text('metadata:\n  PatientID: "{meta[Patient ID]}"\n'
                                     '  PatientAge: "{meta[Age]}"\n')
    os.chdir(tmp_path)
    code = main(["convert", "in", "--template", str(DX), "--profile", "p.yaml", "--metadata", "meta.csv",
                 "--out", "out", *extra])
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln]


@pytest.mark.parametrize("csv_text,code,first", [
    ("name,Patient ID\na.png,1\nb.png,2\n", 2, "dicom-rewrite: error: meta.csv:1: no column 'Age'"),
    ("name,Patient ID,Age\na.png,1,007Y\nb.png,2,007Y\na.png,3,007Y\n", 2,
     "dicom-rewrite: error: meta.csv:4:1: key 'a.png' is given twice (first at line 2)"),
    ("name,Patient ID,Age\na.png,1,007Y\nb.png,2,7 years\n", 1,
     "dicom-rewrite: error: in/b.png: meta.csv:3:3: column 'Age': p.yaml:3: metadata PatientAge: invalid for VR AS"),
    ("name,Patient ID,Age\na.png,1,007Y\nb.png,2,007Y\nc.png,3,007Y\n", 2,
     "dicom-rewrite: error: meta.csv:4:1: 'c.png' matches no input"),
    ("name,Patient ID,Age\na.png,1,007Y\n", 2, "dicom-rewrite: error: in/b.png: no row in meta.csv"),
])
def test_each_bad_manifest_is_one_line(tmp_path, capsys, monkeypatch, csv_text, code, first):
    monkeypatch.chdir(tmp_path)
    got, lines = _cli(tmp_path, capsys, csv_text)
    assert got == code
    assert lines[0].startswith(first), lines
    assert len(lines) == (2 if code == 1 else 1)  # exit 1: the error and the summary line
    assert (tmp_path / "out").exists() == (code == 1)  # exit 2: nothing written


def test_optional_metadata_converts_inputs_without_a_row(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _lines = _cli(tmp_path, capsys, "name,Patient ID,Age\na.png,P1,007Y\nzz.png,P2,007Y\n",
                        "--metadata-optional", "--report", "r.json")
    assert code == 0
    report = {Path(e["input"]).name: e for e in json.loads((tmp_path / "r.json").read_text())}
    assert any("no row in meta.csv" in n for n in report["b.png"]["notes"])
    assert pydicom.dcmread(tmp_path / "out" / "a.dcm").PatientAge == "007Y"
    assert "PatientAge" not in pydicom.dcmread(tmp_path / "out" / "b.dcm") or \
        not pydicom.dcmread(tmp_path / "out" / "b.dcm").PatientAge


def test_a_profile_using_meta_needs_a_manifest(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text('metadata:\n  PatientID: "{meta[Patient ID]}"\n')
    code = main(["convert", str(REPO / "sample_data" / "gray8.png"), "--template", str(DX),
                 "--profile", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "p.yaml:2: metadata PatientID: uses {meta[Patient ID]}" in err


# ------------------------------------------------------------------ docs

def test_docs_examples_run(tmp_path, monkeypatch):
    """docs/metadata.md: its console examples, in a folder with the sample
    datasets (run in this process: the commands are cli.main calls)."""
    text = (REPO / "docs" / "metadata.md").read_text(encoding="utf-8")
    commands = [ln[2:].strip() for block in re.findall(r"```console\n(.*?)```", text, flags=re.S)
                for ln in block.splitlines() if ln.startswith("$ ")]
    assert len(commands) >= 4
    for name in ("templates", "sample_data"):
        (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    for cmd in commands:
        argv = shlex.split(cmd)
        if argv[:2] == ["python", "sample_data/make_datasets.py"]:
            _datasets_module().main(argv[2:])
            continue
        assert argv[0] == "dicom-rewrite"
        assert main(argv[1:]) == 0, f"docs/metadata.md example failed: {cmd}"
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 30 + 10 + 5
