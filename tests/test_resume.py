"""Batches that survive a crash: the report written as the batch goes, and
(see docs/batch.md) ``--resume`` after ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO

CT = REPO / "templates" / "ct.dcm"


def _pngs(folder: Path, n: int, size: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((size, size), i % 256, np.uint8)).save(folder / f"img{i:04d}.png")
    return folder


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dicom_rewrite", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.part")]


def _interrupt(cmd: list[str], out: Path, sig: int, after: int) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` and send ``sig`` once ``after`` outputs exist."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and sum(1 for _ in out.glob("*.dcm")) >= after:
            break
        time.sleep(0.01)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


class TestReportFile:
    def test_jsonl_is_one_entry_per_line_and_the_json_list_the_same(self, tmp_path):
        from dicom_rewrite.cli import main

        src = _pngs(tmp_path / "in", 3)
        assert main(["convert", str(src), "--template", str(CT), "--out", str(tmp_path / "a"),
                     "--report", str(tmp_path / "r.jsonl")]) == 0
        lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines]
        assert [Path(e["input"]).name for e in entries] == ["img0000.png", "img0001.png", "img0002.png"]
        assert all(e["status"] == "ok" and len(e["outputs"]) == 1 for e in entries)

    @pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
    def test_an_interrupted_batch_writes_its_json_report_and_no_temporary(self, tmp_path, sig):
        src = _pngs(tmp_path / "in", 400)
        out, report = tmp_path / "out", tmp_path / "rep" / "report.json"
        report.parent.mkdir()
        done = _interrupt(_cli("convert", str(src), "--template", str(CT), "--out", str(out),
                               "--report", str(report)), out, sig, after=5)
        assert done.returncode == (130 if sig == signal.SIGINT else 143), done.stderr
        assert "Traceback" not in done.stderr
        entries = json.loads(report.read_text(encoding="utf-8"))
        written = sorted(out.glob("*.dcm"))
        assert 5 <= len(entries) < 400
        # the report names outputs on disk only; at most the one being finished is not in it yet
        reported = {Path(o) for e in entries for o in e["outputs"]}
        assert reported <= {p.resolve() for p in written} and len(written) - len(reported) <= 1
        assert not _parts(out) and not _parts(report.parent)
