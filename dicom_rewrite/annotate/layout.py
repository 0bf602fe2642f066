"""Layout: boxes checked against one image, and where their labels go.

A label goes in a filled rectangle beside its box, never on an outline:
above, below, inside (clear of the outline), right or left, preferring a
place that covers no other box's outline; a label too long for any place is
shortened with ``...``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dicom_rewrite.annotate.draw import LABEL_PAD, text_size
from dicom_rewrite.annotate.shapes import (
    DEFAULT_COLOR,
    DEFAULT_THICKNESS,
    RGB,
    Box,
    BoxError,
    check_thickness,
)

log = logging.getLogger("dicom_rewrite.annotate")

__all__ = ["PlacedBox", "place_boxes"]

Rect = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class PlacedBox:
    """A box checked against one image, with its colour and label rectangle.

    ``label_rect`` is inclusive ``(x0, y0, x1, y1)``, always inside the image
    and never on the box's outline; ``label_text`` is what is drawn (a long
    label is shortened with ``...`` to fit)."""

    box: Box
    color: RGB
    label_rect: Rect | None = None
    label_text: str | None = None
    clipped: bool = False


def place_boxes(boxes: Iterable[Box], rows: int, cols: int, *, color: RGB = DEFAULT_COLOR,
                thickness: int = DEFAULT_THICKNESS, clip: bool = False,
                where: str = "") -> list[PlacedBox]:
    """Check ``boxes`` against a ``cols`` x ``rows`` image and lay out the labels.

    A box reaching outside the image is a :class:`BoxError` unless ``clip``
    (then it is clipped; a box entirely outside is dropped)."""
    check_thickness(thickness)
    prefix = f"{where}: " if where else ""
    kept = [k for b in boxes if (k := _fit(b, rows, cols, clip, prefix)) is not None]
    all_boxes = [b for b, _c in kept]
    placed = []
    for i, (b, clipped) in enumerate(kept):
        rect, text = None, None
        if b.label:
            others = all_boxes[:i] + all_boxes[i + 1:]
            rect, text = _place_label(b, rows, cols, thickness, others)
        placed.append(PlacedBox(b, b.color or color, rect, text, clipped))
    return placed


def _fit(b: Box, rows: int, cols: int, clip: bool, prefix: str) -> tuple[Box, bool] | None:
    """``(box, clipped)`` inside the image; None for a box clipped away."""
    if b.x0 >= 0 and b.y0 >= 0 and b.x1 < cols and b.y1 < rows:
        return b, False
    if not clip:
        raise BoxError(
            f"{prefix}box [{b.x0}, {b.y0}, {b.x1}, {b.y1}] reaches outside the image "
            f"(columns 0..{cols - 1}, rows 0..{rows - 1}); use --clip to clip it"
        )
    if b.x1 < 0 or b.y1 < 0 or b.x0 >= cols or b.y0 >= rows:
        log.info("%sbox %s lies entirely outside the image: dropped", prefix, b.corners)
        return None
    return dataclasses.replace(
        b, x0=max(b.x0, 0), y0=max(b.y0, 0), x1=min(b.x1, cols - 1), y1=min(b.y1, rows - 1)
    ), True


def _place_label(box: Box, rows: int, cols: int, t: int,
                 others: Sequence[Box]) -> tuple[Rect | None, str | None]:
    label = box.label or ""
    for n in range(len(label), 0, -1):
        text = label if n == len(label) else label[:n].rstrip() + "..."
        w, h, _l, _t = text_size(text)
        rect = _label_rect(box, w + 2 * LABEL_PAD, h + 2 * LABEL_PAD, rows, cols, t, others)
        if rect is not None:
            return rect, text
    return None, None


def _label_rect(box: Box, w: int, h: int, rows: int, cols: int, t: int,
                others: Sequence[Box]) -> Rect | None:
    """Where a ``w`` x ``h`` label goes: above, below, inside, right, left."""
    rects = [(x, y, x + w - 1, y + h - 1) for x, y in _candidates(box.corners, w, h, rows, cols, t)]
    # prefer a place that covers no other box's outline
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
    if x0 + t + w - 1 <= x1 - t and y0 + t + h - 1 <= y1 - t:
        candidates.append((x0 + t, y0 + t))  # inside, clear of the outline
    if h <= rows:
        if x1 + 1 + w <= cols:
            candidates.append((x1 + 1, fit_y))  # right
        if x0 - w >= 0:
            candidates.append((x0 - w, fit_y))  # left
    return candidates


def _touches_outline(rect: Rect, box: Box, t: int) -> bool:
    rx0, ry0, rx1, ry1 = rect
    x0, y0, x1, y1 = box.corners
    if rx1 < x0 or rx0 > x1 or ry1 < y0 or ry0 > y1:
        return False  # outside the box
    ix0, iy0, ix1, iy1 = x0 + t, y0 + t, x1 - t, y1 - t
    return not (ix0 <= rx0 and rx1 <= ix1 and iy0 <= ry0 and ry1 <= iy1)
