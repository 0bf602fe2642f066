"""Shapes: what an annotation marks on an image, and the box parsing.

A shape is anything that can burn its outline into a mask, give the closed
polyline a presentation state draws (PS3.3 C.10.5.1.2, PIXEL units: the top
left corner of the top left pixel is 0,0) and the bounding box its label is
placed against (:class:`Shape`). :class:`Box` is the one shape today; a mask
or a polygon is one new class.

Boxes are ``[x0, y0, x1, y1]`` pixel coordinates (column, row), 0-based,
both corners inclusive.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dicom_rewrite.errors import UsageError

__all__ = [
    "DEFAULT_COLOR",
    "DEFAULT_THICKNESS",
    "MAX_THICKNESS",
    "RGB",
    "Box",
    "BoxError",
    "Shape",
    "check_thickness",
    "color_text",
    "make_box",
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
    def corners(self) -> tuple[int, int, int, int]:
        """The inclusive bounding box ``(x0, y0, x1, y1)`` (label placement)."""
        ...

    def outline_mask(self, rows: int, cols: int, thickness: int) -> np.ndarray:
        """Boolean (rows, cols) mask of the pixels the burned-in outline covers."""
        ...

    def polyline(self) -> np.ndarray:
        """The closed outline as (n, 2) column, row points, PIXEL units (PS3.3 C.10.5.1.2)."""
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

    @property
    def corners(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x1, self.y1

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


def _whole_number(value: float, name: str, where: str) -> int:
    if math.isfinite(value) and value == int(value):
        return int(value)
    raise BoxError(
        f"{where}: {name} {value!r} is not a whole pixel number "
        "(round model outputs first; see docs/annotate.md)"
    )


def _coordinate(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool):
        raise BoxError(f"{where}: {name} {value!r} is not a pixel number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _whole_number(value, name, where)
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


def _corners(coords: Sequence[Any], where: str) -> tuple[int, int, int, int]:
    if isinstance(coords, (str, bytes)) or not isinstance(coords, Sequence) or len(coords) != 4:
        raise BoxError(f"{where}: box must be [x0, y0, x1, y1], got {coords!r}")
    x0, y0, x1, y1 = (_coordinate(v, n, where) for v, n in zip(coords, ("x0", "y0", "x1", "y1")))
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
    frame_no = _coordinate(frame, "frame", where)
    if frame_no < 1:
        raise BoxError(f"{where}: frame {frame_no} is invalid (frames are numbered from 1)")
    return frame_no


def make_box(coords: Sequence[Any], *, label: Any = None, color: Any = None, frame: Any = None,
             where: str = "box") -> Box:
    """Validate raw values into a :class:`Box` (no image needed yet)."""
    x0, y0, x1, y1 = _corners(coords, where)
    text = _label(label, where)
    rgb = parse_color(color, where) if color not in (None, "") else None
    return Box(x0, y0, x1, y1, text, rgb, _frame(frame, where))


def parse_box(text: str, *, label: str | None = None, color: str | None = None,
              frame: int | None = None) -> Box:
    """``"X0,Y0,X1,Y1"`` (the ``--box`` syntax) -> :class:`Box`."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4 or not all(parts):
        raise BoxError(f"--box {text!r}: expected X0,Y0,X1,Y1 (four pixel numbers)")
    return make_box(parts, label=label, color=color, frame=frame, where=f"--box {text}")
