"""Third-party DICOM tools used as oracles by the tests.

When the environment variable ``DICOM_REWRITE_REQUIRE_INTEROP`` is ``1`` (set
by ``.ci/run``), a missing tool makes the test **fail**; otherwise it is
skipped with a reason naming the Debian package to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE = os.environ.get("DICOM_REWRITE_REQUIRE_INTEROP") == "1"

#: tool -> Debian package that provides it
PACKAGES = {
    "dciodvfy": "dicom3tools",
    "dcmdump": "dcmtk",
    "dcmj2pnm": "dcmtk",
    "dcmp2pgm": "dcmtk",
    "dcml2pnm": "dcmtk",
    "dcm2pnm": "dcmtk",
    "storescu": "dcmtk",
    "dcmmkdir": "dcmtk",
    "gdcmdump": "libgdcm-tools",
    "openssl": "openssl",
    "gdcminfo": "libgdcm-tools",
    "gdcmconv": "libgdcm-tools",
    "Orthanc": "orthanc",
}


def require_tool(name: str) -> str:
    """Return the path of ``name``, or skip/fail the test when it is missing."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path:
        return path
    msg = f"{name} not found (install the Debian package {PACKAGES.get(name, name)})"
    if REQUIRE:
        pytest.fail(msg + "; DICOM_REWRITE_REQUIRE_INTEROP=1 forbids skipping")
    pytest.skip(msg)


def require_module(name: str):
    """Import a Python module or skip/fail like :func:`require_tool`."""
    try:
        return __import__(name)
    except ImportError:
        msg = f"Python module {name} not installed (pip install -e '.[test]')"
        if REQUIRE:
            pytest.fail(msg)
        pytest.skip(msg)


@dataclass
class Verdict:
    errors: list[str]
    warnings: list[str]
    output: str


def dciodvfy(path: str | Path) -> Verdict:
    """Run dciodvfy on one file; return its errors and warnings."""
    exe = require_tool("dciodvfy")
    proc = subprocess.run([exe, "-new", str(path)], capture_output=True, text=True, errors="replace", timeout=120)
    text = proc.stdout + proc.stderr
    lines = text.splitlines()
    errors = [ln for ln in lines if ln.startswith("Error")]
    warnings = [ln for ln in lines if ln.startswith("Warning")]
    return Verdict(errors, warnings, text)


def assert_dciodvfy_clean(path: str | Path) -> Verdict:
    v = dciodvfy(path)
    assert not v.errors, f"dciodvfy errors for {path}:\n" + "\n".join(v.errors)
    return v


def dcmdump_strict(path: str | Path) -> str:
    """Parse with dcmtk in its strictest mode; fail on any error."""
    exe = require_tool("dcmdump")
    proc = subprocess.run(
        [exe, "+fo", "-E", "-Ep", "-dc", str(path)], capture_output=True, text=True, errors="replace", timeout=120
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"dcmdump failed on {path}:\n{text}"
    bad = [ln for ln in text.splitlines() if re.match(r"^[EF]:", ln)]
    assert not bad, f"dcmdump reported errors on {path}:\n" + "\n".join(bad)
    return proc.stdout


def gdcminfo(path: str | Path) -> str:
    exe = require_tool("gdcminfo")
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, errors="replace", timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"gdcminfo failed on {path}:\n{text}"
    return text
