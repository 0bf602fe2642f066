"""Layout: shapes checked against one image, their label texts, and where
the labels (and the legend of segments) go.

A label goes in a filled rectangle beside its shape, inside the image and
never on an outline: above, below, right or left of the shape's bounding
box, and only when none of these fits inside it (clear of the outline);
a place that covers no other shape and no other label is preferred, then
one that covers no other outline. A label too long for any place is
shortened with ``...``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dicom_rewrite.annotate.draw import Legend, default_font_size, label_pad, text_size
from dicom_rewrite.annotate.shapes import (
    DEFAULT_COLOR,
    DEFAULT_THICKNESS,
    RGB,
    BoxError,
    Shape,
    check_thickness,
)
from dicom_rewrite.errors import UsageError

log = logging.getLogger("dicom_rewrite.annotate")

__all__ = ["DEFAULT_LABEL_FORMAT", "PlacedBox", "check_label_format", "label_text", "place_boxes",
           "place_legend"]

Rect = tuple[int, int, int, int]

#: how a label with a score is shown (``--label-format``); without a score the label alone
DEFAULT_LABEL_FORMAT = "{label} {score:.2f}"


@dataclass(frozen=True, slots=True)
class PlacedBox:
    """A shape checked against one image, with its colour and label rectangle.

    ``label_rect`` is inclusive ``(x0, y0, x1, y1)``, always inside the image
    and never on the shape's outline; ``label_text`` is what is drawn (a long
    label is shortened with ``...`` to fit), ``text`` the full label text."""

    box: Shape
    color: RGB
    label_rect: Rect | None = None
    label_text: str | None = None
    clipped: bool = False
    text: str | None = None


def check_label_format(fmt: str) -> str:
    """``fmt`` if it formats a label and a score (``{label}``, ``{score:.2f}``), else a UsageError."""
    try:
        fmt.format(label="lesion", score=0.5)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UsageError(f"--label-format {fmt!r}: {exc!r} (use {{label}} and {{score}}, "
                         f"e.g. {DEFAULT_LABEL_FORMAT!r})") from None
    return fmt


def label_text(shape: Shape, fmt: str = DEFAULT_LABEL_FORMAT) -> str | None:
    """What a shape's label shows: ``fmt`` with its label and score, or the
    label alone when it has no score."""
    if shape.score is None:
        return shape.label
    return " ".join(fmt.format(label=shape.label or "", score=shape.score).split()) or None


def place_boxes(shapes: Iterable[Shape], rows: int, cols: int, *, color: RGB = DEFAULT_COLOR,
                thickness: int = DEFAULT_THICKNESS, clip: bool = False, where: str = "",
                font_size: int | None = None, label_format: str = DEFAULT_LABEL_FORMAT,
                labels: bool = True) -> list[PlacedBox]:
    """Check ``shapes`` against a ``cols`` x ``rows`` image and lay out the labels.

    A shape reaching outside the image is a :class:`BoxError` unless ``clip``
    (then it is clipped; one entirely outside is dropped). Masks are labelled
    by the legend (:func:`place_legend`), the other shapes beside themselves
    (``labels`` False: none)."""
    check_thickness(thickness)
    size = font_size or default_font_size(rows)
    prefix = f"{where}: " if where else ""
    kept = [k for b in shapes if (k := _fit(b, rows, cols, clip, prefix)) is not None]
    all_shapes = [b for b, _c in kept]
    placed: list[PlacedBox] = []
    taken: list[Rect] = []
    for i, (b, clipped) in enumerate(kept):
        rect, shown = None, None
        text = label_text(b, label_format)
        if text and labels and b.kind != "mask":
            others = all_shapes[:i] + all_shapes[i + 1:]
            rect, shown = _place_label(b, text, rows, cols, thickness, size, others, taken)
            if rect is not None:
                taken.append(rect)
        placed.append(PlacedBox(b, b.color or color, rect, shown, clipped, text))
    return placed


def _fit(b: Shape, rows: int, cols: int, clip: bool, prefix: str) -> tuple[Shape, bool] | None:
    """``(shape, clipped)`` inside the image; None for a shape clipped away."""
    if b.fits(rows, cols):
        return b, False
    if b.kind == "mask":
        raise BoxError(f"{prefix}mask of {b.label or 'a segment'} is not the image's size "
                       f"({cols} x {rows})")
    if not clip:
        raise BoxError(
            f"{prefix}{_describe(b)} reaches outside the image "
            f"(columns 0..{cols - 1}, rows 0..{rows - 1}); use --clip to clip it"
        )
    out = b.clipped(rows, cols)
    if out is None:
        log.info("%s%s lies entirely outside the image: dropped", prefix, _describe(b))
        return None
    return out, True


def _describe(b: Shape) -> str:
    if b.kind == "box":
        x0, y0, x1, y1 = b.corners
        return f"box [{x0}, {y0}, {x1}, {y1}]"
    return f"{b.kind} with bounds {list(b.corners)}"


def _place_label(shape: Shape, label: str, rows: int, cols: int, t: int, size: int,
                 others: Sequence[Shape], taken: Sequence[Rect]) -> tuple[Rect | None, str | None]:
    pad = label_pad(size)
    for n in range(len(label), 0, -1):
        text = label if n == len(label) else label[:n].rstrip() + "..."
        w, h, _l, _t = text_size(text, size)
        rect = _label_rect(shape, w + 2 * pad, h + 2 * pad, rows, cols, t, others, taken)
        if rect is not None:
            return rect, text
    return None, None


def _label_rect(shape: Shape, w: int, h: int, rows: int, cols: int, t: int,
                others: Sequence[Shape], taken: Sequence[Rect]) -> Rect | None:
    """Where a ``w`` x ``h`` label goes: above, below, right, left, inside."""
    rects = [(x, y, x + w - 1, y + h - 1) for x, y in _candidates(shape.corners, w, h, rows, cols, t)]
    # prefer a place clear of every other shape and label, then one on no other outline
    for rect in rects:
        if not any(_overlap(rect, o.corners) for o in others) and not any(_overlap(rect, r) for r in taken):
            return rect
    for rect in rects:
        if not any(_touches_outline(rect, o, t) for o in others):
            return rect
    return rects[0] if rects else None


def _candidates(corners: Rect, w: int, h: int, rows: int, cols: int, t: int) -> list[tuple[int, int]]:
    """Top-left corners of the places a ``w`` x ``h`` label fits, in order of preference."""
    x0, y0, x1, y1 = corners
    fit_x = min(max(x0, 0), cols - w)
    fit_y = min(max(y0, 0), rows - h)
    candidates = []
    if w <= cols:
        if y0 - h >= 0:
            candidates.append((fit_x, y0 - h))  # above
        if y1 + 1 + h <= rows:
            candidates.append((fit_x, y1 + 1))  # below
    if h <= rows:
        if x1 + 1 + w <= cols:
            candidates.append((x1 + 1, fit_y))  # right
        if x0 - w >= 0:
            candidates.append((x0 - w, fit_y))  # left
    if x0 + t + w - 1 <= x1 - t and y0 + t + h - 1 <= y1 - t:
        candidates.append((x0 + t, y0 + t))  # inside, clear of the outline: over the finding, last
    return candidates


def _overlap(a: Rect, b: Rect) -> bool:
    return not (a[2] < b[0] or a[0] > b[2] or a[3] < b[1] or a[1] > b[3])


def _touches_outline(rect: Rect, shape: Shape, t: int) -> bool:
    if not _overlap(rect, shape.corners):
        return False
    if shape.kind != "box":
        return True
    x0, y0, x1, y1 = shape.corners
    rx0, ry0, rx1, ry1 = rect
    ix0, iy0, ix1, iy1 = x0 + t, y0 + t, x1 - t, y1 - t
    return not (ix0 <= rx0 and rx1 <= ix1 and iy0 <= ry0 and ry1 <= iy1)


def place_legend(placed: Sequence[PlacedBox], rows: int, cols: int, *,
                 font_size: int | None = None) -> Legend | None:
    """The legend of the masks' labels (one line per colour and label), in the
    image corner that covers the fewest shape pixels (none when it does not fit)."""
    entries: dict[tuple[RGB, str], None] = {}
    for p in placed:
        if p.box.kind == "mask" and p.text:
            entries.setdefault((p.color, p.text), None)
    if not entries:
        return None
    size = font_size or default_font_size(rows)
    pad = label_pad(size)
    _w, line, _l, _t = text_size("Ag", size)
    swatch = max(line - 2 * pad, 2)
    w = max(text_size(text, size)[0] for _c, text in entries) + swatch + 4 * pad
    h = line * len(entries) + 2 * pad
    if w > cols or h > rows:
        return None
    covered = np.zeros((rows, cols), dtype=bool)
    for p in placed:
        fill = p.box.fill_mask(rows, cols)
        covered |= fill if fill is not None else p.box.outline_mask(rows, cols, 1)
    corners = [(0, 0), (cols - w, 0), (0, rows - h), (cols - w, rows - h)]
    x, y = min(corners, key=lambda c: int(covered[c[1]:c[1] + h, c[0]:c[0] + w].sum()))
    return Legend((x, y, x + w - 1, y + h - 1), tuple(entries), size)
