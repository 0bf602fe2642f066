"""Annotations: burn bounding boxes and labels into RGB copies of images,
and describe the same boxes in a Grayscale Softcopy Presentation State.

The pipeline for one frame of one source image:

1. Validate every box against the image (:func:`place_boxes`), before
   anything is rendered or written.
2. Gray background: Modality LUT, then a LINEAR window (PS3.3 C.11.2.1.2.1):
   the one asked for (``C,W`` or a preset), else the file's first window, else
   the frame's min-max; MONOCHROME1 (or Presentation LUT Shape INVERSE) is
   inverted. All of it is :func:`dicom_rewrite.render.windowing.render_with_info`.
3. Gray -> RGB; labels are drawn first, in a filled rectangle beside the box
   (never on the outline); then each outline, from the box edge inward
   ``thickness`` pixels, in exactly the colour asked.
4. The RGB frame goes through the engine (:class:`Converter`) with the source
   as template; the ``adjust`` hook adds what makes it a derived annotation
   (Burned In Annotation YES, Source Image Sequence, Derivation Description,
   the annotation series and its description, per-frame geometry).

Boxes are ``[x0, y0, x1, y1]`` pixel coordinates (column, row), 0-based, both
corners inclusive. In a presentation state a box is the closed POLYLINE around
exactly those pixels in PIXEL units (PS3.3 C.10.5.1.2: the top left corner of
the top left pixel is 0,0), i.e. ``(x0, y0) -> (x1 + 1, y0) -> (x1 + 1, y1 + 1)
-> (x0, y1 + 1) -> (x0, y0)``.

References:
    PS3.3 C.7.6.1 (General Image: Burned In Annotation, Image Type,
    Derivation Description), C.7.6.1.1.4 (Source Image Sequence),
    C.11.2.1.2.1 (LINEAR window), C.10.5 (Graphic Annotation),
    C.11.6 (Softcopy Presentation LUT), A.33.1 (Grayscale Softcopy
    Presentation State IOD).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import UID

from dicom_rewrite import __version__
from dicom_rewrite.core import clock
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.core.uids import UidMap, hashed_uid, is_valid_uid, new_uid
from dicom_rewrite.engine.converter import Converter, Template
from dicom_rewrite.engine.pixels import PixelPlan
from dicom_rewrite.errors import (
    DicomRewriteError,
    InputError,
    PixelDataError,
    UsageError,
    one_line,
)
from dicom_rewrite.export import decode_frame
from dicom_rewrite.io.files import NameAllocator, iter_input_files, sanitise_component, write_dataset
from dicom_rewrite.io.images import from_array
from dicom_rewrite.profile import (
    Identity,
    Profile,
    SopClassMode,
    UidMode,
)
from dicom_rewrite.render.windowing import (
    frame_view,
    lut_data,
    lut_descriptor,
    parse_window,
    render_with_info,
)

log = logging.getLogger(__name__)

__all__ = [
    "Annotation",
    "Annotator",
    "Box",
    "BoxError",
    "DEFAULT_COLOR",
    "PlacedBox",
    "annotate_dataset",
    "annotate_files",
    "annotate_with_gsps",
    "load_boxes",
    "parse_box",
    "parse_color",
    "place_boxes",
]

RGB = tuple[int, int, int]

#: pure red, the default outline colour
DEFAULT_COLOR: RGB = (255, 0, 0)
DEFAULT_THICKNESS = 2
MAX_THICKNESS = 64
#: padding (pixels) between a label's rectangle and its text
LABEL_PAD = 1
#: (0008,103E) Series Description of the annotation series (LO: 64 chars)
SERIES_DESCRIPTION = "Annotations (burned in)"
GSPS_CONTENT_LABEL = "ANNOTATIONS"
MANUFACTURER = "dicom-rewrite"
MODEL_NAME = "dicom-rewrite annotate"
#: a series number far from the scanner's (added to the largest source series number)
SERIES_NUMBER_OFFSET = 1000

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_COLOR_RE = re.compile(r"^#([0-9A-Fa-f]{6})$")
_CSV_FIELDS = ("file", "x0", "y0", "x1", "y1", "label", "color", "frame")


class BoxError(UsageError):
    """Bad box input: malformed file, unknown key, box outside the image, bad colour.

    Stops the whole run before anything is written (exit code 2)."""


# ---------------------------------------------------------------------------
# Boxes and colours
# ---------------------------------------------------------------------------


def parse_color(text: str, where: str = "--color") -> RGB:
    """``#RRGGBB`` -> ``(r, g, b)``; anything else is a :class:`BoxError`."""
    m = _COLOR_RE.match(str(text).strip())
    if not m:
        raise BoxError(f"{where}: colour {text!r} is not #RRGGBB (e.g. #FF0000)")
    h = m.group(1)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _rgb_tuple(value: Sequence[int]) -> RGB:
    try:
        r, g, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise BoxError(f"colour {value!r} is not (r, g, b) or #RRGGBB") from None
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise BoxError(f"colour {value!r}: each component must be 0..255")
    return r, g, b


def color_text(rgb: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


@dataclass(frozen=True, slots=True)
class Box:
    """One box: inclusive pixel corners (column, row), 0-based.

    ``color`` None means the run's colour; ``frame`` is 1-based (None: the
    first frame of a multi-frame image, the only frame of a single-frame one).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    label: str | None = None
    color: RGB | None = None
    frame: int | None = None

    @property
    def corners(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x1, self.y1

    def polyline(self) -> np.ndarray:
        """The closed outline around the box's pixels, PIXEL units (PS3.3 C.10.5.1.2)."""
        x0, y0, x1, y1 = self.x0, self.y0, self.x1 + 1, self.y1 + 1
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)


def _coordinate(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool):
        raise BoxError(f"{where}: {name} {value!r} is not a pixel number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return int(value)
        raise BoxError(
            f"{where}: {name} {value!r} is not a whole pixel number "
            "(round model outputs first; see docs/annotate.md)"
        )
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise BoxError(f"{where}: {name} {value!r} is not a pixel number") from None
    return _coordinate(number, name, where)


def make_box(coords: Sequence[Any], *, label: Any = None, color: Any = None, frame: Any = None,
             where: str = "box") -> Box:
    """Validate raw values into a :class:`Box` (no image needed yet)."""
    if isinstance(coords, (str, bytes)) or not isinstance(coords, Sequence) or len(coords) != 4:
        raise BoxError(f"{where}: box must be [x0, y0, x1, y1], got {coords!r}")
    x0, y0, x1, y1 = (_coordinate(v, n, where) for v, n in zip(coords, ("x0", "y0", "x1", "y1")))
    if x1 < x0 or y1 < y0:
        raise BoxError(
            f"{where}: box [{x0}, {y0}, {x1}, {y1}] has x1 < x0 or y1 < y0 "
            "(corners are top-left and bottom-right, inclusive)"
        )
    text = None
    if label is not None:
        text = " ".join(str(label).split()) or None
        if text is not None and len(text) > 1024:
            raise BoxError(f"{where}: label is {len(text)} characters long (at most 1024)")
    rgb = parse_color(color, where) if color not in (None, "") else None
    frame_no = None
    if frame not in (None, ""):
        frame_no = _coordinate(frame, "frame", where)
        if frame_no < 1:
            raise BoxError(f"{where}: frame {frame_no} is invalid (frames are numbered from 1)")
    return Box(x0, y0, x1, y1, text, rgb, frame_no)


def parse_box(text: str, *, label: str | None = None, color: str | None = None,
              frame: int | None = None) -> Box:
    """``"X0,Y0,X1,Y1"`` (the ``--box`` syntax) -> :class:`Box`."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4 or not all(parts):
        raise BoxError(f"--box {text!r}: expected X0,Y0,X1,Y1 (four pixel numbers)")
    return make_box(parts, label=label, color=color, frame=frame, where=f"--box {text}")


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
        where = f"{p}: {key!r}"
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise BoxError(f"{where}: expected a list of boxes, not {type(items).__name__}")
        boxes = []
        for i, item in enumerate(items, 1):
            w = f"{where} box {i}"
            if isinstance(item, list):  # bare [x0, y0, x1, y1]
                item = {"box": item}
            if not isinstance(item, dict):
                raise BoxError(f"{w}: expected {{\"box\": [x0, y0, x1, y1], ...}}, not {item!r}")
            unknown = sorted(set(item) - {"box", "label", "color", "frame"})
            if unknown:
                raise BoxError(f"{w}: unknown field(s) {', '.join(unknown)} (box, label, color, frame)")
            if "box" not in item:
                raise BoxError(f"{w}: missing \"box\": [x0, y0, x1, y1]")
            boxes.append(make_box(item["box"], label=item.get("label"), color=item.get("color"),
                                  frame=item.get("frame"), where=w))
        out[str(key)] = out.get(str(key), []) + boxes
    return out


def _boxes_from_csv(text: str, p: Path) -> dict[str, list[Box]]:
    rows = list(csv.reader(io.StringIO(text)))
    out: dict[str, list[Box]] = {}
    for n, row in enumerate(rows, 1):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if n == 1 and cells[0].lower() == "file":
            if tuple(c.lower() for c in cells) != _CSV_FIELDS[: len(cells)]:
                raise BoxError(f"{p}: line 1: header must be {','.join(_CSV_FIELDS[:7])}[,frame]")
            continue
        where = f"{p}: line {n}"
        if not 5 <= len(cells) <= 8:
            raise BoxError(f"{where}: expected file,x0,y0,x1,y1[,label[,color[,frame]]], got {len(cells)} field(s)")
        cells += [""] * (8 - len(cells))
        key = cells[0]
        if not key:
            raise BoxError(f"{where}: the file column is empty")
        box = make_box(cells[1:5], label=cells[5] or None, color=cells[6] or None,
                       frame=cells[7] or None, where=where)
        out.setdefault(key, []).append(box)
    if not out:
        raise BoxError(f"{p}: no boxes found (CSV columns file,x0,y0,x1,y1,label,color)")
    return out


# ---------------------------------------------------------------------------
# Layout: validated boxes and their label rectangles
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlacedBox:
    """A box checked against one image, with its colour and label rectangle.

    ``label_rect`` is inclusive ``(x0, y0, x1, y1)``, always inside the image
    and never on the box's outline; ``label_text`` is what is drawn (a long
    label is shortened with ``...`` to fit)."""

    box: Box
    color: RGB
    label_rect: tuple[int, int, int, int] | None = None
    label_text: str | None = None
    clipped: bool = False


def _font() -> Any:
    from PIL import ImageFont

    return ImageFont.load_default()


def _text_size(text: str) -> tuple[int, int, int, int]:
    """(width, height, left offset, top offset) of the ink of ``text``."""
    l, t, r, b = _font().getbbox(text, mode="1")
    return max(r - l, 1), max(b - t, 1), l, t


def _label_rect(box: Box, w: int, h: int, rows: int, cols: int, t: int,
                others: Sequence[Box]) -> tuple[int, int, int, int] | None:
    """Where a ``w`` x ``h`` label goes: above, below, inside, right, left."""
    x0, y0, x1, y1 = box.corners

    def fit_x(x: int) -> int:
        return min(max(x, 0), cols - w)

    def fit_y(y: int) -> int:
        return min(max(y, 0), rows - h)

    candidates = []
    if w <= cols:
        if y0 - h >= 0:
            candidates.append((fit_x(x0), y0 - h))  # above
        if y1 + 1 + h <= rows:
            candidates.append((fit_x(x0), y1 + 1))  # below
    if x0 + t + w - 1 <= x1 - t and y0 + t + h - 1 <= y1 - t:
        candidates.append((x0 + t, y0 + t))  # inside, clear of the outline
    if h <= rows:
        if x1 + 1 + w <= cols:
            candidates.append((x1 + 1, fit_y(y0)))  # right
        if x0 - w >= 0:
            candidates.append((x0 - w, fit_y(y0)))  # left
    rects = [(x, y, x + w - 1, y + h - 1) for x, y in candidates]
    # prefer a place that covers no other box's outline
    for rect in rects:
        if not any(_touches_outline(rect, o, t) for o in others):
            return rect
    return rects[0] if rects else None


def _touches_outline(rect: tuple[int, int, int, int], box: Box, t: int) -> bool:
    rx0, ry0, rx1, ry1 = rect
    x0, y0, x1, y1 = box.corners
    if rx1 < x0 or rx0 > x1 or ry1 < y0 or ry0 > y1:
        return False  # outside the box
    ix0, iy0, ix1, iy1 = x0 + t, y0 + t, x1 - t, y1 - t
    return not (ix0 <= rx0 and rx1 <= ix1 and iy0 <= ry0 and ry1 <= iy1)


def place_boxes(boxes: Iterable[Box], rows: int, cols: int, *, color: RGB = DEFAULT_COLOR,
                thickness: int = DEFAULT_THICKNESS, clip: bool = False,
                where: str = "") -> list[PlacedBox]:
    """Check ``boxes`` against a ``cols`` x ``rows`` image and lay out the labels.

    A box reaching outside the image is a :class:`BoxError` unless ``clip``
    (then it is clipped; a box entirely outside is dropped)."""
    _check_thickness(thickness)
    prefix = f"{where}: " if where else ""
    kept: list[tuple[Box, bool]] = []
    for b in boxes:
        inside = b.x0 >= 0 and b.y0 >= 0 and b.x1 < cols and b.y1 < rows
        if inside:
            kept.append((b, False))
            continue
        if not clip:
            raise BoxError(
                f"{prefix}box [{b.x0}, {b.y0}, {b.x1}, {b.y1}] reaches outside the image "
                f"(columns 0..{cols - 1}, rows 0..{rows - 1}); use --clip to clip it"
            )
        if b.x1 < 0 or b.y1 < 0 or b.x0 >= cols or b.y0 >= rows:
            log.info("%sbox %s lies entirely outside the image: dropped", prefix, b.corners)
            continue
        kept.append((dataclasses.replace(
            b, x0=max(b.x0, 0), y0=max(b.y0, 0), x1=min(b.x1, cols - 1), y1=min(b.y1, rows - 1)
        ), True))
    all_boxes = [b for b, _c in kept]
    placed = []
    for i, (b, clipped) in enumerate(kept):
        rect, text = None, None
        if b.label:
            others = all_boxes[:i] + all_boxes[i + 1:]
            rect, text = _place_label(b, rows, cols, thickness, others)
        placed.append(PlacedBox(b, b.color or color, rect, text, clipped))
    return placed


def _place_label(box: Box, rows: int, cols: int, t: int,
                 others: Sequence[Box]) -> tuple[tuple[int, int, int, int] | None, str | None]:
    label = box.label or ""
    for n in range(len(label), 0, -1):
        text = label if n == len(label) else label[:n].rstrip() + "..."
        w, h, _l, _t = _text_size(text)
        rect = _label_rect(box, w + 2 * LABEL_PAD, h + 2 * LABEL_PAD, rows, cols, t, others)
        if rect is not None:
            return rect, text
    return None, None


def _check_thickness(thickness: int) -> None:
    if isinstance(thickness, bool) or not isinstance(thickness, int) or not 1 <= thickness <= MAX_THICKNESS:
        raise UsageError(f"--thickness {thickness!r}: must be a whole number from 1 to {MAX_THICKNESS}")


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def outline_mask(box: Box, rows: int, cols: int, thickness: int) -> np.ndarray:
    """Boolean (rows, cols) mask of the outline: the box edge inward ``thickness`` pixels."""
    m = np.zeros((rows, cols), dtype=bool)
    x0, y0, x1, y1 = box.corners
    m[y0 : y1 + 1, x0 : x1 + 1] = True
    if x1 - x0 + 1 > 2 * thickness and y1 - y0 + 1 > 2 * thickness:
        m[y0 + thickness : y1 - thickness + 1, x0 + thickness : x1 - thickness + 1] = False
    return m


def _text_color(rgb: RGB) -> RGB:
    # ITU-R BT.601 luma: dark text on light boxes, white on dark ones
    return (0, 0, 0) if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] >= 128 else (255, 255, 255)


def _label_pixels(text: str, color: RGB, w: int, h: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), color)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"  # no anti-aliasing: two colours only, crisp at any zoom
    _w, _h, left, top = _text_size(text)
    draw.text((LABEL_PAD - left, LABEL_PAD - top), text, font=_font(), fill=_text_color(color))
    return np.asarray(img, dtype=np.uint8)


def draw_boxes(background: np.ndarray, placed: Sequence[PlacedBox], thickness: int) -> np.ndarray:
    """Gray (rows, cols) or RGB (rows, cols, 3) uint8 -> RGB with labels and outlines.

    Labels are drawn first and outlines last, so every outline pixel has
    exactly its box's colour even where another box's label comes close."""
    bg = np.asarray(background, dtype=np.uint8)
    rgb = np.repeat(bg[..., None], 3, axis=2) if bg.ndim == 2 else bg[..., :3].copy()
    rows, cols = rgb.shape[:2]
    for p in placed:
        if p.label_rect is None or not p.label_text:
            continue
        x0, y0, x1, y1 = p.label_rect
        rgb[y0 : y1 + 1, x0 : x1 + 1] = _label_pixels(p.label_text, p.color, x1 - x0 + 1, y1 - y0 + 1)
    for p in placed:
        rgb[outline_mask(p.box, rows, cols, thickness)] = p.color
    return np.ascontiguousarray(rgb)


# ---------------------------------------------------------------------------
# Gray background
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowUsed:
    """The VOI window of one rendered frame (None for colour sources)."""

    center: float | None
    width: float | None
    source: str
    inverted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"center": self.center, "width": self.width, "source": self.source,
                "function": "LINEAR" if self.center is not None else None,
                "inverted": self.inverted}


def resolve_window(window: str | tuple[float, float] | None) -> tuple[float, float] | None:
    """``"C,W"``, a preset name, a ``(center, width)`` pair or None."""
    if window is None:
        return None
    if isinstance(window, str):
        return parse_window(window)
    c, w = (float(v) for v in window)
    return parse_window(f"{c!r},{w!r}")


def render_background(ds: Dataset, frame: int = 0,
                      window: tuple[float, float] | None = None) -> tuple[np.ndarray, WindowUsed]:
    """The 8-bit image a viewer shows for 0-based ``frame``, and the window used.

    Grayscale: Modality LUT, then the LINEAR window of PS3.3 C.11.2.1.2.1
    (``window``, else the file's first window, else min-max), then the
    MONOCHROME1 / Presentation LUT Shape inversion. Colour sources are
    returned as RGB, untouched."""
    arr = decode_frame(ds, frame)
    if window is not None:
        out, info = render_with_info(ds, arr, frame=frame, window=window, voi_function="LINEAR")
        source = "explicit window"
    else:
        out, info = render_with_info(ds, arr, frame=frame, voi_function="LINEAR")
        if info.voi == "lut":  # a VOI LUT Sequence: not a window; use min-max instead
            out, info = render_with_info(ds, arr, frame=frame, voi="minmax")
        source = info.voi_source
    if out.ndim == 3:
        return out, WindowUsed(None, None, "colour image (no window)")
    return out, WindowUsed(info.window_center, info.window_width, source, info.inverted)


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------


class _KeepingUidMap(UidMap):
    """A UID map that keeps every real UID of the source.

    An annotation stays in its source's patient and study, so the references
    the source carries (Referenced Study Sequence, Request Attributes...) stay
    valid; only the engine's level keys (``<series:...>``) get new UIDs."""

    def get(self, old: str, scope: str = "") -> UID:
        if is_valid_uid(str(old)):
            return UID(str(old))
        return super().get(old, scope)


def _annotation_profile(profile: Profile | None) -> Profile:
    """The user's profile, with what an annotation must keep forced on:
    identity kept, study and frame of reference kept, the series given by us,
    Explicit VR Little Endian."""
    base = profile or Profile()
    sop = base.pixel.sop_class
    if sop != SopClassMode.SECONDARY_CAPTURE:
        sop = SopClassMode.AUTO
    return dataclasses.replace(
        base,
        identity=Identity.KEEP,
        uids=dataclasses.replace(base.uids, study=UidMode.KEEP, series=UidMode.KEEP,
                                 frame_of_reference=UidMode.KEEP),
        pixel=dataclasses.replace(base.pixel, transfer_syntax="explicit-vr-little-endian", sop_class=sop),
    )


def _frame_count(ds: Dataset) -> int:
    try:
        return max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def _series_number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _functional_value(ds: Dataset, frame: int, seq_kw: str, kw: str) -> Any:
    """``kw`` from the per-frame, else the shared, functional group ``seq_kw``."""
    for groups_kw, index in (("PerFrameFunctionalGroupsSequence", frame),
                             ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(groups_kw)
        if groups and 0 <= index < len(groups):
            items = groups[index].get(seq_kw)
            if items and kw in items[0]:
                return items[0][kw].value
    return None


@dataclass
class Annotation:
    """The result of annotating one frame of one source."""

    dataset: Dataset
    source: Dataset  # the source's header (no pixels)
    frame: int  # 1-based
    placed: list[PlacedBox]
    window: WindowUsed
    notes: list[str] = field(default_factory=list)


@dataclass
class _Planned:
    source: Dataset
    frame: int  # 1-based
    placed: list[PlacedBox]


class Annotator:
    """One annotation run: one new series per study for all annotated frames,
    one presentation state per source series.

    >>> run = Annotator(window="abdomen")                       # doctest: +SKIP
    >>> ann = run.annotate(ds, [Box(10, 10, 40, 30, "lesion")])  # doctest: +SKIP
    >>> gsps = run.presentation_states()                       # doctest: +SKIP
    """

    def __init__(
        self,
        profile: Profile | None = None,
        *,
        window: str | tuple[float, float] | None = None,
        color: RGB | str = DEFAULT_COLOR,
        thickness: int = DEFAULT_THICKNESS,
        clip: bool = False,
        started: datetime | None = None,
        series_numbers: Mapping[str, int] | None = None,
    ) -> None:
        _check_thickness(thickness)
        self.window = resolve_window(window)
        self.color: RGB = parse_color(color) if isinstance(color, str) else _rgb_tuple(color)
        self.thickness = thickness
        self.clip = clip
        self.started = started or clock.now()
        self.profile = _annotation_profile(profile)
        self.uid_map = _KeepingUidMap(self.profile.uids.root, self.profile.uids.key)
        self._series_numbers: dict[str, int] = dict(series_numbers or {})
        self._index: dict[str, int] = defaultdict(int)
        self._done: list[Annotation] = []

    # -------------------------------------------------------------- planning
    def plan(self, ds: Dataset, boxes: Iterable[Box], *, frames: Iterable[int] | None = None,
             where: str = "") -> list[_Planned]:
        """Validate ``boxes`` against ``ds`` (header only is enough).

        Boxes go on their ``frame`` (1-based; None = frame 1). ``frames``
        adds frames to write even without boxes (``--all``)."""
        name = where or str(ds.get("SOPInstanceUID", "<dataset>"))
        for kw in ("Rows", "Columns", "SOPInstanceUID", "SOPClassUID"):
            if not ds.get(kw):
                raise InputError(f"{name}: no {kw}; not an image that can be annotated")
        rows, cols, n_frames = int(ds.Rows), int(ds.Columns), _frame_count(ds)
        by_frame: dict[int, list[Box]] = defaultdict(list)
        for b in boxes:
            f = b.frame or 1
            if f > n_frames:
                raise BoxError(f"{name}: box {list(b.corners)} is on frame {f}, but the image has "
                               f"{n_frames} frame(s)")
            by_frame[f].append(b)
        for f in frames or ():
            if not 1 <= f <= n_frames:
                raise BoxError(f"{name}: frame {f} does not exist ({n_frames} frame(s))")
            by_frame.setdefault(f, [])
        out = []
        for f in sorted(by_frame):
            placed = place_boxes(by_frame[f], rows, cols, color=self.color, thickness=self.thickness,
                                 clip=self.clip, where=name if n_frames == 1 else f"{name} frame {f}")
            out.append(_Planned(ds, f, placed))
        return out

    # ------------------------------------------------------------- rendering
    def annotate(self, ds: Dataset, boxes: Iterable[Box], *, frames: Iterable[int] | None = None,
                 where: str = "") -> list[Annotation]:
        """Validate, then render every frame named by ``boxes`` (and ``frames``)."""
        return [self.render(p) for p in self.plan(ds, boxes, frames=frames, where=where)]

    def render(self, planned: _Planned, pixels: Dataset | None = None) -> Annotation:
        """Render one planned frame; ``pixels`` is the full dataset when
        ``planned.source`` is only a header."""
        src = pixels if pixels is not None else planned.source
        background, used = render_background(src, planned.frame - 1, self.window)
        rgb = draw_boxes(background, planned.placed, self.thickness)
        study = str(src.get("StudyInstanceUID", ""))
        patient = str(src.get("PatientID", "") or "")
        series_uid = self.uid_map.get(f"<annotation series:{study}>", patient)
        number = self._number(study, src)
        # the template: the source's elements (shared, never changed) with a
        # new Series Instance UID element (a new object, not a changed value)
        tpl = Dataset()
        for elem in src:
            if elem.keyword not in _PIXEL_KEYWORDS:
                tpl.add(elem)
        tpl.add(DataElement(Tag("SeriesInstanceUID"), "UI", series_uid))
        converter = Converter(Template.from_dataset(tpl), self.profile,
                              transfer_syntax="explicit-vr-little-endian", started=self.started,
                              uid_map=self.uid_map)
        self._index[series_uid] += 1
        index = self._index[series_uid]
        header = _header(src)
        multi = _frame_count(src) > 1

        def adjust(ds: Dataset, plan: PixelPlan) -> list[Change]:
            return _derive(ds, plan, header, planned, used, number, multi)

        out = converter.convert(from_array(rgb), index=index, stem=f"annotation{index}",
                                name=f"{src.SOPInstanceUID}:{planned.frame}", adjust=adjust)
        ann = Annotation(out.dataset, header, planned.frame, planned.placed, used, list(out.notes))
        self._done.append(ann)
        return ann

    def _number(self, study: str, src: Dataset) -> int:
        if study not in self._series_numbers:
            self._series_numbers[study] = _series_number(src.get("SeriesNumber")) + SERIES_NUMBER_OFFSET
        return self._series_numbers[study]

    @property
    def annotations(self) -> list[Annotation]:
        return list(self._done)

    # ------------------------------------------------------ presentation states
    def presentation_states(self) -> list[tuple[Dataset, list[str]]]:
        """One Grayscale Softcopy Presentation State per source series (and
        image size / Modality LUT), referencing the untouched sources, for
        every annotated frame so far that has boxes. Returns ``(gsps, notes)``
        pairs; colour sources are left out with a note."""
        groups: dict[tuple[Any, ...], list[Annotation]] = defaultdict(list)
        notes_out: list[tuple[Dataset, list[str]]] = []
        skipped: list[str] = []
        for ann in self._done:
            if not ann.placed:
                continue
            src = ann.source
            if int(src.get("SamplesPerPixel", 1) or 1) != 1 or ann.window.center is None:
                skipped.append(f"{src.SOPInstanceUID}: colour image, no grayscale presentation state")
                continue
            key = (str(src.StudyInstanceUID), str(src.SeriesInstanceUID), int(src.Rows),
                   int(src.Columns), _modality_key(src, ann.frame - 1), _presentation_shape(src))
            groups[key].append(ann)
        for k, (key, anns) in enumerate(groups.items(), 1):
            gsps = self._gsps(anns, key, k)
            notes_out.append((gsps, []))
        if skipped and notes_out:
            notes_out[-1][1].extend(skipped)
        elif skipped:
            log.warning("no presentation state: %s", "; ".join(skipped))
        return notes_out

    def _gsps(self, anns: list[Annotation], key: tuple[Any, ...], k: int) -> Dataset:
        from highdicom import PresentationLUTTransformation, ReferencedImageSequence
        from highdicom.color import CIELabColor
        from highdicom.pr import (
            AnnotationUnitsValues,
            GraphicAnnotation,
            GraphicLayer,
            GraphicObject,
            GrayscaleSoftcopyPresentationState,
            SoftcopyVOILUTTransformation,
        )

        study, _series, _rows, _cols, modality, shape = key
        # unique source headers, in order
        sources: dict[str, Dataset] = {}
        for a in anns:
            sources.setdefault(str(a.source.SOPInstanceUID), a.source)
        refs = [_reference_header(s) for s in sources.values()]
        ref_by_uid = {str(r.SOPInstanceUID): r for r in refs}
        colors = sorted({p.color for a in anns for p in a.placed})
        layers = {
            c: GraphicLayer(
                f"{GSPS_CONTENT_LABEL}_{i}" if len(colors) > 1 else GSPS_CONTENT_LABEL,
                order=i, description=f"boxes drawn in {color_text(c)}",
                display_color=CIELabColor.from_rgb(*c),
            )
            for i, c in enumerate(colors, 1)
        }
        graphic_annotations = []
        for a in anns:
            ref = ref_by_uid[str(a.source.SOPInstanceUID)]
            multi = _frame_count(ref) > 1
            for c in colors:
                mine = [p for p in a.placed if p.color == c]
                if not mine:
                    continue
                graphics = [GraphicObject("POLYLINE", p.box.polyline(), AnnotationUnitsValues.PIXEL)
                            for p in mine]
                texts = []
                for p in mine:
                    if not p.box.label:
                        continue
                    if p.label_rect is not None:
                        x0, y0, x1, y1 = p.label_rect
                        bbox = (float(x0), float(y0), float(x1 + 1), float(y1 + 1))
                    else:  # no room for the burned-in label: put it at the box
                        bbox = (float(p.box.x0), float(p.box.y0), float(p.box.x1 + 1), float(p.box.y1 + 1))
                    texts.append(_text_object(p.box.label, bbox))
                graphic_annotations.append(GraphicAnnotation(
                    referenced_images=[ref], graphic_layer=layers[c],
                    referenced_frame_number=a.frame if multi else None,
                    graphic_objects=graphics, text_objects=texts or None,
                ))
        # one VOI item per distinct window, each naming its images (and frames)
        by_window: dict[tuple[float, float], list[Annotation]] = defaultdict(list)
        for a in anns:
            by_window[(float(a.window.center), float(a.window.width))].append(a)  # type: ignore[arg-type]
        vois = []
        for (center, width), items in by_window.items():
            singles = [ref_by_uid[str(a.source.SOPInstanceUID)] for a in items
                       if _frame_count(a.source) == 1]
            singles = list({str(s.SOPInstanceUID): s for s in singles}.values())
            multis: dict[str, list[int]] = defaultdict(list)
            for a in items:
                if _frame_count(a.source) > 1:
                    multis[str(a.source.SOPInstanceUID)].append(a.frame)
            seqs = []
            if singles:
                seqs.append(ReferencedImageSequence(referenced_images=singles))
            for uid, frames in multis.items():
                seqs.append(ReferencedImageSequence(referenced_images=[ref_by_uid[uid]],
                                                    referenced_frame_number=sorted(set(frames))))
            for seq in seqs:
                vois.append(SoftcopyVOILUTTransformation(
                    window_center=center, window_width=width, voi_lut_function="LINEAR",
                    window_explanation=_explanation(items[0].window), referenced_images=seq,
                ))
        patient = str(refs[0].get("PatientID", "") or "")
        series_uid = self.uid_map.get(f"<annotation gsps series:{study}>", patient)
        if self.uid_map.key is not None:
            instance_uid = hashed_uid(self.uid_map.key, "gsps", series_uid, *sorted(sources),
                                      root=self.uid_map.root)
        else:
            instance_uid = new_uid(self.uid_map.root)
        number = self._series_numbers.get(study, SERIES_NUMBER_OFFSET) + 1
        gsps = GrayscaleSoftcopyPresentationState(
            referenced_images=refs,
            series_instance_uid=series_uid,
            series_number=number,
            sop_instance_uid=instance_uid,
            instance_number=k,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=MODEL_NAME,
            software_versions=__version__,
            device_serial_number="0",
            content_label=GSPS_CONTENT_LABEL,
            content_description="Bounding boxes and labels (not burned in)",
            graphic_annotations=graphic_annotations,
            graphic_layers=list(layers.values()),
            modality_lut_transformation=_modality_transformation(modality),
            voi_lut_transformations=vois,
            presentation_lut_transformation=PresentationLUTTransformation(presentation_lut_shape=shape),
        )
        gsps.SeriesDescription = "Annotations (presentation state)"
        _series_laterality(gsps, refs[0])
        now = self.started
        gsps.PresentationCreationDate = now.strftime("%Y%m%d")
        gsps.PresentationCreationTime = now.strftime("%H%M%S")
        # highdicom stamps these with the wall clock; the batch clock rules
        for keyword, fmt in (("InstanceCreationDate", "%Y%m%d"), ("InstanceCreationTime", "%H%M%S")):
            setattr(gsps, keyword, now.strftime(fmt))
        for item in gsps.get("ContributingEquipmentSequence", []):
            if "ContributionDateTime" in item:
                item.ContributionDateTime = now.strftime("%Y%m%d%H%M%S")
        return gsps


def _text_object(text: str, bbox: tuple[float, float, float, float]) -> Any:
    """A text object in PIXEL units, left-justified in ``bbox``."""
    from highdicom.pr import AnnotationUnitsValues, TextJustificationValues, TextObject

    return TextObject(text, AnnotationUnitsValues.PIXEL, bounding_box=bbox,
                      text_justification=TextJustificationValues.LEFT)


def _series_laterality(gsps: Dataset, src: Dataset) -> None:
    """PS3.3 C.7.3.1: Body Part Examined from the source; Laterality (Type 2C)
    as the source has it, else empty unless the body part is unpaired."""
    from dicom_rewrite.engine.converter import UNPAIRED_BODY_PARTS

    body_part = str(src.get("BodyPartExamined", "") or "").strip()
    if body_part:
        gsps.BodyPartExamined = body_part
    if src.get("Laterality"):
        gsps.Laterality = src.Laterality
    elif body_part.upper() not in UNPAIRED_BODY_PARTS:
        gsps.Laterality = None


def _explanation(w: WindowUsed) -> str:
    return f"dicom-rewrite annotate: {w.source}"[:64]


@dataclass(frozen=True, slots=True)
class _RescaleKey:
    """A linear Modality LUT: (0028,1053) slope, (0028,1052) intercept, (0028,1054) type."""

    slope: float
    intercept: float
    rescale_type: str


@dataclass(frozen=True, slots=True)
class _LutKey:
    """A (0028,3000) Modality LUT Sequence item, by what it maps: the LUT
    Descriptor (entries, first stored value mapped (signed), bits per entry),
    the entries themselves and the Modality LUT Type. Two sources with equal
    keys show the same modality values for the same stored values, so one
    presentation state can carry the LUT for both (PS3.3 C.11.1)."""

    entries: int
    first: int
    bits: int
    data: bytes  # the entries, uint16 little endian (uint8 when bits is 8)
    lut_type: str
    #: how the source encoded a negative first value: SS, or US holding its two's complement
    descriptor_vr: str = field(default="US", compare=False)
    explanation: str | None = field(default=None, compare=False)


_ModalityKey = _RescaleKey | _LutKey


def _modality_key(src: Dataset, frame: int) -> _ModalityKey:
    """What the Modality LUT of ``frame`` (0-based) is: the LUT Sequence when
    the source has one (it is what the burned-in copy went through, see
    :func:`dicom_rewrite.render.windowing.modality_values`), else the rescale."""
    view = frame_view(src, frame)
    seq = view.get("ModalityLUTSequence")
    if seq:
        return _lut_key(seq[0], view, src)
    slope = float(view.get("RescaleSlope", 1) or 1) if "RescaleSlope" in view else 1.0
    intercept = float(view.get("RescaleIntercept", 0) or 0) if "RescaleIntercept" in view else 0.0
    rescale_type = str(view.get("RescaleType", "") or "")
    if not rescale_type:
        # PS3.3 C.11.1.1.2: CT values are Hounsfield units; otherwise unspecified
        rescale_type = "HU" if str(src.get("Modality", "")).upper() == "CT" else "US"
    return _RescaleKey(slope, intercept, rescale_type)


def _lut_key(item: Dataset, view: Dataset, src: Dataset) -> _LutKey:
    """The identity of one Modality LUT Sequence item, read exactly as the
    rendering reads it (same descriptor and LUT Data decoding)."""
    what = f"{src.get('SOPInstanceUID', '<dataset>')}: Modality LUT Sequence"
    entries, first, bits = lut_descriptor(item, what)
    values = lut_data(item, view, entries)
    if values.size == 0:
        raise PixelDataError(f"{what}: (0028,3006) LUT Data is empty")
    if values.min() < 0 or values.max() > 65535:
        raise PixelDataError(f"{what}: (0028,3006) LUT Data values outside 0..65535")
    # PS3.3 C.11.1.1.1: 8 or 16 bits per entry; 8-bit entries are kept 8-bit
    # when they fit, anything else is written as 16-bit entries
    if bits == 8 and values.max() <= 255:
        data = values.astype(np.uint8).tobytes()
    else:
        bits = 16
        data = values.astype("<u2").tobytes()
    lut_type = str(item.get("ModalityLUTType", "") or "").strip()
    if not lut_type:
        # Type 1 in the item; like the rescale default above
        lut_type = "HU" if str(src.get("Modality", "")).upper() == "CT" else "US"
    explanation = str(item.get("LUTExplanation", "") or "").strip() or None
    vr = item["LUTDescriptor"].VR if "LUTDescriptor" in item else "US"
    signed = vr == "SS" and first < 0 and values.size < 32768
    return _LutKey(int(values.size), first, bits, data, lut_type[:64], "SS" if signed else "US",
                   explanation)


def _modality_transformation(key: _ModalityKey) -> Any:
    """The presentation state's Modality LUT (PS3.3 C.11.1): the source's
    rescale, or a Modality LUT Sequence with the source's descriptor, type
    and entries."""
    from highdicom import ModalityLUT, ModalityLUTTransformation

    if isinstance(key, _RescaleKey):
        return ModalityLUTTransformation(rescale_intercept=key.intercept, rescale_slope=key.slope,
                                         rescale_type=key.rescale_type)
    dtype = np.uint8 if key.bits == 8 else np.dtype("<u2")
    data = np.frombuffer(key.data, dtype=dtype)
    # highdicom takes a first mapped value 0..65535; a negative one (signed
    # source pixels) is written below as the source wrote it
    lut = ModalityLUT(lut_type=key.lut_type, first_mapped_value=max(key.first, 0), lut_data=data,
                      lut_explanation=key.explanation[:64] if key.explanation else None)
    if key.first < 0:
        # PS3.3 C.11.1.1.1: the first mapped value follows the pixel
        # representation of the image: SS, or US holding the two's complement
        entries = int(lut.LUTDescriptor[0])
        second = key.first if key.descriptor_vr == "SS" else key.first + 65536
        lut["LUTDescriptor"] = DataElement(Tag("LUTDescriptor"), key.descriptor_vr,
                                           [entries, second, key.bits])
    return ModalityLUTTransformation(modality_lut=lut)


def _presentation_shape(src: Dataset) -> str:
    shape = str(src.get("PresentationLUTShape", "") or "").strip().upper()
    if shape in ("IDENTITY", "INVERSE"):
        return shape
    # PS3.3 C.7.6.3.1.2: MONOCHROME1 shows the minimum as white
    return "INVERSE" if str(src.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1" else "IDENTITY"


def _header(ds: Dataset) -> Dataset:
    """A copy of ``ds`` without its pixel data (for references and GSPS)."""
    h = Dataset()
    for elem in ds:
        if elem.keyword in _PIXEL_KEYWORDS:
            continue
        h.add(copy.deepcopy(elem))
    if hasattr(ds, "file_meta"):
        h.file_meta = copy.deepcopy(ds.file_meta)
    return h


def _reference_header(src: Dataset) -> Dataset:
    """The source header with the patient/study attributes highdicom reads
    present (empty when the source has none)."""
    ref = copy.copy(src)
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
               "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName"):
        if kw not in ref:
            setattr(ref, kw, None)
    return ref


def _derive(ds: Dataset, plan: PixelPlan, src: Dataset, planned: _Planned, used: WindowUsed,
            series_number: int, multi: bool) -> list[Change]:
    """The ``adjust`` hook: what makes the output a derived annotation."""
    from pydicom.datadict import tag_for_keyword

    changes: list[Change] = []

    def put(kw: str, value: Any, rule: str) -> None:
        setattr(ds, kw, value)
        changes.append(Change(int(tag_for_keyword(kw)), "set", rule))  # type: ignore[arg-type]

    # PS3.3 C.7.6.1.1.2: Image Type value 1 DERIVED, value 2 SECONDARY
    image_type = list(ds.get("ImageType", []) or [])
    put("ImageType", ["DERIVED", "SECONDARY", *image_type[2:]], "annotation: derived image")
    # PS3.3 C.7.6.1: the boxes and labels are burned into the pixels
    put("BurnedInAnnotation", "YES", "annotation: boxes burned in")
    # PS3.3 C.7.6.1.1.4 / C.12.1.1: the source instance (and frame) it derives from
    item = Dataset()
    item.ReferencedSOPClassUID = src.SOPClassUID
    item.ReferencedSOPInstanceUID = src.SOPInstanceUID
    if multi:
        item.ReferencedFrameNumber = planned.frame
    code = Dataset()
    # CID 7202 Source Image Purpose of Reference
    code.CodeValue = "121322"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Source image for image processing operation"
    item.PurposeOfReferenceCodeSequence = DicomSequence([code])
    item.SpatialLocationsPreserved = "YES"
    put("SourceImageSequence", DicomSequence([item]), "annotation: source reference")
    labels = sorted({p.box.label for p in planned.placed if p.box.label})
    text = (
        f"{len(planned.placed)} bounding box(es) burned in by dicom-rewrite annotate"
        + (f" ({', '.join(labels)})" if labels else "")
        + (f"; window center {used.center:g}, width {used.width:g} LINEAR ({used.source})"
           if used.center is not None and used.width is not None else "")
        + ("; MONOCHROME1 inverted" if used.inverted else "")
    )
    put("DerivationDescription", text[:1024], "annotation: derivation")
    desc = str(src.get("SeriesDescription", "") or "").strip()
    put("SeriesDescription", (f"{SERIES_DESCRIPTION}: {desc}" if desc else SERIES_DESCRIPTION)[:64],
        "annotation: series description")
    put("SeriesNumber", series_number, "annotation: series number")
    if plan.sop_class == UID("1.2.840.10008.5.1.4.1.1.7"):
        # PS3.3 C.8.6.1 SC Equipment: the device that made this capture
        put("SecondaryCaptureDeviceManufacturer", MANUFACTURER, "annotation: SC equipment")
        put("SecondaryCaptureDeviceManufacturerModelName", MODEL_NAME, "annotation: SC equipment")
        put("SecondaryCaptureDeviceSoftwareVersions", __version__, "annotation: SC equipment")
    # geometry of one frame of an enhanced multi-frame source (PS3.3 C.7.6.16.2)
    if multi:
        frame = planned.frame - 1
        allowed = _allowed(plan.sop_class)
        for seq_kw, kw in (("PlanePositionSequence", "ImagePositionPatient"),
                           ("PlaneOrientationSequence", "ImageOrientationPatient"),
                           ("PixelMeasuresSequence", "PixelSpacing"),
                           ("PixelMeasuresSequence", "SliceThickness")):
            value = _functional_value(src, frame, seq_kw, kw)
            if value is not None and kw in allowed:
                put(kw, copy.deepcopy(value), "annotation: frame geometry")
    return changes


def _allowed(sop_class: str) -> frozenset[str]:
    from dicom_rewrite.core import iod

    return iod.iod_keywords(sop_class)


# ---------------------------------------------------------------------------
# One dataset
# ---------------------------------------------------------------------------


def annotate_dataset(
    ds: Dataset,
    boxes: Iterable[Box],
    *,
    frame: int = 1,
    window: str | tuple[float, float] | None = None,
    color: RGB | str = DEFAULT_COLOR,
    thickness: int = DEFAULT_THICKNESS,
    clip: bool = False,
    profile: Profile | None = None,
) -> Dataset:
    """Return an RGB copy of frame ``frame`` (1-based) of ``ds`` with ``boxes``
    burned in: a new dataset in the source's patient and study, in a new
    series. ``ds`` is not modified. Boxes with another ``frame`` are ignored."""
    return annotate_with_gsps(ds, boxes, frame=frame, window=window, color=color,
                              thickness=thickness, clip=clip, profile=profile, gsps=False)[0]


def annotate_with_gsps(
    ds: Dataset,
    boxes: Iterable[Box],
    *,
    frame: int = 1,
    window: str | tuple[float, float] | None = None,
    color: RGB | str = DEFAULT_COLOR,
    thickness: int = DEFAULT_THICKNESS,
    clip: bool = False,
    profile: Profile | None = None,
    gsps: bool = True,
) -> tuple[Dataset, Dataset | None]:
    """Like :func:`annotate_dataset`, also returning the Grayscale Softcopy
    Presentation State that shows the same boxes on the untouched ``ds``
    (None for a colour source)."""
    run = Annotator(profile, window=window, color=color, thickness=thickness, clip=clip)
    mine = [dataclasses.replace(b, frame=frame) for b in boxes if (b.frame or 1) == frame]
    anns = run.annotate(ds, mine, frames=[frame])
    states = run.presentation_states() if gsps else []
    return anns[0].dataset, (states[0][0] if states else None)


# ---------------------------------------------------------------------------
# Files: the command line's batch
# ---------------------------------------------------------------------------


@dataclass
class _Input:
    path: Path
    keys: tuple[str, ...]  # names a box file may use for it
    header: Dataset | None = None
    error: str | None = None
    skipped: str | None = None  # why a file met in a folder walk is not annotated


def _read_header(path: Path) -> Dataset:
    try:
        return dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        raise InputError(f"{path}: not a DICOM file") from None
    except (OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: cannot read ({one_line(exc)})") from None


def _collect_inputs(inputs: Iterable[str | Path]) -> list[_Input]:
    out: list[_Input] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for sub in iter_input_files([p]):
                if sub.name.upper() == "DICOMDIR":
                    continue
                rel = sub.relative_to(p).as_posix()
                try:
                    header = _read_header(sub)
                except InputError as exc:
                    # folders may hold other files: skipped, and listed in the report
                    out.append(_Input(sub, (), None, None, one_line(exc)))
                    continue
                out.append(_Input(sub, (sub.name, rel, str(sub)), header))
        elif p.is_file():
            inp = _Input(p, (p.name, str(item), str(p)))
            try:
                inp.header = _read_header(p)
            except InputError as exc:
                inp.error = one_line(exc)
            out.append(inp)
        else:
            out.append(_Input(p, (p.name, str(item)), None, f"{p}: no such file or folder"))
    return out


def _match_keys(box_map: Mapping[str, list[Box]], inputs: list[_Input],
                source: str) -> dict[int, list[Box]]:
    """Assign each key of the box file to exactly one input (by file name,
    path as given, path under a folder, or SOP Instance UID)."""
    assigned: dict[int, list[Box]] = defaultdict(list)
    for key, boxes in box_map.items():
        hits = [i for i, inp in enumerate(inputs)
                if key in inp.keys
                or (inp.header is not None and str(inp.header.get("SOPInstanceUID", "")) == key)]
        if not hits:
            raise BoxError(
                f"{source}: key {key!r} matches no input (use an input file name, its path, "
                "or its SOPInstanceUID)"
            )
        if len(hits) > 1:
            names = ", ".join(str(inputs[i].path) for i in hits[:3])
            raise BoxError(f"{source}: key {key!r} matches {len(hits)} inputs ({names}); use the path "
                           "or the SOPInstanceUID")
        assigned[hits[0]].extend(boxes)
    return assigned


def annotate_files(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    boxes: Sequence[Box] = (),
    box_file: str | Path | None = None,
    window: str | tuple[float, float] | None = None,
    color: RGB | str = DEFAULT_COLOR,
    thickness: int = DEFAULT_THICKNESS,
    clip: bool = False,
    all_slices: bool = False,
    gsps: bool = False,
    profile: Profile | None = None,
) -> Iterator[dict[str, Any]]:
    """Annotate DICOM files (or folders) and write the results under ``out_dir``.

    ``boxes`` (the ``--box`` boxes) go on every input; ``box_file`` gives
    boxes per input. Everything is validated before the first file is
    written: bad box input raises :class:`BoxError` and writes nothing.
    Yields one report entry per input (and per presentation state)."""
    if bool(boxes) == bool(box_file):
        raise UsageError("annotate: give boxes with --box X0,Y0,X1,Y1 or --boxes FILE (one of them)")
    run = Annotator(profile, window=window, color=color, thickness=thickness, clip=clip)
    items = _collect_inputs(inputs)
    if all(inp.skipped for inp in items):
        raise UsageError("annotate: no DICOM files found in " + " ".join(map(str, inputs)))
    if box_file:
        per_input = _match_keys(load_boxes(box_file), items, str(box_file))
    else:
        per_input = {i: list(boxes) for i, inp in enumerate(items) if inp.header is not None}
    # series numbers: one per study, past every source series of the run
    numbers: dict[str, int] = {}
    for inp in items:
        if inp.header is not None:
            study = str(inp.header.get("StudyInstanceUID", ""))
            n = _series_number(inp.header.get("SeriesNumber")) + SERIES_NUMBER_OFFSET
            numbers[study] = max(numbers.get(study, 0), n)
    run._series_numbers.update(numbers)

    # pass 1: validate everything (nothing is written on a box error)
    plans: dict[int, list[_Planned]] = {}
    for i, inp in enumerate(items):
        if inp.header is None:
            continue
        mine = per_input.get(i, [])
        if not mine and not all_slices:
            continue
        frames = range(1, _frame_count(inp.header) + 1) if all_slices else None
        try:
            plans[i] = run.plan(inp.header, mine, frames=frames, where=str(inp.path))
        except InputError as exc:
            inp.error = one_line(exc)

    # pass 2: render and write
    names = NameAllocator(Path(out_dir))
    for i, inp in enumerate(items):
        entry: dict[str, Any] = {"input": str(inp.path), "outputs": [], "status": "ok"}
        if inp.error:
            entry.update(status="error", error=inp.error)
            yield entry
            continue
        if inp.skipped:
            entry.update(status="skipped", reason=inp.skipped)
            yield entry
            continue
        if i not in plans:
            entry.update(status="skipped", reason="no boxes (use --all to write it anyway)")
            yield entry
            continue
        try:
            full = dcmread(inp.path)
            frames_info = []
            written = []
            notes: set[str] = set()
            n_frames = _frame_count(full)
            for planned in plans[i]:
                ann = run.render(planned, full)
                stem = sanitise_component(inp.path.stem, "image")
                name = f"{stem}_annotated.dcm" if n_frames == 1 else f"{stem}_f{planned.frame:04d}_annotated.dcm"
                path = names.claim(name)
                write_dataset(ann.dataset, path)
                written.append(str(path))
                notes.update(ann.notes)
                frames_info.append({
                    "frame": planned.frame,
                    "boxes": [list(p.box.corners) for p in planned.placed],
                    "clipped": sum(p.clipped for p in planned.placed),
                    "window": ann.window.as_dict(),
                })
            entry["outputs"] = written
            entry["frames"] = frames_info
            entry["sop_class"] = UID(str(ann.dataset.SOPClassUID)).name
            entry["series_instance_uid"] = str(ann.dataset.SeriesInstanceUID)
            if notes:
                entry["notes"] = sorted(notes)
        except DicomRewriteError as exc:
            if not isinstance(exc, (InputError, PixelDataError)):
                raise
            entry.update(status="error", error=one_line(exc))
        except (OSError, ValueError, TypeError) as exc:
            entry.update(status="error", error=f"{inp.path}: {one_line(exc)}")
        yield entry

    if gsps:
        for k, (state, state_notes) in enumerate(run.presentation_states(), 1):
            entry = {"input": f"presentation state {k}", "outputs": [], "status": "ok",
                     "references": [str(r.ReferencedSOPInstanceUID)
                                    for s in state.ReferencedSeriesSequence
                                    for r in s.ReferencedImageSequence]}
            try:
                path = names.claim(f"gsps_{k:03d}.dcm")
                write_dataset(state, path)
                entry["outputs"] = [str(path)]
            except (OSError, ValueError) as exc:
                entry.update(status="error", error=f"presentation state {k}: {one_line(exc)}")
            if state_notes:
                entry["notes"] = state_notes
            yield entry
