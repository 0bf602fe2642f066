"""Outputs sent to a real PACS (Orthanc on loopback) by DICOM C-STORE:
every instance stored once over one association, per-instance status in the
report, and a PACS that goes away mid-batch costs only those stores."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from dicom_rewrite import convert_files
from dicom_rewrite.api import DimseSink, Peer, echo
from dicom_rewrite.cli import main
from tests.conftest import REPO
from tests.orthanc import running_orthanc

pytestmark = pytest.mark.interop

CT = REPO / "templates" / "ct.dcm"


def _pngs(folder, n):
    folder.mkdir()
    rng = np.random.default_rng(3)
    arrays = []
    for i in range(n):
        a = rng.integers(0, 256, (32, 40), dtype=np.uint8)
        Image.fromarray(a).save(folder / f"img{i:04d}.png")
        arrays.append(a)
    return arrays


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("orthanc-send")) as server:
        yield server


def test_200_images_stored_once_over_one_association(orthanc, tmp_path):
    arrays = _pngs(tmp_path / "png", 200)
    sink = DimseSink(Peer.parse(orthanc.peer))
    entries = list(convert_files([tmp_path / "png"], CT, tmp_path / "out", send_to=[sink]))
    assert all(e["status"] == "ok" for e in entries), [e for e in entries if e["status"] != "ok"][:2]
    assert sink.associations == 1
    assert all(e["destinations"][1].endswith(" success") for e in entries)
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 200  # kept locally too
    stored = orthanc.json("/instances")
    assert len(stored) == 200
    uids = {orthanc.json(f"/instances/{i}/simplified-tags")["SOPInstanceUID"] for i in stored[:20]}
    sent = {u for e in entries for u in e["sop_instance_uids"]}
    assert uids <= sent
    # the pixels of one instance, decoded by the PACS, are the source's
    first = next(e for e in entries if e["input"].endswith("img0000.png"))
    iid = next(i for i in stored
               if orthanc.json(f"/instances/{i}/simplified-tags")["SOPInstanceUID"] == first["sop_instance_uids"][0])
    got = np.asarray(Image.open(io.BytesIO(orthanc.get(f"/instances/{iid}/image-uint16"))))
    assert np.array_equal(got.astype(np.int64), arrays[0].astype(np.int64))


def test_send_without_out_keeps_nothing_locally(orthanc, tmp_path, capsys):
    _pngs(tmp_path / "png", 3)
    before = len(orthanc.json("/instances"))
    report = tmp_path / "report.json"
    code = main(["convert", str(tmp_path / "png"), "--template", str(CT), "--send", orthanc.peer,
                 "--report", str(report)])
    assert code == 0
    assert len(orthanc.json("/instances")) == before + 3
    entries = json.loads(report.read_text())
    assert [e["outputs"] for e in entries] == [[], [], []]
    assert all(d.startswith(f"dimse://{orthanc.peer}") for e in entries for d in e["destinations"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["png", "report.json"]


def test_echo(orthanc, capsys):
    assert echo(orthanc.peer).endswith(" success")
    assert main(["echo", orthanc.peer]) == 0
    assert "success" in capsys.readouterr().out


def test_a_pacs_that_stops_mid_batch_fails_only_those_stores(tmp_path, capsys):
    _pngs(tmp_path / "png", 12)
    with running_orthanc(tmp_path / "pacs") as server:
        sink = DimseSink(Peer.parse(server.peer), timeout=5, retries=1)
        entries = []
        for entry in convert_files([tmp_path / "png"], CT, tmp_path / "out", send_to=[sink]):
            entries.append(entry)
            if len(entries) == 4:
                server.stop()
    assert len(entries) == 12
    assert [e["status"] for e in entries[:4]] == ["ok"] * 4
    failed = entries[5:]
    assert all(e["status"] == "error" and "C-STORE to dimse://" in e["error"] for e in failed)
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 12  # everything still written locally
    assert "Traceback" not in capsys.readouterr().err
