"""Shapes: what an annotation marks on an image, and the box parsing.

A shape is anything that can burn its outline into a mask, give the closed
polyline a presentation state draws (PS3.3 C.10.5.1.2, PIXEL units: the top
left corner of the top left pixel is 0,0) and the bounding box its label is
placed against (:class:`Shape`): :class:`Box`, :class:`Polygon` and
:class:`Mask`, each one class.

Boxes are ``[x0, y0, x1, y1]`` pixel coordinates (column, row), 0-based,
both corners inclusive; fractional values are rounded outward (``x0``, ``y0``
down, ``x1``, ``y1`` up). Polygons are points in PIXEL units (the top left
corner of the top left pixel is 0,0); a mask is a boolean pixel matrix.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dicom_rewrite.annotate.contours import inner_outline, polygon_mask, trace_contours
from dicom_rewrite.errors import UsageError

__all__ = [
    "DEFAULT_COLOR",
    "DEFAULT_THICKNESS",
    "MAX_THICKNESS",
    "RGB",
    "PALETTE",
    "Box",
    "BoxError",
    "Mask",
    "Polygon",
    "Shape",
    "Traced",
    "check_thickness",
    "color_text",
    "make_box",
    "make_polygon",
    "parse_box",
    "parse_color",
    "rgb_tuple",
]

RGB = tuple[int, int, int]

#: pure red, the default outline colour
DEFAULT_COLOR: RGB = (255, 0, 0)
DEFAULT_THICKNESS = 2
MAX_THICKNESS = 64
#: the longest label (characters, after runs of white space become one space)
MAX_LABEL = 1024

#: colours given in turn to categories and segments without their own
PALETTE: tuple[RGB, ...] = (
    (255, 0, 0), (0, 255, 0), (0, 128, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255),
    (255, 128, 0), (128, 255, 128), (255, 128, 192), (160, 96, 255),
)

_COLOR_RE = re.compile(r"^#([0-9A-Fa-f]{6})$")


class BoxError(UsageError):
    """Bad box input: malformed file, unknown key, box outside the image, bad colour.

    Stops the whole run before anything is written (exit code 2)."""


class Shape(Protocol):
    """What the drawing, the label layout and the presentation state need of a shape."""

    @property
    def label(self) -> str | None: ...

    @property
    def color(self) -> RGB | None: ...

    @property
    def frame(self) -> int | None: ...

    @property
    def score(self) -> float | None: ...

    @property
    def kind(self) -> str:
        """``box``, ``polygon`` or ``mask`` (reports, the SR's graphic type)."""
        ...

    @property
    def corners(self) -> tuple[int, int, int, int]:
        """The inclusive bounding box ``(x0, y0, x1, y1)`` (label placement)."""
        ...

    def fits(self, rows: int, cols: int) -> bool:
        """Whether the shape lies inside a ``cols`` x ``rows`` image."""
        ...

    def clipped(self, rows: int, cols: int) -> Shape | None:
        """The shape clipped to the image (None when nothing is left)."""
        ...

    def outline_mask(self, rows: int, cols: int, thickness: int) -> np.ndarray:
        """Boolean (rows, cols) mask of the pixels the burned-in outline covers."""
        ...

    def fill_mask(self, rows: int, cols: int) -> np.ndarray | None:
        """Boolean (rows, cols) mask of the translucent fill (None: not filled)."""
        ...

    def polylines(self) -> list[np.ndarray]:
        """The closed outlines as (n, 2) column, row points, PIXEL units (PS3.3 C.10.5.1.2)."""
        ...


# ---------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------


def parse_color(text: str, where: str = "--color") -> RGB:
    """``#RRGGBB`` -> ``(r, g, b)``; anything else is a :class:`BoxError`."""
    m = _COLOR_RE.match(str(text).strip())
    if not m:
        raise BoxError(f"{where}: colour {text!r} is not #RRGGBB (e.g. #FF0000)")
    h = m.group(1)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def rgb_tuple(value: Sequence[int]) -> RGB:
    """``(r, g, b)`` with each component 0..255, or a :class:`BoxError`."""
    try:
        r, g, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise BoxError(f"colour {value!r} is not (r, g, b) or #RRGGBB") from None
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise BoxError(f"colour {value!r}: each component must be 0..255")
    return r, g, b


def color_text(rgb: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def check_thickness(thickness: int) -> None:
    if isinstance(thickness, bool) or not isinstance(thickness, int) or not 1 <= thickness <= MAX_THICKNESS:
        raise UsageError(f"--thickness {thickness!r}: must be a whole number from 1 to {MAX_THICKNESS}")


# ---------------------------------------------------------------------------
# Boxes
# ---------------------------------------------------------------------------


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
    score: float | None = None

    kind = "box"

    @property
    def corners(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x1, self.y1

    def fits(self, rows: int, cols: int) -> bool:
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 < cols and self.y1 < rows

    def clipped(self, rows: int, cols: int) -> Box | None:
        if self.x1 < 0 or self.y1 < 0 or self.x0 >= cols or self.y0 >= rows:
            return None
        return dataclasses.replace(self, x0=max(self.x0, 0), y0=max(self.y0, 0),
                                   x1=min(self.x1, cols - 1), y1=min(self.y1, rows - 1))

    def fill_mask(self, rows: int, cols: int) -> np.ndarray | None:
        return None

    def outline_mask(self, rows: int, cols: int, thickness: int) -> np.ndarray:
        """The box edge inward ``thickness`` pixels (filled when the box is
        narrower than twice the thickness)."""
        m = np.zeros((rows, cols), dtype=bool)
        x0, y0, x1, y1 = self.corners
        m[y0 : y1 + 1, x0 : x1 + 1] = True
        if x1 - x0 + 1 > 2 * thickness and y1 - y0 + 1 > 2 * thickness:
            m[y0 + thickness : y1 - thickness + 1, x0 + thickness : x1 - thickness + 1] = False
        return m

    def polyline(self) -> np.ndarray:
        """The closed outline around the box's pixels, PIXEL units (PS3.3 C.10.5.1.2)."""
        x0, y0, x1, y1 = self.x0, self.y0, self.x1 + 1, self.y1 + 1
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)

    def polylines(self) -> list[np.ndarray]:
        return [self.polyline()]


@dataclass(frozen=True, eq=False)
class Polygon:
    """A closed polygon: ``(n, 2)`` column, row points in PIXEL units (the top
    left corner of the top left pixel is 0,0), as COCO ``segmentation`` and a
    presentation state write them. It covers the pixels whose centre is
    inside; filled translucently, outlined inward."""

    points: np.ndarray
    label: str | None = None
    color: RGB | None = None
    frame: int | None = None
    score: float | None = None

    kind = "polygon"

    @property
    def corners(self) -> tuple[int, int, int, int]:
        p = self.points
        x0, y0 = int(math.floor(p[:, 0].min())), int(math.floor(p[:, 1].min()))
        x1, y1 = int(math.ceil(p[:, 0].max())) - 1, int(math.ceil(p[:, 1].max())) - 1
        return x0, y0, max(x1, x0), max(y1, y0)

    def fits(self, rows: int, cols: int) -> bool:
        p = self.points
        return bool(p.min() >= 0 and p[:, 0].max() <= cols and p[:, 1].max() <= rows)

    def clipped(self, rows: int, cols: int) -> Polygon | None:
        p = self.points
        if p[:, 0].max() <= 0 or p[:, 1].max() <= 0 or p[:, 0].min() >= cols or p[:, 1].min() >= rows:
            return None
        pts = np.column_stack([np.clip(p[:, 0], 0, cols), np.clip(p[:, 1], 0, rows)])
        return dataclasses.replace(self, points=pts)

    def fill_mask(self, rows: int, cols: int) -> np.ndarray:
        return polygon_mask(self.points, rows, cols)

    def outline_mask(self, rows: int, cols: int, thickness: int) -> np.ndarray:
        return inner_outline(self.fill_mask(rows, cols), thickness)

    def polylines(self) -> list[np.ndarray]:
        return [np.vstack([self.points, self.points[:1]])]


@dataclass(frozen=True, eq=False)
class Mask:
    """One segment of a label map on one frame of a ``size`` = (rows, cols)
    image: the boolean pixels of its bounding box, whose top left pixel is
    ``offset`` = (column, row) (kept cropped: a batch of masks stays small).
    Filled translucently, outlined inward; its contours (along the pixel
    edges) are the presentation state's polylines."""

    mask: np.ndarray
    offset: tuple[int, int]
    size: tuple[int, int]
    label: str | None = None
    color: RGB | None = None
    frame: int | None = None
    score: float | None = None

    kind = "mask"

    @classmethod
    def from_pixels(cls, pixels: np.ndarray, *, label: str | None = None, color: RGB | None = None,
                    frame: int | None = None, score: float | None = None) -> Mask | None:
        """The segment ``pixels`` (a boolean image), None when it is empty."""
        m = np.asarray(pixels, dtype=bool)
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        if not rows.size:
            return None
        crop = m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy()
        return cls(crop, (int(cols[0]), int(rows[0])), (int(m.shape[0]), int(m.shape[1])),
                   label, color, frame, score)

    @property
    def corners(self) -> tuple[int, int, int, int]:
        x, y = self.offset
        return x, y, x + self.mask.shape[1] - 1, y + self.mask.shape[0] - 1

    def fits(self, rows: int, cols: int) -> bool:
        return self.size == (rows, cols)

    def clipped(self, rows: int, cols: int) -> Mask | None:
        return None  # a mask of another size is not this image's

    def fill_mask(self, rows: int, cols: int) -> np.ndarray:
        out = np.zeros((rows, cols), dtype=bool)
        x0, y0, x1, y1 = self.corners
        out[y0:y1 + 1, x0:x1 + 1] = self.mask
        return out

    def outline_mask(self, rows: int, cols: int, thickness: int) -> np.ndarray:
        # outside the bounding box is background, as outside the image is
        out = np.zeros((rows, cols), dtype=bool)
        x0, y0, x1, y1 = self.corners
        out[y0:y1 + 1, x0:x1 + 1] = inner_outline(self.mask, thickness)
        return out

    def polylines(self) -> list[np.ndarray]:
        x, y = self.offset
        return [c + np.array([x, y], dtype=float) for c in trace_contours(self.mask)]


@dataclass(frozen=True, eq=False)
class Traced:
    """A shape kept for the presentation state and the SR after it was
    drawn: its contours, bounding box and text, without its pixel matrix
    (a mask's contours replace the mask, so memory does not grow with the
    batch). Its pixels are those inside its contours (even-odd)."""

    contours: tuple[np.ndarray, ...]
    bounds: tuple[int, int, int, int]
    kind: str
    label: str | None = None
    color: RGB | None = None
    frame: int | None = None
    score: float | None = None

    @classmethod
    def of(cls, shape: Shape) -> Traced:
        return cls(tuple(shape.polylines()), shape.corners, shape.kind, shape.label, shape.color,
                   shape.frame, shape.score)

    @property
    def corners(self) -> tuple[int, int, int, int]:
        return self.bounds

    def fits(self, rows: int, cols: int) -> bool:
        x0, y0, x1, y1 = self.bounds
        return x0 >= 0 and y0 >= 0 and x1 < cols and y1 < rows

    def clipped(self, rows: int, cols: int) -> Traced | None:
        return None

    def fill_mask(self, rows: int, cols: int) -> np.ndarray:
        out = np.zeros((rows, cols), dtype=bool)
        for c in self.contours:
            out ^= polygon_mask(c[:-1], rows, cols)
        return out

    def outline_mask(self, rows: int, cols: int, thickness: int) -> np.ndarray:
        return inner_outline(self.fill_mask(rows, cols), thickness)

    def polylines(self) -> list[np.ndarray]:
        return list(self.contours)


def number(value: Any, name: str, where: str, what: str = "a pixel number") -> float:
    """A finite number from JSON, CSV or the command line, or a :class:`BoxError`."""
    if isinstance(value, bool):
        raise BoxError(f"{where}: {name} {value!r} is not {what}")
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        try:
            out = float(str(value).strip())
        except ValueError:
            raise BoxError(f"{where}: {name} {value!r} is not {what}") from None
    if not math.isfinite(out):
        raise BoxError(f"{where}: {name} {value!r} is not a finite number")
    return out


def _coordinate(value: Any, name: str, where: str, up: bool = False) -> int:
    """A whole pixel index; a fractional one is rounded outward (``up`` for
    the right and bottom corners, down for the others)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    x = number(value, name, where)
    return int(math.ceil(x) if up else math.floor(x))


def _corners(coords: Sequence[Any], where: str) -> tuple[int, int, int, int]:
    if isinstance(coords, (str, bytes)) or not isinstance(coords, Sequence) or len(coords) != 4:
        raise BoxError(f"{where}: box must be [x0, y0, x1, y1], got {coords!r}")
    x0, y0, x1, y1 = (_coordinate(v, n, where, up) for v, n, up
                      in zip(coords, ("x0", "y0", "x1", "y1"), (False, False, True, True)))
    if x1 < x0 or y1 < y0:
        raise BoxError(
            f"{where}: box [{x0}, {y0}, {x1}, {y1}] has x1 < x0 or y1 < y0 "
            "(corners are top-left and bottom-right, inclusive)"
        )
    return x0, y0, x1, y1


def _label(label: Any, where: str) -> str | None:
    if label is None:
        return None
    text = " ".join(str(label).split()) or None
    if text is not None and len(text) > MAX_LABEL:
        raise BoxError(f"{where}: label is {len(text)} characters long (at most {MAX_LABEL})")
    return text


def _frame(frame: Any, where: str) -> int | None:
    if frame in (None, ""):
        return None
    value = number(frame, "frame", where)
    if value != int(value):
        raise BoxError(f"{where}: frame {frame!r} is not a whole number")
    frame_no = int(value)
    if frame_no < 1:
        raise BoxError(f"{where}: frame {frame_no} is invalid (frames are numbered from 1)")
    return frame_no


def _score(score: Any, where: str) -> float | None:
    if score in (None, ""):
        return None
    return number(score, "score", where, "a number")


def make_box(coords: Sequence[Any], *, label: Any = None, color: Any = None, frame: Any = None,
             score: Any = None, where: str = "box") -> Box:
    """Validate raw values into a :class:`Box` (no image needed yet)."""
    x0, y0, x1, y1 = _corners(coords, where)
    text = _label(label, where)
    rgb = parse_color(color, where) if color not in (None, "") else None
    return Box(x0, y0, x1, y1, text, rgb, _frame(frame, where), _score(score, where))


def make_polygon(points: Any, *, label: Any = None, color: Any = None, frame: Any = None,
                 score: Any = None, where: str = "polygon") -> Polygon:
    """Validate raw points (``[[x, y], ...]`` or COCO's flat ``[x1, y1, x2, y2, ...]``,
    PIXEL units) into a :class:`Polygon`."""
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence):
        raise BoxError(f"{where}: polygon must be [[x, y], ...] or [x1, y1, x2, y2, ...], got {points!r}")
    flat = [v for p in points for v in p] if points and isinstance(points[0], Sequence) else list(points)
    if len(flat) % 2 or len(flat) < 6:
        raise BoxError(f"{where}: a polygon needs at least 3 points (x, y pairs), got {len(flat)} value(s)")
    xy = np.array([number(v, "coordinate", where) for v in flat], dtype=float).reshape(-1, 2)
    rgb = parse_color(color, where) if color not in (None, "") else None
    return Polygon(xy, _label(label, where), rgb, _frame(frame, where), _score(score, where))


def parse_box(text: str, *, label: str | None = None, color: str | None = None,
              frame: int | None = None) -> Box:
    """``"X0,Y0,X1,Y1"`` (the ``--box`` syntax) -> :class:`Box`."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4 or not all(parts):
        raise BoxError(f"--box {text!r}: expected X0,Y0,X1,Y1 (four pixel numbers)")
    return make_box(parts, label=label, color=color, frame=frame, where=f"--box {text}")
