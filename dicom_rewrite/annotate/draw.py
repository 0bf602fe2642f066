"""Drawing: fills, labels, outlines and the legend burned into an RGB copy
of the background.

The only place (with :mod:`dicom_rewrite.io.images`) that uses Pillow: the
bundled DejaVu Sans font (``fonts/``, its licence beside it) rendered by
FreeType, text measurement and rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dicom_rewrite.annotate.shapes import RGB, Shape

if TYPE_CHECKING:
    from dicom_rewrite.annotate.layout import PlacedBox

__all__ = [
    "FILL_ALPHA",
    "FONT_FILE",
    "MIN_FONT_SIZE",
    "Legend",
    "default_font_size",
    "draw_boxes",
    "draw_shapes",
    "label_pad",
    "outline_mask",
    "text_size",
]

#: the bundled font (DejaVu Sans, Bitstream Vera licence: fonts/LICENSE-DejaVu.txt)
FONT_FILE = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"
#: the smallest default label font (pixels): smaller is not legible
MIN_FONT_SIZE = 10
#: the default label font: this fraction of the image height
FONT_FRACTION = 0.02
#: opacity of the fill of polygons and masks
FILL_ALPHA = 0.35
#: the legend's background (dark, so that its white text and colour swatches stand out)
LEGEND_BACKGROUND: RGB = (0, 0, 0)


def default_font_size(rows: int) -> int:
    """About 2% of the image height, at least :data:`MIN_FONT_SIZE` pixels."""
    return max(MIN_FONT_SIZE, round(rows * FONT_FRACTION))


@lru_cache(maxsize=16)
def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT_FILE), size)


def label_pad(size: int) -> int:
    """Padding (pixels) between a label's rectangle and its text."""
    return max(1, size // 6)


def text_size(text: str, size: int = MIN_FONT_SIZE) -> tuple[int, int, int, int]:
    """(width, height, left offset, top offset) of ``text`` at ``size``:
    the ink's width, and the font's line height (ascent + descent), so that
    every label of a size has the same height."""
    font = _font(size)
    left, _top, right, _bottom = font.getbbox(text)
    ascent, descent = font.getmetrics()
    return max(right - left, 1), ascent + descent, left, 0


def outline_mask(box: Shape, rows: int, cols: int, thickness: int) -> np.ndarray:
    """Boolean (rows, cols) mask of the outline: the shape's edge inward ``thickness`` pixels."""
    return box.outline_mask(rows, cols, thickness)


def _text_color(rgb: RGB) -> RGB:
    # ITU-R BT.601 luma: dark text on light boxes, white on dark ones
    return (0, 0, 0) if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] >= 128 else (255, 255, 255)


@lru_cache(maxsize=256)
def _label_pixels(text: str, color: RGB, w: int, h: int, size: int) -> np.ndarray:
    """The label's rectangle (read-only: cached, the same label on every slice)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), color)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"  # no anti-aliasing: two colours only, crisp at any zoom
    _w, _h, left, top = text_size(text, size)
    pad = label_pad(size)
    draw.text((pad - left, pad - top), text, font=_font(size), fill=_text_color(color))
    out = np.asarray(img, dtype=np.uint8)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True)
class Legend:
    """The legend of the segments' labels: a dark rectangle with one line
    (colour swatch, label) per entry."""

    rect: tuple[int, int, int, int]  # inclusive x0, y0, x1, y1
    entries: tuple[tuple[RGB, str], ...]
    size: int


def _legend_pixels(legend: Legend) -> np.ndarray:
    from PIL import Image, ImageDraw

    x0, y0, x1, y1 = legend.rect
    img = Image.new("RGB", (x1 - x0 + 1, y1 - y0 + 1), LEGEND_BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"
    pad = label_pad(legend.size)
    _w, line, _l, _t = text_size("Ag", legend.size)
    swatch = max(line - 2 * pad, 2)
    for i, (color, text) in enumerate(legend.entries):
        y = pad + i * line
        draw.rectangle((pad, y + pad, pad + swatch - 1, y + pad + swatch - 1), fill=color)
        draw.text((2 * pad + swatch + pad, y), text, font=_font(legend.size), fill=(255, 255, 255))
    return np.asarray(img, dtype=np.uint8)


def draw_shapes(background: np.ndarray, placed: Sequence[PlacedBox], thickness: int, *,
                font_size: int = MIN_FONT_SIZE, legend: Legend | None = None) -> np.ndarray:
    """Gray (rows, cols) or RGB (rows, cols, 3) uint8 -> RGB with fills,
    labels, outlines and the legend.

    Fills first (translucent), then labels, the legend, and outlines last,
    so every outline pixel has exactly its shape's colour."""
    bg = np.asarray(background, dtype=np.uint8)
    if bg.ndim == 2:
        rgb = np.empty((*bg.shape, 3), dtype=np.uint8)
        for c in range(3):  # a plane at a time: faster than broadcasting or np.repeat
            rgb[..., c] = bg
    else:
        rgb = bg[..., :3].copy()
    rows, cols = rgb.shape[:2]
    for p in placed:
        fill = p.box.fill_mask(rows, cols)
        if fill is not None and fill.any():
            blend = rgb[fill].astype(np.float32) * (1 - FILL_ALPHA) + np.float32(FILL_ALPHA) * np.array(p.color)
            rgb[fill] = np.rint(blend).astype(np.uint8)
    for p in placed:
        if p.label_rect is None or not p.label_text:
            continue
        x0, y0, x1, y1 = p.label_rect
        rgb[y0 : y1 + 1, x0 : x1 + 1] = _label_pixels(p.label_text, p.color, x1 - x0 + 1, y1 - y0 + 1,
                                                      font_size)
    if legend is not None:
        x0, y0, x1, y1 = legend.rect
        rgb[y0 : y1 + 1, x0 : x1 + 1] = _legend_pixels(legend)
    for p in placed:
        x0, y0, x1, y1 = p.box.corners  # the outline is inside the bounding box
        mask = p.box.outline_mask(rows, cols, thickness)[y0:y1 + 1, x0:x1 + 1]
        rgb[y0:y1 + 1, x0:x1 + 1][mask] = p.color
    return np.ascontiguousarray(rgb)


def draw_boxes(background: np.ndarray, placed: Sequence[PlacedBox], thickness: int,
               font_size: int = MIN_FONT_SIZE) -> np.ndarray:
    """:func:`draw_shapes` without a legend."""
    return draw_shapes(background, placed, thickness, font_size=font_size)
