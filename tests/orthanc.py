"""A real Orthanc PACS on loopback for the tests (Debian package ``orthanc``)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.interop import REQUIRE, require_tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    base: str  # REST API
    port: int  # DICOM port
    proc: subprocess.Popen[bytes]

    @property
    def stow(self) -> str:
        """The DICOMweb base URL (with ``dicomweb=True``)."""
        return f"{self.base}/dicom-web"

    @property
    def peer(self) -> str:
        return f"ORTHANC@127.0.0.1:{self.port}"

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return bytes(r.read())

    def json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def post(self, path: str, body: Any) -> Any:
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def study_instances(self, study_uid: str) -> dict[str, str]:
        """SOP Instance UID -> Orthanc id of every instance stored in the study."""
        found = self.post("/tools/find", {"Level": "Instance", "Query": {"StudyInstanceUID": study_uid},
                                          "Expand": True})
        return {i["MainDicomTags"]["SOPInstanceUID"]: i["ID"] for i in found}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


#: the Debian package orthanc-dicomweb's plugin (STOW-RS, QIDO-RS, WADO-RS)
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def require_dicomweb_plugin() -> Path:
    if DICOMWEB_PLUGIN.is_file():
        return DICOMWEB_PLUGIN
    msg = f"{DICOMWEB_PLUGIN} not found (install the Debian package orthanc-dicomweb)"
    if REQUIRE:
        pytest.fail(msg + "; DICOM_REWRITE_REQUIRE_INTEROP=1 forbids skipping")
    pytest.skip(msg)


@contextmanager
def running_orthanc(root: Path, *, dicomweb: bool = False, extra: dict[str, Any] | None = None):
    """Orthanc on loopback; ``dicomweb``: with the DICOMweb plugin at
    ``/dicom-web/``; ``extra``: more configuration (e.g. DICOM TLS)."""
    exe = require_tool("Orthanc")
    http, dicom = free_port(), free_port()
    config: dict[str, Any] = {
        "Name": "dicom-rewrite-test", "StorageDirectory": str(root / "db"), "IndexDirectory": str(root / "db"),
        "HttpPort": http, "DicomPort": dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": False, "Plugins": [],
        "HttpBindAddress": "127.0.0.1", "DicomServerEnabled": True,
    }
    if dicomweb:
        config["Plugins"] = [str(require_dicomweb_plugin())]
        config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
    config.update(extra or {})
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config))
    with open(root / "orthanc.log", "w") as log:
        proc = subprocess.Popen([exe, str(root / "config.json")], stdout=log, stderr=log)
        server = Orthanc(f"http://127.0.0.1:{http}", dicom, proc)
        deadline = time.time() + 30
        while True:
            try:
                server.get("/system")
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    server.stop()
                    pytest.fail("Orthanc did not start: " + (root / "orthanc.log").read_text()[-2000:])
                time.sleep(0.3)
        try:
            yield server
        finally:
            if proc.poll() is None:
                server.stop()
