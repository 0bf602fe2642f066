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

from tests.interop import require_tool


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
    def peer(self) -> str:
        return f"ORTHANC@127.0.0.1:{self.port}"

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return bytes(r.read())

    def json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def running_orthanc(root: Path):
    exe = require_tool("Orthanc")
    http, dicom = free_port(), free_port()
    config = {
        "Name": "dicom-rewrite-test", "StorageDirectory": str(root / "db"), "IndexDirectory": str(root / "db"),
        "HttpPort": http, "DicomPort": dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": False, "Plugins": [],
        "HttpBindAddress": "127.0.0.1", "DicomServerEnabled": True,
    }
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
