"""Shape files: boxes and polygons per input, in the formats models write.

One parser class per format, in the table :data:`FORMATS` (the first whose
``accepts`` is true reads the file):

* ``keyed``: our JSON ``{key: [{"box": [x0, y0, x1, y1] | "points": [[x, y], ...],
  "label", "color", "frame", "score"}]}`` (a bare ``[x0, y0, x1, y1]`` or a
  single object is accepted too);
* ``coco``: a COCO data set ``{"images", "annotations", "categories"}``;
* ``coco-predictions``: a COCO result list ``[{"image_id", "category_id",
  "bbox": [x, y, w, h], "segmentation", "score"}]``;
* ``csv``: ``file,x0,y0,x1,y1[,label[,color[,frame[,score]]]]`` with an
  optional header row.

Keys are input file names (or paths as given, or stems), SOP Instance UIDs
or Instance Numbers (COCO ``image_id``\\ s); :func:`load_boxes` returns the
shapes per key.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from dicom_rewrite.annotate.shapes import PALETTE, RGB, BoxError, Shape, color_text, make_box, make_polygon, number
from dicom_rewrite.errors import one_line

__all__ = ["FORMATS", "BoxError", "ShapeFormat", "load_boxes"]

Shapes = dict[str, list[Shape]]

_CSV_FIELDS = ("file", "x0", "y0", "x1", "y1", "label", "color", "frame", "score")
_KEYED_FIELDS = {"box", "points", "label", "color", "frame", "score"}

#: a box file is read whole: at most this many bytes (some 500 000 boxes)
MAX_BOX_FILE_BYTES = 64 * 1024 * 1024
#: a number in a JSON box file has at most this many characters (a coordinate, a score)
MAX_NUMBER_CHARS = 32
#: a CSV field has at most this many characters (the csv module's limit)
MAX_CSV_FIELD = csv.field_size_limit()


class ShapeFormat(Protocol):
    """One shape-file format: recognise the parsed file, read its shapes."""

    name: ClassVar[str]

    def accepts(self, data: Any, suffix: str) -> bool:
        """Whether this format reads ``data`` (parsed JSON, or the text for CSV)."""
        ...

    def read(self, data: Any, p: Path) -> Shapes:
        """The shapes per key; a :class:`BoxError` naming ``p`` on bad input."""
        ...


def _add(out: Shapes, key: Any, shapes: list[Shape]) -> None:
    out.setdefault(str(key), []).extend(shapes)


# ---------------------------------------------------------------------------
# Our keyed JSON
# ---------------------------------------------------------------------------


class KeyedJson:
    """``{key: [{"box": [...]} | {"points": [...]}, ...]}``."""

    name: ClassVar[str] = "keyed"

    def accepts(self, data: Any, suffix: str) -> bool:
        return isinstance(data, dict) and "annotations" not in data

    def read(self, data: Any, p: Path) -> Shapes:
        out: Shapes = {}
        for key, items in data.items():
            _add(out, key, self._shapes(items, f"{p}: {key!r}"))
        return out

    def _shapes(self, items: Any, where: str) -> list[Shape]:
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise BoxError(f"{where}: expected a list of boxes, not {type(items).__name__}")
        return [self._shape(item, f"{where} box {i}") for i, item in enumerate(items, 1)]

    @staticmethod
    def _shape(item: Any, where: str) -> Shape:
        if isinstance(item, list):  # bare [x0, y0, x1, y1]
            item = {"box": item}
        if not isinstance(item, dict):
            raise BoxError(f"{where}: expected {{\"box\": [x0, y0, x1, y1], ...}}, not {item!r}")
        unknown = sorted(set(item) - _KEYED_FIELDS)
        if unknown:
            raise BoxError(f"{where}: unknown field(s) {', '.join(unknown)} "
                           "(box or points, label, color, frame, score)")
        extra = {k: item.get(k) for k in ("label", "color", "frame", "score")}
        if "points" in item and "box" not in item:
            return make_polygon(item["points"], where=where, **extra)
        if "box" not in item:
            raise BoxError(f"{where}: missing \"box\": [x0, y0, x1, y1] (or \"points\": [[x, y], ...])")
        if "points" in item:
            raise BoxError(f"{where}: give \"box\" or \"points\", not both")
        return make_box(item["box"], where=where, **extra)


# ---------------------------------------------------------------------------
# COCO
# ---------------------------------------------------------------------------


def coco_box(bbox: Any, where: str) -> list[int]:
    """COCO ``[x, y, w, h]`` (continuous, the top left corner of the top left
    pixel at 0,0) -> our inclusive ``[x0, y0, x1, y1]``, rounded outward."""
    if isinstance(bbox, (str, bytes)) or not isinstance(bbox, Sequence) or len(bbox) != 4:
        raise BoxError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}")
    x, y, w, h = (number(v, n, where) for v, n in zip(bbox, ("x", "y", "width", "height")))
    if w < 0 or h < 0:
        raise BoxError(f"{where}: bbox {list(bbox)} has a negative width or height")
    x0, y0 = math.floor(x), math.floor(y)
    return [x0, y0, max(math.ceil(x + w) - 1, x0), max(math.ceil(y + h) - 1, y0)]


class _Coco:
    """What the COCO data set and the COCO result list share: one
    annotation (bbox or polygon segmentation) -> shapes."""

    def __init__(self) -> None:
        self.categories: dict[Any, tuple[str | None, RGB | None]] = {}

    def set_categories(self, cats: Any, p: Path) -> None:
        if cats is None:
            return
        if not isinstance(cats, list) or not all(isinstance(c, dict) and "id" in c for c in cats):
            raise BoxError(f"{p}: \"categories\" must be a list of {{\"id\", \"name\"}} objects")
        for k, c in enumerate(cats):
            # category k gets palette colour k; a lone category the run's --color
            rgb = PALETTE[k % len(PALETTE)] if len(cats) > 1 else None
            self.categories[c["id"]] = (c.get("name"), rgb)

    def shapes(self, ann: Any, where: str) -> list[Shape]:
        if not isinstance(ann, dict):
            raise BoxError(f"{where}: expected an object, not {type(ann).__name__}")
        name, rgb = self.categories.get(ann.get("category_id"), (None, None))
        label = ann.get("label", name if name is not None else ann.get("category_id"))
        extra = {"label": label, "color": color_text(rgb) if rgb else None, "score": ann.get("score")}
        seg = ann.get("segmentation")
        if isinstance(seg, dict):
            raise BoxError(f"{where}: RLE segmentation is not supported (give polygons, or the masks "
                           "with --masks)")
        if seg:
            if not isinstance(seg, list) or not all(isinstance(s, list) for s in seg):
                raise BoxError(f"{where}: segmentation must be a list of polygons [[x1, y1, x2, y2, ...]]")
            return [make_polygon(s, where=f"{where} polygon {i}", **extra) for i, s in enumerate(seg, 1)]
        if "bbox" not in ann:
            raise BoxError(f"{where}: no \"bbox\" and no \"segmentation\"")
        return [make_box(coco_box(ann["bbox"], where), where=where, **extra)]


class CocoDataset(_Coco):
    """``{"images": [{"id", "file_name"}], "annotations": [...], "categories": [...]}``."""

    name: ClassVar[str] = "coco"

    def accepts(self, data: Any, suffix: str) -> bool:
        return isinstance(data, dict) and "annotations" in data

    def read(self, data: Any, p: Path) -> Shapes:
        self.set_categories(data.get("categories"), p)
        names: dict[Any, Any] = {}
        for img in data.get("images") or []:
            if isinstance(img, dict) and "id" in img:
                names[img["id"]] = img.get("file_name") or img["id"]
        anns = data["annotations"]
        if not isinstance(anns, list):
            raise BoxError(f"{p}: \"annotations\" must be a list")
        out: Shapes = {}
        for i, ann in enumerate(anns, 1):
            where = f"{p}: annotation {i}"
            if not isinstance(ann, dict) or "image_id" not in ann:
                raise BoxError(f"{where}: no \"image_id\"")
            _add(out, names.get(ann["image_id"], ann["image_id"]), self.shapes(ann, where))
        return out


class CocoPredictions(_Coco):
    """``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``, the
    COCO result format detectors write."""

    name: ClassVar[str] = "coco-predictions"

    def accepts(self, data: Any, suffix: str) -> bool:
        return isinstance(data, list) and all(isinstance(a, dict) and "image_id" in a for a in data)

    def read(self, data: Any, p: Path) -> Shapes:
        out: Shapes = {}
        for i, ann in enumerate(data, 1):
            _add(out, ann["image_id"], self.shapes(ann, f"{p}: prediction {i}"))
        return out


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


class Csv:
    """``file,x0,y0,x1,y1[,label[,color[,frame[,score]]]]``, header optional."""

    name: ClassVar[str] = "csv"

    def accepts(self, data: Any, suffix: str) -> bool:
        return isinstance(data, str)

    def read(self, data: Any, p: Path) -> Shapes:
        reader = csv.reader(io.StringIO(data))
        try:
            rows = list(reader)
        except csv.Error as exc:
            why = (f"a field is longer than {MAX_CSV_FIELD} characters" if "field limit" in str(exc)
                   else f"not CSV ({exc})")
            raise BoxError(f"{p}: line {reader.line_num}: {why}") from None
        out: Shapes = {}
        for n, row in enumerate(rows, 1):
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in row]
            if n == 1 and cells[0].lower() == "file":
                if tuple(c.lower() for c in cells) != _CSV_FIELDS[: len(cells)]:
                    raise BoxError(f"{p}: line 1: header must be {','.join(_CSV_FIELDS[:7])}[,frame[,score]]")
                continue
            _add(out, *self._row(cells, f"{p}: line {n}"))
        if not out:
            raise BoxError(f"{p}: no boxes found (CSV columns file,x0,y0,x1,y1,label,color)")
        return out

    @staticmethod
    def _row(cells: list[str], where: str) -> tuple[str, list[Shape]]:
        if not 5 <= len(cells) <= 9:
            raise BoxError(f"{where}: expected file,x0,y0,x1,y1[,label[,color[,frame[,score]]]], "
                           f"got {len(cells)} field(s)")
        cells = cells + [""] * (9 - len(cells))
        if not cells[0]:
            raise BoxError(f"{where}: the file column is empty")
        box = make_box(cells[1:5], label=cells[5] or None, color=cells[6] or None,
                       frame=cells[7] or None, score=cells[8] or None, where=where)
        return cells[0], [box]


#: the shape-file formats, tried in order
FORMATS: tuple[ShapeFormat, ...] = (KeyedJson(), CocoDataset(), CocoPredictions(), Csv())


def _read_text(p: Path) -> str:
    try:
        size = p.stat().st_size
        if size > MAX_BOX_FILE_BYTES:
            raise BoxError(f"{p}: box file is {size} bytes; box files are at most {MAX_BOX_FILE_BYTES} bytes")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise BoxError(f"{p}: box file not found") from None
    except OSError as exc:
        raise BoxError(f"{p}: cannot read the box file ({one_line(exc)})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BoxError(f"{p}: box file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


class _TooLong(ValueError):
    pass


def _number(kind: type[int] | type[float]) -> Any:
    """A JSON number parser refusing numbers longer than a coordinate
    (Python refuses integers over 4300 digits with a bare ValueError)."""
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER_CHARS:
            raise _TooLong(text)
        return kind(text)
    return parse


def _json(text: str, p: Path) -> Any:
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float))
    except json.JSONDecodeError as exc:
        raise BoxError(f"{p}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _TooLong as exc:
        raise BoxError(f"{p}: a number of {len(exc.args[0])} characters (at most {MAX_NUMBER_CHARS})") from None
    except RecursionError:
        # shape files nest a few levels; the decoder's stack is the limit
        raise BoxError(f"{p}: JSON nested too deep (shape files nest a few levels)") from None


def load_boxes(path: str | Path) -> Shapes:
    """Read a shape file in any of the :data:`FORMATS`: the shapes per key
    (input file name, path, stem, SOP Instance UID or Instance Number)."""
    p = Path(path)
    text = _read_text(p)
    suffix = p.suffix.lower()
    data: Any = text
    if suffix == ".json" or (suffix != ".csv" and text.lstrip().startswith(("{", "["))):
        data = _json(text, p)
    for fmt in FORMATS:
        if fmt.accepts(data, suffix):
            return type(fmt)().read(data, p)
    raise BoxError(
        f"{p}: JSON must be an object {{\"<file name or SOPInstanceUID>\": [boxes]}}, a COCO data set "
        f"{{\"images\", \"annotations\", \"categories\"}} or a COCO prediction list "
        f"[{{\"image_id\", \"bbox\", \"score\"}}], not {type(data).__name__}"
    )
