"""The batch pipeline: one error policy, sinks that never collide, leave no
temporary files behind and make outputs durable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dicom_rewrite import convert_files
from dicom_rewrite.batch import FolderSink, ReportEntry, Source, Status, run_batch, walk
from dicom_rewrite.errors import InputError, TemplateError
from tests.conftest import REPO

CT = REPO / "templates" / "ct.dcm"
GRAY8 = REPO / "sample_data" / "gray8.png"


class Panic(BaseException):
    """What a Rust codec plugin raises (pyo3's PanicException is a BaseException)."""


def _sources(tmp_path, n=3):
    for i in range(n):
        (tmp_path / f"f{i}.txt").write_text("x")
    return list(walk([tmp_path]))


class TestErrorPolicy:
    def test_one_bad_input_never_stops_the_batch(self, tmp_path):
        def make(src: Source) -> ReportEntry:
            if src.path.name == "f0.txt":
                raise Panic("codec panicked")
            if src.path.name == "f1.txt":
                raise InputError(f"{src.path}: broken")
            return ReportEntry(str(src.path), outputs=["done"])

        entries = list(run_batch(_sources(tmp_path), make))
        assert [e.status for e in entries] == [Status.ERROR, Status.ERROR, Status.OK]
        assert entries[0].error == f"{tmp_path / 'f0.txt'}: codec panicked"  # no class name
        assert entries[1].error.endswith("f1.txt: broken")

    def test_a_template_error_stops_the_batch(self, tmp_path):
        def make(src: Source) -> ReportEntry:
            raise TemplateError("bad template")

        with pytest.raises(TemplateError):
            list(run_batch(_sources(tmp_path), make))

    @pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
    def test_interrupts_pass_through(self, tmp_path, exc):
        def make(src: Source) -> ReportEntry:
            raise exc()

        with pytest.raises(exc):
            list(run_batch(_sources(tmp_path), make))

    def test_a_lazy_make_fails_inside_the_policy(self, tmp_path):
        def make(src: Source):
            yield ReportEntry(str(src.path))
            raise InputError("late failure")

        entries = list(run_batch(_sources(tmp_path, 2), make))
        assert [e.status for e in entries] == [Status.ERROR, Status.ERROR]

    def test_entry_json_has_the_same_keys_for_every_command(self):
        ok = ReportEntry("a.png", outputs=["a.dcm"], fields={"sop_class": "CT"}).as_dict()
        bad = ReportEntry.failed("b.png", "b.png: broken").as_dict()
        assert list(ok)[:4] == list(bad)[:4] == ["input", "outputs", "status", "error"]
        assert ok["error"] is None and bad["status"] == "error"


class TestFolderSink:
    def test_names_never_collide_and_companions_are_free(self, tmp_path):
        (tmp_path / "a.json").write_text("{}")  # someone's sidecar
        sink = FolderSink(tmp_path, companions=(".json",))
        first, second = sink.claim("a.png"), sink.claim("a.png")
        assert first.name == "a_2.png" and second.name == "a_3.png"

    def test_refuses_a_file_as_folder(self, tmp_path):
        (tmp_path / "f").write_text("x")
        with pytest.raises(ValueError, match="not a folder"):
            FolderSink(tmp_path / "f")

    def test_stale_temporaries_of_dead_runs_are_removed(self, tmp_path):
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        stale = tmp_path / "sub" / f".x.dcm.{int(dead.stdout)}.0.part"
        stale.parent.mkdir()
        stale.write_bytes(b"half")
        mine = tmp_path / f".y.dcm.{os.getpid()}.0.part"  # a running process's: kept
        mine.write_bytes(b"busy")
        other = tmp_path / ".notours.part"
        other.write_bytes(b"x")
        sink = FolderSink(tmp_path)
        assert sink.removed_stale == [stale]
        assert not stale.exists() and mine.exists() and other.exists()

    def test_durable_writes_fsync_files_and_folders(self, tmp_path, monkeypatch):
        synced = []
        real = os.fsync
        monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
        entries = list(convert_files([GRAY8, GRAY8], CT, tmp_path / "out"))
        assert all(e["status"] == "ok" for e in entries)
        assert len(synced) == 5  # two files, one folder, the batch record (docs/batch.md) and its folder
        synced.clear()
        list(convert_files([GRAY8], CT, tmp_path / "scratch", durable=False))
        assert synced == []


def test_cli_refuses_a_report_folder_before_writing(tmp_path):
    from dicom_rewrite.cli import main

    (tmp_path / "rep").mkdir()
    code = main(["convert", str(GRAY8), "--template", str(CT), "--out", str(tmp_path / "out"),
                 "--report", str(tmp_path / "rep")])
    assert code == 2 and not (tmp_path / "out").exists()


def test_cli_no_fsync(tmp_path):
    from dicom_rewrite.cli import main

    code = main(["convert", str(GRAY8), "--template", str(CT), "--out", str(tmp_path / "out"), "--no-fsync"])
    assert code == 0 and len(list((tmp_path / "out").glob("*.dcm"))) == 1


class TestMessages:
    def test_a_class_name_is_never_the_message(self):
        from dicom_rewrite.errors import one_line

        assert one_line(MemoryError()) == "out of memory"
        assert one_line(MemoryError("MemoryError")) == "out of memory"
        assert one_line(RuntimeError()) == "unexpected failure"

    def test_control_characters_are_escaped(self, tmp_path):
        from dicom_rewrite.errors import one_line

        assert one_line(ValueError("a\nb.png: bad\x1b[31m")) == "a\\nb.png: bad\\x1b[31m"

    def test_a_file_name_with_a_newline_stays_one_line(self, tmp_path):
        bad = tmp_path / "evil\nname.png"
        bad.write_bytes(b"not an image")
        (entry,) = convert_files([bad], CT, tmp_path / "out")
        assert entry["status"] == "error" and "\n" not in entry["error"]
        assert "evil\\nname.png" in entry["error"]


def _peak_rss_kb(image, out, tmp_path) -> int:
    code = (
        "import sys\n"
        "from dicom_rewrite import convert_files\n"
        f"for e in convert_files([{str(image)!r}], {str(CT)!r}, {str(out)!r}, durable=False):\n"
        "    assert e['status'] == 'ok', e\n"
        # VmHWM: this process's own peak (ru_maxrss can carry the parent's peak across fork and exec)
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return int(res.stdout.split()[-1])


@pytest.mark.slow
def test_many_pages_are_streamed_with_flat_memory(tmp_path):
    """Pages are decoded, converted and written one at a time: a 240-frame
    512x512 GIF (180 MB of RGB pixels) costs about what one frame costs."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    frames = [Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)).quantize(colors=8)
              for _ in range(4)]
    many, one = tmp_path / "many.gif", tmp_path / "one.gif"
    (frames * 60)[0].save(many, save_all=True, append_images=(frames * 60)[1:], duration=40)
    frames[0].save(one)
    base = _peak_rss_kb(one, tmp_path / "o1", tmp_path)
    peak = _peak_rss_kb(many, tmp_path / "o240", tmp_path)
    assert len(list((tmp_path / "o240").glob("*.dcm"))) == 240
    assert peak - base < 60_000, (base, peak)  # holding every frame would be +180 MB
