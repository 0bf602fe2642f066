"""Seeded fuzz tests (issue 12): mutated DICOM files (as templates and as
export inputs), images, box files and profiles raise only the library's own
errors, each one line, and print no traceback.

``pytest tests/test_fuzz.py --fuzz-cases 10000`` for a long run (default 200
cases per target, a few seconds each); the seed is fixed, so a failure names
a case that fails again.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import RLELossless

from dicom_rewrite.errors import DicomRewriteError
from tests.conftest import TEMPLATES

SEED = 12


def _mutants(seed_data: bytes, rng: random.Random, n: int) -> Iterator[bytes]:
    """``n`` mutations of ``seed_data``: flipped bytes, a cut, inserted
    bytes, a length field made huge (the ways files break and bombs are made)."""
    for i in range(n):
        b = bytearray(seed_data)
        kind = i % 4
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:
            del b[rng.randrange(1, len(b)):]
        elif kind == 2:
            at = rng.randrange(len(b))
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            at = rng.randrange(max(len(b) - 4, 1))
            b[at:at + 4] = rng.choice([0xFFFFFFF0, 0x7FFFFFFF, rng.randrange(1 << 32)]).to_bytes(4, "little")
        yield bytes(b)


def _small_dicoms() -> list[bytes]:
    """Small copies of the shipped templates (16 x 16 pixels), one RLE."""
    out = []
    for name in ("ct", "dx", "us", "mr"):
        ds = pydicom.dcmread(TEMPLATES / f"{name}.dcm")
        samples = int(ds.SamplesPerPixel)
        dtype = np.uint16 if int(ds.BitsAllocated) == 16 else np.uint8
        shape = (16, 16, samples) if samples > 1 else (16, 16)
        ds.Rows = ds.Columns = 16
        ds.PixelData = (np.arange(np.prod(shape)) % 200).astype(dtype).reshape(shape).tobytes()
        if name == "mr":  # an RLE file: the Rust decoder has panicked on mutated ones
            ds.compress(RLELossless, ds.pixel_array)
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append(buf.getvalue())
    return out


def _run_cases(tmp_path: Path, seeds: list[bytes], n: int, suffix: str,
               case: Callable[[Path, int], None]) -> None:
    rng = random.Random(SEED)
    per_seed = max(n // len(seeds), 1)
    i = 0
    for seed_data in seeds:
        for data in _mutants(seed_data, rng, per_seed):
            path = tmp_path / f"case{i}{suffix}"
            path.write_bytes(data)
            try:
                case(path, i)
            except DicomRewriteError as exc:
                assert "\n" not in str(exc) and str(exc), f"case {i}: {exc!r}"
            except BaseException as exc:  # anything else (a codec panic too) is the finding
                if isinstance(exc, KeyboardInterrupt):
                    raise
                pytest.fail(f"case {i} ({suffix}, seed {SEED}): {type(exc).__name__}: {exc}"[:500])
            path.unlink()
            i += 1


def _no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_fuzz_templates(tmp_path, fuzz_cases, capfd):
    from dicom_rewrite import convert_image

    img = np.full((12, 10), 7, np.uint8)
    _run_cases(tmp_path, _small_dicoms(), fuzz_cases, ".dcm", lambda p, i: convert_image(img, p))
    _no_traceback(capfd)


def _export_case(out: Path) -> Callable[[Path, int], None]:
    from dicom_rewrite.api import export

    def case(path: Path, i: int) -> None:
        for entry in export([path], out / str(i), durable=False):
            error = entry.get("error")
            assert error is None or ("\n" not in error and error), f"case {i}: {error!r}"
    return case


def test_fuzz_export_inputs(tmp_path, fuzz_cases, capfd):
    (tmp_path / "in").mkdir()
    _run_cases(tmp_path / "in", _small_dicoms(), fuzz_cases, ".dcm", _export_case(tmp_path / "out"))
    _no_traceback(capfd)


def _images() -> list[bytes]:
    out = []
    gray = (np.arange(24 * 20) % 256).astype(np.uint8).reshape(24, 20)
    for fmt, img in (("PNG", Image.fromarray(gray)), ("PNG", Image.fromarray(gray.astype(np.uint16) * 200)),
                     ("GIF", Image.fromarray(gray)), ("TIFF", Image.fromarray(np.dstack([gray] * 3)))):
        buf = io.BytesIO()
        img.save(buf, fmt)
        out.append(buf.getvalue())
    return out


def test_fuzz_images(tmp_path, fuzz_cases, capfd):
    from dicom_rewrite import Template, convert_files

    tpl = Template.load(TEMPLATES / "ct.dcm")
    out = tmp_path / "out"
    (tmp_path / "in").mkdir()

    def case(path: Path, i: int) -> None:
        for entry in convert_files([path.rename(path.with_suffix(".png"))], tpl, out, durable=False):
            error = entry.get("error")
            assert error is None or ("\n" not in error and error), f"case {i}: {error!r}"
        path.with_suffix(".png").rename(path)

    _run_cases(tmp_path / "in", _images(), fuzz_cases, ".img", case)
    _no_traceback(capfd)


def test_fuzz_box_files_and_profiles(tmp_path, fuzz_cases, capfd):
    from dicom_rewrite.annotate.boxfile import load_boxes
    from dicom_rewrite.profile import load_profile

    boxes = [b'{"ct.dcm": [{"box": [1, 2, 30, 40], "label": "a", "color": "red", "frame": 1}]}',
             b"file,x0,y0,x1,y1,label\nct.dcm,1,2,30,40,a\n"]
    _run_cases(tmp_path, boxes[:1], fuzz_cases // 2, ".json", lambda p, i: load_boxes(p))
    _run_cases(tmp_path, boxes[1:], fuzz_cases // 2, ".csv", lambda p, i: load_boxes(p))
    profile = (TEMPLATES / "base.yaml").read_bytes()
    _run_cases(tmp_path, [profile], fuzz_cases, ".yaml", lambda p, i: load_profile(p))
    _no_traceback(capfd)
