"""Orthanc as a real PACS: our outputs are accepted over DICOM (dcmtk's
storescu), indexed with the right patient/study/series structure, and decoded
by Orthanc to the exact source pixels."""

from __future__ import annotations

import io
import json
import subprocess
import urllib.request

import numpy as np
import pytest
from PIL import Image

from dicom_rewrite import convert_files
from tests.conftest import REPO
from tests.images import make_images
from tests.interop import require_tool
from tests.orthanc import running_orthanc

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server.base, server.port


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def test_orthanc_accepts_and_decodes(orthanc, tmp_path):
    base, port = orthanc
    storescu = require_tool("storescu")
    folder = tmp_path / "img"
    expected = make_images(folder)
    names = ["gray8.png", "gray16.png", "rgb.png"]
    entries = list(convert_files([folder / n for n in names], REPO / "templates" / "ct.dcm", tmp_path / "out"))
    files = [e["outputs"][0] for e in entries]
    proc = subprocess.run(
        [storescu, "-aec", "ORTHANC", "127.0.0.1", str(port), *files],
        capture_output=True, text=True, errors="replace", timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    instances = json.loads(_get(base + "/instances"))
    assert len(instances) == 3
    studies = json.loads(_get(base + "/studies"))
    assert len(studies) == 1, "one batch must be one study"
    series = json.loads(_get(base + "/series"))
    assert len(series) == 1, "one batch must be one series"

    by_name = {}
    for iid in instances:
        tags = json.loads(_get(f"{base}/instances/{iid}/simplified-tags"))
        assert tags["PatientName"] != "DOE^JANE^Q"
        assert "TPL-000123" not in json.dumps(tags)
        by_name[int(tags["InstanceNumber"])] = (iid, tags)
    for number, name in enumerate(names, start=1):
        iid, tags = by_name[number]
        want = expected[name]
        if want.ndim == 2:
            png = _get(f"{base}/instances/{iid}/image-uint16")
            got = np.asarray(Image.open(io.BytesIO(png)))
        else:
            png = _get(f"{base}/instances/{iid}/preview")
            got = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert np.array_equal(got.astype(np.int64), want.astype(np.int64)), name
