"""Start-up costs what the command needs: ``--help``, ``--version`` and
``convert --help`` import neither pydicom nor numpy (nor highdicom, nibabel,
pynetdicom), and ``import dicom_rewrite`` imports nothing heavy until a name
is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("pydicom", "numpy", "highdicom", "nibabel", "pynetdicom", "PIL", "yaml")


def _imported_after(code: str) -> set[str]:
    probe = (
        "import sys\n"
        f"{code}\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    return set(lines[-1].split()) if lines else set()


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["convert", "--help"], ["echo", "--help"]])
def test_cli_start_up_imports_nothing_heavy(argv):
    code = (
        "import contextlib, io\n"
        "from dicom_rewrite.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass"
    )
    assert _imported_after(code) == set()


def test_import_is_lazy_until_a_name_is_used():
    assert _imported_after("import dicom_rewrite, dicom_rewrite.api") == set()
    assert "pydicom" in _imported_after("import dicom_rewrite\ndicom_rewrite.convert_files")


def test_lazy_names_are_the_real_ones():
    import dicom_rewrite
    from dicom_rewrite import api, convert

    assert dicom_rewrite.convert_files is convert.convert_files is api.convert_files
    with pytest.raises(AttributeError):
        _ = dicom_rewrite.no_such_name


def test_iod_tables_cost_little_memory():
    # highdicom's full attribute tree (22.6 MB of JSON) took ~120 MB to hold;
    # the shipped top-level tables are a few MB at most
    code = (
        "import tracemalloc\n"
        "from pydicom.uid import CTImageStorage\n"
        "from dicom_rewrite.core import iod\n"
        "tracemalloc.start()\n"
        "iod.iod_keywords(CTImageStorage)\n"
        "print(tracemalloc.get_traced_memory()[1])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.split()[-1]) < 8_000_000
