"""The IOD tables of the standard that :mod:`dicom_rewrite.core.iod` reads,
built from highdicom's copy of them (``highdicom/_standard/*.json``).

highdicom ships the whole attribute tree of every module (22.6 MB of JSON,
about 0.4 s to parse); the engine needs only each module's top-level
attributes. This module keeps just that, in the order highdicom lists it, in
``dicom_rewrite/data/iod_tables.json`` (some 0.2 MB, parsed in milliseconds).
``tests/test_iod_tables.py`` checks that the shipped file equals what
:func:`build` makes from the installed highdicom; after upgrading highdicom,
rebuild it::

    python -m dicom_rewrite.core.iod_tables
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

#: the shipped tables (package data)
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "iod_tables.json"


def _highdicom_table(name: str) -> Any:
    """One of highdicom's tables of the standard, read as data (importing
    highdicom itself takes about 0.3 s)."""
    spec = importlib.util.find_spec("highdicom")
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "_standard" / name
        if path.is_file():
            return json.loads(path.read_bytes())
    raise FileNotFoundError(f"highdicom's _standard/{name} not found")


def build() -> dict[str, Any]:
    """The tables :mod:`~dicom_rewrite.core.iod` reads:

    * ``sop_classes``: SOP Class UID -> IOD key (e.g. ``ct-image``);
    * ``iods``: IOD key -> ``[[module key, usage M|C|U], ...]``;
    * ``modules``: module key -> ``[[keyword, type], ...]`` of its top-level
      attributes (those with an empty path in highdicom's tree).
    """
    modules = _highdicom_table("module_attribute_map.json")
    return {
        "sop_classes": dict(_highdicom_table("sop_class_iod_map.json")),
        "iods": {iod: [[str(m["key"]), str(m["usage"])] for m in mods]
                 for iod, mods in _highdicom_table("iod_module_map.json").items()},
        "modules": {module: [[str(a["keyword"]), str(a["type"])] for a in attributes if not a["path"]]
                    for module, attributes in modules.items()},
    }


def encode(tables: dict[str, Any]) -> bytes:
    """The shipped file's bytes: one entry per line (a rebuild's diff shows
    what changed), in highdicom's order."""
    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    tables_text = ",\n".join(
        f"{compact(name)}:{{\n" + ",\n".join(f"{compact(k)}:{compact(v)}" for k, v in table.items()) + "\n}"
        for name, table in tables.items())
    return ("{\n" + tables_text + "\n}\n").encode("ascii")


def load() -> dict[str, Any]:
    """The shipped tables."""
    tables: dict[str, Any] = json.loads(SHIPPED.read_bytes())
    return tables


if __name__ == "__main__":  # pragma: no cover - the maintainer's rebuild step
    SHIPPED.parent.mkdir(exist_ok=True)
    SHIPPED.write_bytes(encode(build()))
    print(f"wrote {SHIPPED} ({SHIPPED.stat().st_size} bytes)")
