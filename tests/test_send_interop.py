"""Outputs sent to a real PACS (Orthanc on loopback, with its DICOMweb
plugin) by DICOM C-STORE and by STOW-RS: every instance stored once (over
one association; in bounded chunks), per-instance status in the report, and
a PACS that goes away mid-batch costs only those stores."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicom_rewrite import convert_files
from dicom_rewrite.api import DimseSink, Peer, echo
from dicom_rewrite.batch.stow import StowSink
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
    with running_orthanc(tmp_path_factory.mktemp("orthanc-send"), dicomweb=True) as server:
        yield server


@pytest.fixture(scope="module")
def png200(tmp_path_factory):
    folder = tmp_path_factory.mktemp("png200") / "png"
    return folder, _pngs(folder, 200)


def _stored_once(orthanc, entries, arrays):
    """Every sent instance is in the PACS once (counts and UIDs), and the
    pixels of one, decoded by the PACS, are the source's."""
    assert all(e["status"] == "ok" for e in entries), [e for e in entries if e["status"] != "ok"][:2]
    (study,) = {e["study_instance_uid"] for e in entries}
    stored = orthanc.study_instances(study)
    sent = [u for e in entries for u in e["sop_instance_uids"]]
    assert len(sent) == len(set(sent)) == len(stored) == len(arrays)
    assert set(stored) == set(sent)
    first = next(e for e in entries if e["input"].endswith("img0000.png"))
    png = orthanc.get(f"/instances/{stored[first['sop_instance_uids'][0]]}/image-uint16")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))).astype(np.int64), arrays[0].astype(np.int64))


def test_200_images_stored_once_over_one_association(orthanc, tmp_path, png200):
    folder, arrays = png200
    sink = DimseSink(Peer.parse(orthanc.peer))
    entries = list(convert_files([folder], CT, tmp_path / "out", send_to=[sink], durable=False))
    _stored_once(orthanc, entries, arrays)
    assert sink.associations == 1
    assert all(e["destinations"] == [*e["outputs"], f"dimse://{orthanc.peer} success"] for e in entries)
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 200  # kept locally too


def test_200_images_stored_once_by_stow_in_bounded_chunks(orthanc, png200):
    folder, arrays = png200
    sink = StowSink(orthanc.stow, max_instances=64)
    entries = list(convert_files([folder], CT, None, send_to=[sink]))
    _stored_once(orthanc, entries, arrays)
    assert sink.requests == 4  # 64 + 64 + 64 + 8 instances
    assert all(e["destinations"] == [f"{orthanc.stow}/studies success"] and e["outputs"] == [] for e in entries)


def test_send_and_stow_without_out_keep_nothing_locally(orthanc, tmp_path, monkeypatch):
    _pngs(tmp_path / "png", 3)
    monkeypatch.setenv("PACS_TOKEN", "s3cret-token")
    report = tmp_path / "report.json"
    code = main(["convert", str(tmp_path / "png"), "--template", str(CT), "--send", orthanc.peer,
                 "--stow", orthanc.stow, "--token-env", "PACS_TOKEN", "--report", str(report)])
    assert code == 0
    entries = json.loads(report.read_text())
    assert len(orthanc.study_instances(entries[0]["study_instance_uid"])) == 3
    assert [e["outputs"] for e in entries] == [[], [], []]
    assert all(e["destinations"] == [f"dimse://{orthanc.peer} success", f"{orthanc.stow}/studies success"]
               for e in entries)
    assert "s3cret" not in report.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["png", "report.json"]


def test_a_token_variable_that_is_not_set_is_a_usage_error(orthanc, tmp_path, capsys, monkeypatch):
    _pngs(tmp_path / "png", 1)
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    assert main(["convert", str(tmp_path / "png"), "--template", str(CT), "--stow", orthanc.stow,
                 "--token-env", "NO_SUCH_TOKEN"]) == 2
    assert "NO_SUCH_TOKEN is not set" in capsys.readouterr().err


def test_echo(orthanc, capsys):
    assert echo(orthanc.peer).endswith(" success")
    assert main(["echo", orthanc.peer]) == 0
    assert "success" in capsys.readouterr().out


def test_a_pacs_that_stops_mid_batch_fails_only_those_stores(tmp_path, capsys):
    _pngs(tmp_path / "png", 12)
    with running_orthanc(tmp_path / "pacs", dicomweb=True) as server:
        sinks = [DimseSink(Peer.parse(server.peer), timeout=5, retries=1),
                 StowSink(server.stow, max_instances=1, retries=0)]
        entries = []
        for entry in convert_files([tmp_path / "png"], CT, tmp_path / "out", send_to=sinks):
            entries.append(entry)
            if len(entries) == 4:
                server.stop()
    assert len(entries) == 12
    assert [e["status"] for e in entries[:4]] == ["ok"] * 4
    failed = entries[5:]
    assert all(e["status"] == "error" and "C-STORE to dimse://" in e["error"] for e in failed)
    sent = [d for e in failed for d in e["destinations"][1:]]
    assert all(d.startswith(("C-STORE to", "STOW-RS to")) for d in sent), sent
    assert all(len(e["destinations"]) == 3 for e in entries)
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 12  # everything still written locally
    assert "Traceback" not in capsys.readouterr().err


def test_send_command_sends_existing_files_of_any_kind(orthanc, tmp_path):
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    _pngs(tmp_path / "png", 2)
    folder = tmp_path / "in"
    assert main(["convert", str(tmp_path / "png"), "--template", str(CT), "--out", str(folder / "cd"),
                 "--dicomdir", "--no-fsync"]) == 0
    theirs = dcmread(get_testdata_file("CT_small.dcm"))
    raw = folder / "raw.dcm"  # no preamble, no file meta (a PS3.5 data set only)
    plain = theirs.copy()
    plain.SOPInstanceUID = theirs.SOPInstanceUID + ".1"
    del plain.file_meta
    plain.save_as(raw, enforce_file_format=False, implicit_vr=True, little_endian=True)
    (folder / "notes.txt").write_text("not DICOM")
    report = tmp_path / "sent.json"
    code = main(["send", str(folder / "cd" / "DICOMDIR"), str(raw), get_testdata_file("CT_small.dcm"),
                 "--send", orthanc.peer, "--stow", orthanc.stow, "--report", str(report)])
    assert code == 0
    entries = json.loads(report.read_text())
    assert len(entries) == 4 and all(e["status"] == "ok" for e in entries)
    assert all(e["destinations"] == [f"dimse://{orthanc.peer} success", f"{orthanc.stow}/studies success"]
               for e in entries)
    for e in entries:
        found = orthanc.post("/tools/find", {"Level": "Instance", "Query": {"SOPInstanceUID": e["sop_instance_uid"]}})
        assert len(found) == 1, e
    # a folder: its other files are skipped and listed, not failed
    report2 = tmp_path / "folder.json"
    assert main(["send", str(folder), "--stow", orthanc.stow, "--report", str(report2)]) == 0
    by_name = {Path(e["input"]).name: e["status"] for e in json.loads(report2.read_text())}
    assert by_name["notes.txt"] == "skipped" and by_name["DICOMDIR"] == "skipped" and by_name["raw.dcm"] == "ok"


def test_send_needs_a_destination(capsys):
    assert main(["send", str(CT)]) == 2
    assert "--send AET@HOST:PORT or --stow URL" in capsys.readouterr().err


def _self_signed(folder, name):
    """A self-signed certificate for 127.0.0.1 (it is its own authority)."""
    import subprocess

    from tests.interop import require_tool

    crt, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run([require_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(crt)], check=True, capture_output=True, timeout=60)
    return crt, key


def test_send_over_tls_with_certificates_on_both_sides(tmp_path):
    server_crt, server_key = _self_signed(tmp_path, "pacs")
    client_crt, client_key = _self_signed(tmp_path, "client")
    _pngs(tmp_path / "png", 2)
    tls = {"DicomTlsEnabled": True, "DicomTlsCertificate": str(server_crt), "DicomTlsPrivateKey": str(server_key),
           "DicomTlsTrustedCertificates": str(client_crt), "DicomTlsRemoteCertificateRequired": True}
    with running_orthanc(tmp_path / "pacs", extra=tls) as server:
        opts = ["--tls-ca", str(server_crt), "--tls-cert", str(client_crt), "--tls-key", str(client_key)]
        assert main(["echo", server.peer, *opts]) == 0
        report = tmp_path / "r.json"
        assert main(["convert", str(tmp_path / "png"), "--template", str(CT), "--send", server.peer, *opts,
                     "--report", str(report)]) == 0
        entries = json.loads(report.read_text())
        assert len(server.study_instances(entries[0]["study_instance_uid"])) == 2
        # without TLS, or trusting another authority, the PACS is not reached
        assert main(["echo", server.peer, "--timeout", "3"]) == 1
        assert main(["echo", server.peer, "--timeout", "3", "--tls-ca", str(client_crt), "--tls-cert",
                     str(client_crt), "--tls-key", str(client_key)]) == 1


def test_the_readme_sending_example_runs(orthanc, tmp_path):
    import os
    import re
    import shlex
    import subprocess
    import sys

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Sending to a PACS or a DICOMweb server", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)
    for name in ("templates", "sample_data"):
        (tmp_path / name).symlink_to(REPO / name)
    env = {**os.environ, "PACS_TOKEN": "token-from-the-environment"}
    for line in block.splitlines():
        line = line.replace("ORTHANC@127.0.0.1:4242", orthanc.peer).replace("http://127.0.0.1:8042", orthanc.base)
        argv = shlex.split(line)
        assert argv[0] == "dicom-rewrite"
        proc = subprocess.run([sys.executable, "-m", "dicom_rewrite", *argv[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
    sent = json.loads((tmp_path / "out" / "sent.json").read_text())
    assert sent and all(e["destinations"] == [f"dimse://{orthanc.peer} success"] for e in sent)
    kept = sorted((tmp_path / "out" / "kept").glob("*.dcm"))
    assert len(sent) == 1 and len(kept) == 2
    for path in kept:  # each kept file was stored (STOW-RS, then again by the send command)
        from pydicom import dcmread

        uid = dcmread(path, stop_before_pixels=True).SOPInstanceUID
        assert len(orthanc.post("/tools/find", {"Level": "Instance", "Query": {"SOPInstanceUID": uid}})) == 1
