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
