"""The shipped IOD tables (``dicom_rewrite/data/iod_tables.json``) are what
highdicom's copy of the standard says, and ``core.iod`` answers from them as
it did from highdicom's full attribute tree."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from pydicom.datadict import tag_for_keyword
from pydicom.uid import CTImageStorage, SecondaryCaptureImageStorage

from dicom_rewrite.core import iod, iod_tables


def _highdicom(name: str):
    spec = importlib.util.find_spec("highdicom")
    assert spec is not None and spec.submodule_search_locations
    return json.loads((Path(next(iter(spec.submodule_search_locations))) / "_standard" / name).read_bytes())


def test_shipped_file_is_what_the_build_makes_from_highdicom():
    assert iod_tables.SHIPPED.read_bytes() == iod_tables.encode(iod_tables.build()), (
        "rebuild with: python -m dicom_rewrite.core.iod_tables")


def test_module_tables_match_highdicoms_full_tree():
    # every module, against highdicom's raw data read independently of iod_tables
    raw = _highdicom("module_attribute_map.json")
    for module, attributes in raw.items():
        expected = tuple((a["keyword"], a["type"]) for a in attributes
                         if not a["path"] and tag_for_keyword(a["keyword"]) is not None)
        assert iod.module_top_level(module) == expected, module
    assert iod.module_top_level("no-such-module") == ()


def test_iod_and_sop_class_tables_match_highdicom():
    iods = _highdicom("iod_module_map.json")
    for uid, key in _highdicom("sop_class_iod_map.json").items():
        assert iod.iod_key(uid) == key
        assert iod.iod_modules(uid) == [(m["key"], m["usage"]) for m in iods[key]]
    assert iod.iod_modules("1.2.3.4") == []
    assert iod.has_module(CTImageStorage, "ct-image")
    assert not iod.has_module(SecondaryCaptureImageStorage, "ct-image")
    assert {"KVP", "PixelData", "PatientName"} <= iod.iod_keywords(CTImageStorage)


def test_shipped_tables_are_small():
    # highdicom's full tree is 22.6 MB of JSON; the engine needs the top level
    assert iod_tables.SHIPPED.stat().st_size < 400_000
