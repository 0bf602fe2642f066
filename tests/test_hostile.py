"""Hostile profiles (issue 12): each is refused with one line naming the
file, exit code 2, no traceback, in bounded time and memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

CASES = {
    "format-width": 'set:\n  SeriesDescription: "{stem:>2000000000}"\n',
    "format-precision": 'set:\n  SeriesDescription: "{index:.900000000f}"\n',
    "python-tag": 'set:\n  SeriesDescription: !!python/object/apply:os.system ["echo pwned"]\n',
    "binary-tag": 'set:\n  SeriesDescription: !!binary aGVsbG8=\n',
    "custom-tag": 'set:\n  SeriesDescription: !mine "x"\n',
    "deep-yaml": "a: " + "[" * 3000 + "]" * 3000 + "\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_profile_is_one_line_exit_2(tmp_path, name):
    profile = tmp_path / f"{name}.yaml"
    profile.write_text(CASES[name], encoding="utf-8")
    code = (
        "import sys\n"
        "from dicom_rewrite.cli import main\n"
        f"rc = main(['profile', 'check', {str(profile)!r}])\n"
        # VmHWM: this process's own peak (ru_maxrss can carry the parent's peak across fork and exec)
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0], file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=REPO)
    *lines, rss = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("dicom-rewrite: error: ") and profile.name in lines[0]
    assert "Traceback" not in proc.stderr
    assert int(rss) < 300_000  # kB: nothing runs away
    assert "pwned" not in proc.stdout


def test_a_huge_profile_file_is_not_read(tmp_path):
    from dicom_rewrite.errors import ProfileError
    from dicom_rewrite.profile import load_profile

    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(5 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(ProfileError, match="at most"):
        load_profile(big)


def test_a_series_rerun_with_overwrite_replaces_instead_of_adding(tmp_path):
    import numpy as np

    from dicom_rewrite.cli import main

    np.save(tmp_path / "v.npy", np.zeros((3, 8, 8), np.int16))
    args = ["series", str(tmp_path / "v.npy"), "--template", str(REPO / "templates" / "ct.dcm"),
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert main([*args, "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["v_0001.dcm", "v_0002.dcm", "v_0003.dcm"]
    assert main(args) == 0  # without it, a rerun never overwrites: _2 names
    assert len(list((tmp_path / "out").glob("*_2.dcm"))) == 3


def _leaky_template(tmp_path):
    """templates/dx.dcm with a private value and a value in a tag the dictionary does not know."""
    import pydicom
    from pydicom.dataelem import DataElement

    ds = pydicom.dcmread(REPO / "templates" / "dx.dcm")
    block = ds.private_block(0x0009, "LEAKY CREATOR", create=True)
    block.add_new(0x10, "LO", "LEAKID7741")
    ds.add(DataElement(0x00189999, "LO", "UNKNOWNLEAK42"))
    path = tmp_path / "leaky.dcm"
    ds.save_as(path)
    return path


def test_dry_run_never_prints_private_or_unknown_template_values(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from dicom_rewrite.cli import main

    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    assert main(["convert", str(tmp_path / "a.png"), "--template", str(_leaky_template(tmp_path)),
                 "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(0009,1010)" in out and "(0018,9999)" in out  # the rows are there...
    assert "LEAKID7741" not in out and "UNKNOWNLEAK42" not in out and "LEAKY CREATOR" not in out  # ...not the values


def test_tags_unknown_to_the_dictionary_are_stripped_unless_identity_is_kept(tmp_path):
    import numpy as np
    import pydicom
    from PIL import Image

    from dicom_rewrite import convert_files

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(img)
    (entry,) = convert_files([img], _leaky_template(tmp_path), tmp_path / "out")
    ds = pydicom.dcmread(entry["outputs"][0])
    assert 0x00189999 not in ds and any("unknown to the DICOM dictionary" in n for n in entry["notes"])
    keep = tmp_path / "keep.yaml"
    keep.write_text("identity: keep\n")  # a profile cannot name a tag the dictionary lacks
    (entry,) = convert_files([img], _leaky_template(tmp_path), tmp_path / "kept", keep)
    assert pydicom.dcmread(entry["outputs"][0])[0x00189999].value == "UNKNOWNLEAK42"


# --- limits: box files, frame selections, declared frame counts (issue 12) -------

BOX_CASES = {
    "deep.json": lambda: '{"ct.dcm": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "digits.json": lambda: '{"ct.dcm": [{"box": [1' + "0" * 5000 + ", 1, 5, 5]}]}",
    "field.csv": lambda: "ct.dcm,1,1,5,5," + "x" * 200_000 + "\n",
}


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("dicom-rewrite: error: ")]
    assert "Traceback" not in err and len(lines) == 1, err
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


@pytest.mark.parametrize("name", sorted(BOX_CASES))
def test_hostile_box_file_is_one_line_exit_2(tmp_path, capsys, name):
    from dicom_rewrite.cli import main

    boxes = tmp_path / name
    boxes.write_text(BOX_CASES[name](), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["annotate", str(REPO / "templates" / "ct.dcm"), "--boxes", str(boxes), "--out", str(out)]) == 2
    _one_error_line(capsys, name)
    assert not out.exists() or not any(out.iterdir())


def test_a_huge_box_file_is_not_read(tmp_path, capsys):
    from dicom_rewrite.cli import main

    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: no disk used
    assert main(["annotate", str(REPO / "templates" / "ct.dcm"), "--boxes", str(big),
                 "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "big.csv", "at most")


def test_a_frame_range_of_two_billion_is_a_usage_error(tmp_path, capsys):
    from dicom_rewrite.cli import main

    assert main(["export", str(REPO / "templates" / "ct.dcm"), "--frames", "1-2000000000",
                 "--out", str(tmp_path / "out")]) == 2
    _one_error_line(capsys, "--frames", "at most")


@pytest.mark.parametrize("command", ["export", "annotate"])
def test_a_declared_frame_count_the_file_cannot_hold_is_refused_before_allocating(tmp_path, capsys, command):
    import pydicom

    from dicom_rewrite.cli import main

    ds = pydicom.dcmread(REPO / "templates" / "ct.dcm")
    ds.NumberOfFrames = 2147483647
    bomb = tmp_path / "bomb.dcm"
    ds.save_as(bomb)
    extra = ["--box", "1,1,5,5", "--all"] if command == "annotate" else []
    assert main([command, str(bomb), *extra, "--out", str(tmp_path / "out")]) == 1  # that input failed
    _one_error_line(capsys, "bomb.dcm", "Number of Frames 2147483647")


def test_a_dicomdir_record_of_a_missing_file_is_reported(tmp_path, capsys):
    import numpy as np
    from pydicom.fileset import FileSet

    from dicom_rewrite import convert_image
    from dicom_rewrite.cli import main

    fs = FileSet()
    for i in range(2):
        ds = convert_image(np.full((8, 8), i, np.uint8), REPO / "templates" / "ct.dcm")
        ds.PatientID, ds.PatientName, ds.StudyID = "P1", "X", "1"
        fs.add(ds)
    fs.write(tmp_path / "set")
    gone = next(p for p in sorted((tmp_path / "set").rglob("IM*")))
    gone.unlink()
    report = tmp_path / "r.json"
    assert main(["export", str(tmp_path / "set" / "DICOMDIR"), "--out", str(tmp_path / "out"),
                 "--report", str(report)]) == 1
    _one_error_line(capsys, gone.name, "DICOMDIR but not found")
    import json

    entries = json.loads(report.read_text())
    assert [e["status"] for e in entries] == ["ok", "error"] and len(entries[0]["outputs"]) == 1


# --- the README's promises on errors and exit codes ------------------------------

def _good_and_broken(tmp_path):
    """A good PNG and a broken one (its name has a newline), in one folder."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "good.png")
    (folder / "bro\nken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return folder


@pytest.mark.parametrize("command", ["convert", "export", "annotate"])
def test_readme_exit_1_some_inputs_failed_the_others_written(tmp_path, capsys, command):
    from dicom_rewrite.cli import main

    folder = _good_and_broken(tmp_path)
    tpl = str(REPO / "templates" / "ct.dcm")
    if command != "convert":  # DICOM inputs: the good one converted, a broken one beside it
        assert main(["convert", str(folder / "good.png"), "--template", tpl, "--out", str(folder)]) == 0
        (folder / "good.png").unlink()
        (folder / "bro\nken.png").rename(folder / "bro\nken.dcm")
        (folder / "bro\nken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x00")
        capsys.readouterr()
    args = {"convert": ["--template", tpl], "export": [], "annotate": ["--box", "1,1,5,5"]}[command]
    out = tmp_path / "out"
    assert main([command, str(folder), *args, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("dicom-rewrite: error: ")]
    assert len(errors) == 1 and "bro\\nken" in errors[0] and "Traceback" not in err  # one line, \n escaped
    assert len([p for p in out.rglob("*") if p.is_file()]) >= 1  # the good input was written


@pytest.mark.parametrize("what", ["template", "profile", "usage"])
def test_readme_exit_2_nothing_written(tmp_path, capsys, what):
    from dicom_rewrite.cli import main

    folder = _good_and_broken(tmp_path)
    tpl, profile = REPO / "templates" / "ct.dcm", tmp_path / "p.yaml"
    profile.write_text("set:\n  NoSuchKeyword: x\n")
    args = {"template": ["--template", str(tmp_path / "missing.dcm")],
            "profile": ["--template", str(tpl), "--profile", str(profile)],
            "usage": ["--template", str(tpl), "--transfer-syntax", "nonsense"]}[what]
    out = tmp_path / "out"
    try:
        code = main(["convert", str(folder), *args, "--out", str(out)])
    except SystemExit as exc:  # argparse: usage, then one error line
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("dicom-rewrite")
    assert not out.exists() or not any(out.iterdir())
