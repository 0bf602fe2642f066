"""The batch writer must produce exactly the bytes pydicom's own writer does."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Template
from dicom_rewrite.io.images import from_array
from dicom_rewrite.profile import Identity, Profile
from tests.conftest import REPO

TEMPLATES = [REPO / "templates" / n for n in ("ct.dcm", "mr.dcm", "us.dcm", "dx.dcm")] + [
    Path(get_testdata_file(n)) for n in ("CT_small.dcm", "MR_small_implicit.dcm", "ExplVR_BigEnd.dcm")
]


def _pydicom_bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
@pytest.mark.parametrize("syntax", ["explicit-vr-little-endian", "rle"])
def test_bytes_equal_pydicom(template, syntax):
    conv = Converter(Template.load(template), Profile(identity=Identity.KEEP), transfer_syntax=syntax)
    writer = DatasetWriter()
    rng = np.random.default_rng(1)
    for i, arr in enumerate([
        rng.integers(0, 256, (16, 20), dtype=np.uint8),
        rng.integers(0, 4000, (16, 20), dtype=np.uint16),
        rng.integers(0, 256, (16, 20, 3), dtype=np.uint8),
        rng.integers(0, 256, (16, 20), dtype=np.uint8),  # second time: cache hits
    ], start=1):
        ds = conv.convert(from_array(arr), index=i).dataset
        ours = writer.encode(ds)
        assert ours == _pydicom_bytes(ds)
        assert np.array_equal(pydicom.dcmread(io.BytesIO(ours)).pixel_array, arr)


def test_changed_values_are_re_encoded():
    conv = Converter(Template.load(REPO / "templates" / "ct.dcm"))
    writer = DatasetWriter()
    ds = conv.convert(from_array(np.zeros((4, 4), np.uint8)), index=1).dataset
    writer.encode(ds)
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    ds.SeriesDescription = "changed"
    back = pydicom.dcmread(io.BytesIO(writer.encode(ds)))
    assert list(back.ImageType) == ["DERIVED", "SECONDARY", "OTHER"]
    assert back.SeriesDescription == "changed"
