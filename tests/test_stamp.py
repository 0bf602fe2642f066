"""The batch fast path (``Converter.render`` with stamps) must write exactly
the bytes of the ordinary path (``Converter.convert`` + pydicom's writer)."""

from __future__ import annotations

import io
import itertools
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

from dicom_rewrite import convert_batch, convert_files
from dicom_rewrite.core import uids
from dicom_rewrite.encode import fastpath as stamp
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Template
from dicom_rewrite.io.images import Raster, from_array, read_image
from dicom_rewrite.profile import Profile, load_profile
from tests.conftest import REPO
from tests.test_convert_interop import PYDICOM_TEMPLATES

SHIPPED = sorted((REPO / "templates").glob("*.dcm"))
#: the real-world templates of the interop matrix
THIRD_PARTY = [Path(get_testdata_file(n)) for n in PYDICOM_TEMPLATES]
STARTED = datetime(2026, 1, 2, 3, 4, 5)


@pytest.fixture
def counting_uids(monkeypatch):
    """Deterministic "new" UIDs, restarted by calling the fixture's value."""
    state = {"n": itertools.count(1)}

    def fake(root=None):
        return uids._from_int(10**30 + next(state["n"]), root)

    monkeypatch.setattr(uids, "new_uid", fake)
    # a batch's new UIDs derive from its seed: the same seed for every batch here
    monkeypatch.setattr(uids, "batch_seed", lambda: b"counting-uids")

    def restart():
        state["n"] = itertools.count(1)

    return restart


def _batch(kind: str, n: int = 4) -> list[Raster]:
    """n rasters of one kind whose varying attributes all differ."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        if kind == "gray8":
            a = rng.integers(0, 256, (12, 10), dtype=np.uint8)
        elif kind == "gray8_odd":  # odd pixel count: the pad byte
            a = rng.integers(0, 256, (7, 9), dtype=np.uint8)
        elif kind == "gray16":  # the window follows each image's range
            a = rng.integers(0, 100 + 900 * i, (12, 10), dtype=np.uint16)
        elif kind == "signed16":
            a = rng.integers(-1000 - 700 * i, 3000, (12, 10), dtype=np.int16)
        else:
            a = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
        out.append(from_array(a))
    return out


def _both(template: Path, profile: Profile, rasters: list[Raster], restart,
          stems: list[str] | None = None, **kw) -> tuple[Converter, list[bytes], list[bytes]]:
    """(fast converter, fast bytes, ordinary bytes as pydicom saves them)."""
    tpl = Template.load(template)
    stems = stems or [f"img{i}" for i in range(1, len(rasters) + 1)]
    restart()
    fast = Converter(tpl, profile, started=STARTED, **kw)
    writer = DatasetWriter()
    ours = [b"".join(bytes(memoryview(p).cast("B")) for p in
                     fast.render(r, writer, index=i, stem=stem, name=f"{stem}.png").parts)
            for i, (r, stem) in enumerate(zip(rasters, stems), 1)]
    restart()
    plain = Converter(tpl, profile, started=STARTED, **kw)
    ref = []
    for i, (r, stem) in enumerate(zip(rasters, stems), 1):
        ds = plain.convert(r, index=i, stem=stem, name=f"{stem}.png").dataset
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        ref.append(buf.getvalue())
    return fast, ours, ref


def _stamps_used(conv: Converter) -> int:
    """Stamps that passed their check on a kind's second output (the
    batches here have more, so each such stamp filled outputs)."""
    return sum(k.stamp is not None and k.trusted for k in conv._kinds.values())


KINDS = ["gray8", "gray8_odd", "gray16", "signed16", "rgb"]


@pytest.mark.parametrize("template", SHIPPED + THIRD_PARTY, ids=lambda p: p.name)
@pytest.mark.parametrize("kind", KINDS)
def test_fast_path_bytes_equal_ordinary_path(template, kind, counting_uids):
    fast, ours, ref = _both(template, Profile(), _batch(kind), counting_uids)
    assert _stamps_used(fast) == 1, "the batch should have used the fast path"
    assert len(set(ours)) == len(ours)  # every output differs (UID, pixels, number)
    for i, (a, b) in enumerate(zip(ours, ref), 1):
        assert a == b, f"output {i} differs"


PROFILES = {
    "static rules": """
version: 1
set:
  PatientName: "ANON^{date}"
  InstitutionName: "Site of {template.Modality}"
  "DeidentificationMethodCodeSequence[0].CodeValue": "113100"
default:
  StudyDescription: "fixed"
remove: [private, overlays, ImageComments]
blank: [AccessionNumber]
""",
    "hashed UIDs": """
version: 1
uids: {study: hash, series: hash, instance: hash, frame_of_reference: hash, key: "k3y"}
""",
    "identity kept": """
version: 1
identity: keep
uids: {instance: new}
""",
}


@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("template", [REPO / "templates" / "ct.dcm", REPO / "templates" / "us.dcm",
                                      THIRD_PARTY[0]], ids=lambda p: p.name)
def test_fast_path_with_profiles(name, template, tmp_path, counting_uids):
    p = tmp_path / "p.yaml"
    p.write_text(PROFILES[name])
    profile = load_profile(p)
    for kind in ("gray8", "gray16", "rgb"):
        fast, ours, ref = _both(template, profile, _batch(kind, 3), counting_uids)
        assert _stamps_used(fast) == 1
        assert ours == ref


PER_OUTPUT_PROFILES = {
    "stem default": 'default:\n  SeriesDescription: "{stem}"\n',
    "index with format": 'set:\n  ImageComments: "image {index:04d} of {name}"\n',
    "in a sequence": 'set:\n  "DeidentificationMethodCodeSequence[0].CodeMeaning": "{stem}"\n',
    # each output its own patient: its UIDs are filled in per output too
    "per-output patient": 'set:\n  PatientID: "P-{stem}"\n',
    "study and series keys": 'uids: {study_key: "{stem:.3}", series_key: "{index}", study: hash, series: hash, '
                             'key: k}\nset:\n  PatientID: "P-{stem:.3}"\n  ImageComments: "{stem}"\n',
}


@pytest.mark.parametrize("name", PER_OUTPUT_PROFILES)
def test_per_output_profile_values_are_filled_in(name, tmp_path, counting_uids):
    p = tmp_path / "p.yaml"
    p.write_text("version: 1\n" + PER_OUTPUT_PROFILES[name])
    profile = load_profile(p)
    assert profile.per_output_tags(stamp.VARYING, ()) != frozenset()
    for kind in ("gray8", "rgb"):
        fast, ours, ref = _both(REPO / "templates" / "ct.dcm", profile, _batch(kind, 4),
                                counting_uids)
        assert _stamps_used(fast) == 1
        assert ours == ref
    assert b"img4" in ours[3] and b"img4" not in ours[2]


def test_shipped_research_profile_uses_the_fast_path(counting_uids):
    profile = load_profile(REPO / "templates" / "research-anonymous.yaml")
    fast, ours, ref = _both(REPO / "templates" / "mr.dcm", profile, _batch("gray16", 4),
                            counting_uids)
    assert _stamps_used(fast) == 1
    assert ours == ref


@pytest.mark.parametrize("rules,reason", [
    ('set:\n  WindowCenter: "40"\n  WindowWidth: "400"\n', "rule on a varying tag"),
    ('remove: [InstanceNumber]\n', "rule on a varying tag"),
    ('set:\n  StudyDate: "202001{index:02d}"\n', "per-output clock attribute"),
    ('set:\n  (0009,"ACME",01): {vr: LO, value: "{stem}"}\n', "per-output private tag"),
    ('set:\n  "DeidentificationMethodCodeSequence[0].CodeValue": "x"\n'
     '  "DeidentificationMethodCodeSequence[0].CodeMeaning": "{stem}"\n',
     "two rules on one top-level tag"),
])
def test_profiles_that_cannot_be_split_take_the_ordinary_path(rules, reason, tmp_path,
                                                              counting_uids):
    p = tmp_path / "p.yaml"
    p.write_text("version: 1\n" + rules)
    profile = load_profile(p)
    from dicom_rewrite.engine.converter import _READ_AFTER_PROFILE

    assert profile.per_output_tags(stamp.VARYING, _READ_AFTER_PROFILE) is None, reason
    fast, ours, ref = _both(REPO / "templates" / "ct.dcm", profile, _batch("gray8", 3),
                            counting_uids)
    assert _stamps_used(fast) == 0
    assert ours == ref


def test_non_ascii_per_output_values_take_the_ordinary_path(tmp_path, counting_uids):
    """A stem that needs another character set: the ordinary path switches
    (0008,0005) for that output; the others still use the stamp."""
    p = tmp_path / "p.yaml"
    p.write_text('version: 1\ndefault:\n  SeriesDescription: "{stem}"\n')
    stems = ["a1", "a2", "a3", "Łódź", "a5"]  # not in the template's ISO_IR 100
    fast, ours, ref = _both(REPO / "templates" / "ct.dcm", load_profile(p), _batch("gray8", 5),
                            counting_uids, stems=stems)
    assert _stamps_used(fast) == 1
    assert ours == ref
    assert pydicom.dcmread(io.BytesIO(ours[3])).SpecificCharacterSet == "ISO_IR 192"


def test_compressed_syntax_takes_the_ordinary_path(counting_uids):
    fast, ours, ref = _both(REPO / "templates" / "ct.dcm", Profile(), _batch("gray16", 3),
                            counting_uids, transfer_syntax="rle")
    assert {k.stamp for k in fast._kinds.values()} == {None}
    assert _stamps_used(fast) == 0
    assert ours == ref


def test_kinds_interleaved_and_lossy_sources(tmp_path, counting_uids):
    """Several kinds in one batch (one stamp each), JPEG sources whose
    compression ratio differs per file, and an image whose kind changes."""
    rng = np.random.default_rng(3)
    rasters = []
    for i in range(3):
        for q in (50, 90):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                buf, "JPEG", quality=q)
            f = tmp_path / f"j{i}{q}.jpg"
            f.write_bytes(buf.getvalue())
            rasters += read_image(f)
        rasters += _batch("gray8", 1) + _batch("gray16", 1)
    assert len({r.lossy_ratio for r in rasters if r.lossy_ratio}) > 1
    fast, ours, ref = _both(REPO / "templates" / "sc.dcm", Profile(), rasters, counting_uids)
    assert _stamps_used(fast) == 3
    assert ours == ref


@pytest.fixture(scope="module")
def every_kind_three_times(tmp_path_factory) -> Path:
    """Every image kind convert accepts (tests/images.py), three copies each,
    so that each kind reaches the filled path."""
    from tests.images import make_images

    src = tmp_path_factory.mktemp("kinds")
    make_images(src)
    folder = tmp_path_factory.mktemp("batch")
    for f in sorted(src.iterdir()):
        for copy_ in range(3):
            (folder / f"{f.stem}_{copy_}{f.suffix}").write_bytes(f.read_bytes())
    return folder


@pytest.mark.parametrize("template", [REPO / "templates" / n for n in ("ct.dcm", "us.dcm", "sc.dcm")]
                         + [Path(get_testdata_file(n)) for n in ("MR_small_bigendian.dcm",
                                                                 "examples_palette.dcm")],
                         ids=lambda p: p.name)
def test_convert_files_writes_what_convert_batch_builds(template, every_kind_three_times,
                                                         tmp_path, counting_uids, monkeypatch):
    """From image files (palette, 1-bit, alpha, JPEG with its lossy ratio,
    CMYK, multi-page, 16-bit TIFF, ...): the files convert_files writes are
    the bytes of convert_batch's datasets, and the report notes agree."""
    folder = every_kind_three_times
    fills = []
    real_fill = stamp.Stamp.fill
    monkeypatch.setattr(stamp.Stamp, "fill", lambda self, *a: fills.append(1) or real_fill(self, *a))
    counting_uids()
    entries = list(convert_files([folder], template, tmp_path / "out", started=STARTED))
    assert len(fills) >= 15  # at least one filled output per kind
    counting_uids()
    results = list(convert_batch([folder], template, started=STARTED))
    assert len(entries) == len(results) > 30
    assert all(e["status"] == "ok" for e in entries), [e for e in entries if e["status"] != "ok"]
    for entry, result in zip(entries, results):
        assert len(entry["outputs"]) == len(result.datasets)
        for path, ds in zip(entry["outputs"], result.datasets):
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            assert Path(path).read_bytes() == buf.getvalue(), path
        assert entry.get("notes") == (sorted({n for o in result.outputs for n in o.notes}) or None)


@pytest.mark.parametrize("vr,text", [("UI", "1.2.3"), ("UI", "1.23"), ("IS", "7"), ("IS", "12"),
                                     ("DS", "-1.5e+06"), ("DS", "128")])
def test_short_element_is_pydicoms_encoding(vr, text):
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_data_element(buf, DataElement(0x00200013, vr, text))
    assert stamp.short_element(0x00200013, vr, text) == buf.getvalue()


@pytest.mark.parametrize("dtype,vr", [(np.uint8, "OB"), (np.uint16, "OW")])
@pytest.mark.parametrize("n", [6, 7])
def test_pixel_parts_are_pydicoms_encoding(dtype, vr, n):
    arr = np.arange(n, dtype=dtype)
    data = arr.tobytes()
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_data_element(buf, DataElement(0x7FE00010, vr, data + b"\x00" * (len(data) % 2)))
    parts = stamp.pixel_parts(arr, vr)
    assert b"".join(bytes(memoryview(p).cast("B")) for p in parts) == buf.getvalue()


def test_stamp_refuses_a_first_output_it_cannot_reproduce(counting_uids):
    """If an element the stamp would fill in was made some other way, no stamp."""
    conv = Converter(Template.load(REPO / "templates" / "ct.dcm"), Profile(), started=STARTED)
    writer = DatasetWriter()
    raster = _batch("gray16", 1)[0]
    out = conv.convert(raster, index=1)
    arr, vr, values = conv._varying(raster, out.plan, 1)
    assert stamp.build(writer, out.dataset, arr, vr, values, []) is not None
    out.dataset.WindowCenter = "12345"
    assert stamp.build(writer, out.dataset, arr, vr, values, []) is None
    del out.dataset.WindowCenter
    assert stamp.build(writer, out.dataset, arr, vr, values, []) is None


def test_read_back_every_fast_output(tmp_path):
    """Real UIDs: each output parses, has its own SOP Instance UID (meta and
    dataset agree), its own Instance Number and its own pixels."""
    rasters = _batch("gray16", 5)
    conv = Converter(Template.load(REPO / "templates" / "mr.dcm"))
    writer = DatasetWriter()
    seen = set()
    for i, r in enumerate(rasters, 1):
        data = b"".join(bytes(memoryview(p).cast("B"))
                        for p in conv.render(r, writer, index=i).parts)
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        # (0002,0000) counts the meta elements after it, up to the dataset
        end = 144 + ds.file_meta.FileMetaInformationGroupLength
        assert data[end:end + 2] == b"\x08\x00"
        seen.add(ds.SOPInstanceUID)
        assert ds.InstanceNumber == i
        assert np.array_equal(ds.pixel_array, r.array)
    assert len(seen) == 5 and _stamps_used(conv) == 1


def test_an_output_with_other_varying_elements_falls_back(counting_uids):
    """Same kind, but one output lacks an element the stamp has a hole for
    (a lossy source whose ratio is unknown): built the ordinary way."""
    import dataclasses

    base = _batch("gray8", 3)
    rasters = [dataclasses.replace(r, lossy_method="ISO_10918_1", lossy_ratio=ratio)
               for r, ratio in zip(base, (5.0, None, 7.5))]
    fast, ours, ref = _both(REPO / "templates" / "ct.dcm", Profile(), rasters, counting_uids)
    assert _stamps_used(fast) == 1
    assert ours == ref
    assert b"7.50" in ours[2] and pydicom.dcmread(io.BytesIO(ours[1])).get("LossyImageCompressionRatio") is None


def test_a_stamp_that_disagrees_with_the_ordinary_path_is_never_used(monkeypatch, counting_uids):
    """Each stamp's first fill is checked against the ordinary path; a
    stamp that would write other bytes (here: one fixed byte changed) is
    dropped and every output is built the ordinary way."""
    import dataclasses

    real = stamp.build

    def corrupt(*args, **kw):
        st = real(*args, **kw)
        runs = list(st.runs)
        runs[0] = runs[0][:-1] + bytes([runs[0][-1] ^ 1])
        return dataclasses.replace(st, runs=tuple(runs))

    monkeypatch.setattr(stamp, "build", corrupt)
    fast, ours, ref = _both(REPO / "templates" / "ct.dcm", Profile(), _batch("gray8", 4),
                            counting_uids)
    assert fast._kinds and {k.stamp for k in fast._kinds.values()} == {None}
    assert ours == ref


def test_memory_stays_bounded_with_many_kinds(monkeypatch, counting_uids):
    """Every image a different size: the Converter keeps at most KINDS_KEPT
    kinds; a kind dropped and met again is rebuilt, and the bytes are still
    those of the ordinary path."""
    from dicom_rewrite.engine import converter as engine

    monkeypatch.setattr(engine, "KINDS_KEPT", 2)
    rng = np.random.default_rng(9)
    shapes = [(5, 6), (6, 6), (7, 6)]
    rasters = [from_array(rng.integers(0, 256, shapes[i % 3], dtype=np.uint8)) for i in range(12)]
    rasters += [from_array(rng.integers(0, 256, (4, 4), dtype=np.uint8)) for _ in range(4)]
    fast, ours, ref = _both(REPO / "templates" / "ct.dcm", Profile(), rasters, counting_uids)
    assert len(fast._kinds) == 2 and len(fast._plans) <= 2
    assert _stamps_used(fast) == 1  # the last kind, met four times in a row
    assert ours == ref


@pytest.mark.parametrize("template", ["ct.dcm", "mr.dcm"])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
@pytest.mark.parametrize("rules", ["", 'set:\n  ImageComments: "slice {index} of {stem}"\n'])
def test_series_slices_are_filled_byte_identical(template, dtype, rules, tmp_path,
                                                 counting_uids):
    """write_series fills slices after the second into the first one's
    encoding, running its geometry hook on just the hook's attributes: the
    files equal what the ordinary path builds (positions, slice locations,
    rescale and window included)."""
    from dicom_rewrite import series as S

    rng = np.random.default_rng(4)
    vol = (rng.normal(0, 300, (6, 10, 12))).astype(dtype)
    p = tmp_path / "p.yaml"
    p.write_text("version: 1\n" + rules)
    profile = load_profile(p)
    tpl = REPO / "templates" / template

    def prepared():
        counting_uids()
        return S.prepare_series(vol, tpl, profile, spacing=(2.5, 0.7, 0.7),
                                origin=(-10, 5, 30.25), started=STARTED)

    fast = prepared()
    ours = [b"".join(bytes(memoryview(p).cast("B")) for p in r.parts)
            for r in fast.rendered(DatasetWriter())]
    ref = []
    for out in prepared().outputs():
        buf = io.BytesIO()
        out.dataset.save_as(buf, enforce_file_format=True)
        ref.append(buf.getvalue())
    assert _stamps_used(fast.converter) == 1
    assert len(set(ours)) == 6
    assert ours == ref


def test_a_hook_that_sets_undeclared_attributes_takes_the_ordinary_path(counting_uids):
    """render(adjust=...) runs the hook on just ``adjust_tags``; a hook that
    sets something else (here an attribute equal on outputs 1 and 2, so the
    second-output check cannot see it) must not be stamped."""
    from pydicom.dataelem import DataElement as DE

    tpl = Template.load(REPO / "templates" / "ct.dcm")
    rasters = _batch("gray16", 4)

    def adjust_for(i):
        def adjust(ds, plan):
            ds.add(DE(0x00204000, "LT", "same" if i < 3 else f"differs on output {i}"))
            return []
        return adjust

    counting_uids()
    fast = Converter(tpl, Profile(), started=STARTED)
    writer = DatasetWriter()
    ours = [b"".join(bytes(memoryview(p).cast("B")) for p in fast.render(
        r, writer, index=i, adjust=adjust_for(i), adjust_tags=frozenset()).parts)
        for i, r in enumerate(rasters, 1)]
    counting_uids()
    plain = Converter(tpl, Profile(), started=STARTED)
    ref = []
    for i, r in enumerate(rasters, 1):
        buf = io.BytesIO()
        plain.convert(r, index=i, adjust=adjust_for(i)).dataset.save_as(buf, enforce_file_format=True)
        ref.append(buf.getvalue())
    assert ours == ref
    assert b"differs on output 4" in ours[3]
