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

    @pytest.mark.parametrize(("sig", "workers"), [(signal.SIGTERM, "1"), (signal.SIGINT, "2")])
    def test_an_interrupted_batch_writes_its_json_report_and_no_temporary(self, tmp_path, sig, workers):
        src = _pngs(tmp_path / "in", 400)
        out, report = tmp_path / "out", tmp_path / "rep" / "report.json"
        report.parent.mkdir()
        done = _interrupt(_cli("convert", str(src), "--template", str(CT), "--out", str(out),
                               "--report", str(report), "--workers", workers), out, sig, after=5)
        assert done.returncode == (130 if sig == signal.SIGINT else 143), done.stderr
        assert "Traceback" not in done.stderr
        entries = json.loads(report.read_text(encoding="utf-8"))
        written = sorted(out.glob("*.dcm"))
        assert 1 <= len(entries) < 400
        # the report names outputs on disk only; at most those being finished
        # (one, or as many as the workers held) are not in it yet
        reported = {Path(o) for e in entries for o in e["outputs"]}
        assert reported <= {p.resolve() for p in written}
        assert len(written) - len(reported) <= (1 if workers == "1" else 8)
        assert not _parts(out) and not _parts(report.parent)


def _kill9(cmd: list[str], out: Path, after: int, delay: float, tag: str) -> None:
    """Run ``cmd``; ``kill -9`` it once ``after`` outputs exist (and ``delay`` more seconds)."""
    proc = subprocess.Popen(cmd, env={**_env(), "DICOM_REWRITE_TEST_TAG": tag},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and sum(1 for _ in out.glob("*.dcm")) >= after:
            break
        time.sleep(0.005)
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=60)


def _no_workers_left(tag: str) -> bool:
    """No process of a killed batch (its workers carry ``tag`` in their
    environment) outlives it for long: they die with it."""
    marker = f"DICOM_REWRITE_TEST_TAG={tag}".encode()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and marker in (d / "environ").read_bytes():
                    left.append(d.name)
            except OSError:
                continue
        if not left:
            return True
        time.sleep(0.1)
    return False


def _check_complete(src: Path, out: Path, report: Path, n: int) -> None:
    """Exactly ``n`` valid outputs, one per input, numbered in input order, in
    one study and one series; the report complete; nothing else left."""
    from pydicom import dcmread

    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert [p.name for p in files] == [f"img{i:04d}.dcm" for i in range(n)]  # no _2, no .part, no record
    assert not (out / ".dicom-rewrite").exists()
    studies, series, sops = set(), set(), set()
    for i, p in enumerate(files):
        ds = dcmread(p)
        assert int(ds.InstanceNumber) == i + 1 and int(ds.pixel_array[0, 0]) == i % 256
        studies.add(ds.StudyInstanceUID)
        series.add(ds.SeriesInstanceUID)
        sops.add(ds.SOPInstanceUID)
    assert len(studies) == len(series) == 1 and len(sops) == n
    entries = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [Path(e["input"]).name for e in entries] == sorted(q.name for q in src.iterdir())
    assert all(e["status"] == "ok" for e in entries)
    assert sorted(Path(e["outputs"][0]).name for e in entries) == [p.name for p in files]
    assert {u for e in entries for u in e["sop_instance_uids"]} == sops
    assert {e["series_instance_uid"] for e in entries} == series


def _kill_and_resume(tmp_path: Path, n: int, kills: int, workers: str, seed: int) -> None:
    import random

    rng = random.Random(seed)
    src = _pngs(tmp_path / "in", n)
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    base = ["convert", str(src), "--template", str(CT), "--out", str(out), "--report", str(report),
            "--no-fsync", "--workers", workers]
    for k in range(kills):
        have = sum(1 for _ in out.glob("*.dcm")) if out.is_dir() else 0
        _kill9(_cli(*base, *(["--resume"] if k else [])), out,
               after=rng.randint(have, have + n // (kills + 1)), delay=rng.random() * 0.05, tag=str(tmp_path))
    assert sum(1 for _ in out.glob("*.dcm")) < n, "the batch ended before the last kill"
    assert _no_workers_left(str(tmp_path))
    done = subprocess.run(_cli(*base, "--resume"), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _check_complete(src, out, report, n)


def test_kill_9_twice_then_resume_finishes_the_same_batch(tmp_path):
    _kill_and_resume(tmp_path, 80, kills=2, workers="1", seed=18)


@pytest.mark.slow
def test_kill_9_five_times_with_workers_then_resume(tmp_path):
    _kill_and_resume(tmp_path, 120, kills=5, workers="2", seed=1818)


class TestResumeRefuses:
    def _batch(self, tmp_path):
        from dicom_rewrite.cli import main

        src = _pngs(tmp_path / "in", 3)
        out = tmp_path / "out"
        gen = iter(__import__("dicom_rewrite").convert_files([src], CT, out))
        next(gen)  # one input done, then the run stops: the batch is left unfinished
        gen.close()
        assert (out / ".dicom-rewrite" / "batch.json").is_file()
        return main, src, out

    def test_another_template_profile_or_input_list(self, tmp_path, capsys):
        main, src, out = self._batch(tmp_path)
        other = tmp_path / "p.yaml"
        other.write_text("identity: strip\n", encoding="utf-8")
        assert main(["convert", str(src), "--template", str(REPO / "templates" / "mr.dcm"),
                     "--out", str(out), "--resume"]) == 2
        assert main(["convert", str(src), "--template", str(CT), "--profile", str(other),
                     "--out", str(out), "--resume"]) == 2
        (src / "img0003.png").write_bytes((src / "img0000.png").read_bytes())
        assert main(["convert", str(src), "--template", str(CT), "--out", str(out), "--resume"]) == 2
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 3 and all("holds another batch" in line for line in lines)
        assert "template" in lines[0] and "profile" in lines[1] and "inputs" in lines[2]
        assert sorted(p.name for p in out.glob("*.dcm")) == ["img0000.dcm"]  # nothing written

    def test_a_folder_without_a_batch(self, tmp_path, capsys):
        from dicom_rewrite.cli import main

        src = _pngs(tmp_path / "in", 1)
        out = tmp_path / "o"
        out.mkdir()
        (out / "other.dcm").write_bytes(b"someone else's")
        assert main(["convert", str(src), "--template", str(CT), "--out", str(out), "--resume"]) == 2
        assert "no batch to resume" in capsys.readouterr().err
        # a folder not made yet: --resume starts the batch (a retry loop may always say it)
        assert main(["convert", str(src), "--template", str(CT), "--out", str(tmp_path / "new"), "--resume"]) == 0
        assert [p.name for p in (tmp_path / "new").iterdir()] == ["img0000.dcm"]


def _hash_profile(tmp_path: Path) -> Path:
    p = tmp_path / "hash.yaml"
    p.write_text("uids:\n  key: resume-test\n  study: hash\n  series: hash\n  instance: hash\n"
                 "  frame_of_reference: hash\n", encoding="utf-8")
    return p


def test_workers_give_the_same_bytes_names_and_report(tmp_path):
    from datetime import datetime

    from dicom_rewrite import convert_files

    src = _pngs(tmp_path / "in", 40)
    (src / "broken.png").write_bytes(b"not a png")  # a failure in the middle keeps its place
    prof, started = _hash_profile(tmp_path), datetime(2020, 1, 2, 3, 4, 5)
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"w{n}"
        entries = list(convert_files([src, src / "img0001.png"], CT, out, prof, started=started, workers=n))
        files = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        runs[n] = (json.dumps(entries).replace(str(out), "OUT"), files)
    assert runs[1] == runs[2]
    report, files = runs[1]
    assert len(files) == 41 and Path("img0001_2.dcm") in files and '"error"' in report


def test_workers_keep_one_study_and_series_and_the_input_order(tmp_path):
    from pydicom import dcmread

    from dicom_rewrite import convert_files

    src = _pngs(tmp_path / "in", 30)
    entries = list(convert_files([src], CT, tmp_path / "out", workers=2, durable=False))
    assert [Path(e["input"]).name for e in entries] == [f"img{i:04d}.png" for i in range(30)]
    datasets = [dcmread(e["outputs"][0], stop_before_pixels=True) for e in entries]
    assert [int(d.InstanceNumber) for d in datasets] == list(range(1, 31))
    assert len({d.StudyInstanceUID for d in datasets}) == len({d.SeriesInstanceUID for d in datasets}) == 1
    assert len({d.SOPInstanceUID for d in datasets}) == 30
