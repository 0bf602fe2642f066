"""Box files: boxes per input, as JSON or CSV.

JSON ``{key: [{"box": [x0, y0, x1, y1], "label", "color", "frame"}]}`` (a
bare ``[x0, y0, x1, y1]`` or a single object is accepted too), or CSV
``file,x0,y0,x1,y1[,label[,color[,frame]]]`` with an optional header row.
Keys are input file names (or paths as given) or SOP Instance UIDs.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from dicom_rewrite.annotate.shapes import Box, BoxError, make_box
from dicom_rewrite.errors import one_line

__all__ = ["BoxError", "load_boxes"]

_CSV_FIELDS = ("file", "x0", "y0", "x1", "y1", "label", "color", "frame")
_JSON_FIELDS = {"box", "label", "color", "frame"}


def load_boxes(path: str | Path) -> dict[str, list[Box]]:
    """Read a box file: JSON ``{key: [{"box": [...], "label", "color", "frame"}]}``
    or CSV ``file,x0,y0,x1,y1[,label[,color[,frame]]]`` (header row optional).

    Keys are input file names (or paths as given) or SOP Instance UIDs."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise BoxError(f"{p}: box file not found") from None
    except OSError as exc:
        raise BoxError(f"{p}: cannot read the box file ({one_line(exc)})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BoxError(f"{p}: box file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    suffix = p.suffix.lower()
    if suffix == ".json" or (suffix != ".csv" and text.lstrip().startswith(("{", "["))):
        return _boxes_from_json(text, p)
    return _boxes_from_csv(text, p)


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


def _boxes_from_json(text: str, p: Path) -> dict[str, list[Box]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoxError(f"{p}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise BoxError(
            f"{p}: JSON must be an object {{\"<file name or SOPInstanceUID>\": [boxes]}}, "
            f"not {type(data).__name__}"
        )
    out: dict[str, list[Box]] = {}
    for key, items in data.items():
        boxes = _json_boxes(items, f"{p}: {key!r}")
        out[str(key)] = out.get(str(key), []) + boxes
    return out


def _json_boxes(items: Any, where: str) -> list[Box]:
    """The boxes of one key: a list of box objects (or one object)."""
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise BoxError(f"{where}: expected a list of boxes, not {type(items).__name__}")
    return [_json_box(item, f"{where} box {i}") for i, item in enumerate(items, 1)]


def _json_box(item: Any, where: str) -> Box:
    if isinstance(item, list):  # bare [x0, y0, x1, y1]
        item = {"box": item}
    if not isinstance(item, dict):
        raise BoxError(f"{where}: expected {{\"box\": [x0, y0, x1, y1], ...}}, not {item!r}")
    unknown = sorted(set(item) - _JSON_FIELDS)
    if unknown:
        raise BoxError(f"{where}: unknown field(s) {', '.join(unknown)} (box, label, color, frame)")
    if "box" not in item:
        raise BoxError(f"{where}: missing \"box\": [x0, y0, x1, y1]")
    return make_box(item["box"], label=item.get("label"), color=item.get("color"),
                    frame=item.get("frame"), where=where)


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


def _boxes_from_csv(text: str, p: Path) -> dict[str, list[Box]]:
    rows = list(csv.reader(io.StringIO(text)))
    out: dict[str, list[Box]] = {}
    for n, row in enumerate(rows, 1):
        if _is_blank_or_comment(row):
            continue
        cells = [c.strip() for c in row]
        if n == 1 and cells[0].lower() == "file":
            _check_header(cells, p)
            continue
        key, box = _csv_box(cells, f"{p}: line {n}")
        out.setdefault(key, []).append(box)
    if not out:
        raise BoxError(f"{p}: no boxes found (CSV columns file,x0,y0,x1,y1,label,color)")
    return out


def _is_blank_or_comment(row: list[str]) -> bool:
    return not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#")


def _check_header(cells: list[str], p: Path) -> None:
    if tuple(c.lower() for c in cells) != _CSV_FIELDS[: len(cells)]:
        raise BoxError(f"{p}: line 1: header must be {','.join(_CSV_FIELDS[:7])}[,frame]")


def _csv_box(cells: list[str], where: str) -> tuple[str, Box]:
    """``(key, box)`` of one data row."""
    if not 5 <= len(cells) <= 8:
        raise BoxError(f"{where}: expected file,x0,y0,x1,y1[,label[,color[,frame]]], got {len(cells)} field(s)")
    cells = cells + [""] * (8 - len(cells))
    key = cells[0]
    if not key:
        raise BoxError(f"{where}: the file column is empty")
    box = make_box(cells[1:5], label=cells[5] or None, color=cells[6] or None,
                   frame=cells[7] or None, where=where)
    return key, box
