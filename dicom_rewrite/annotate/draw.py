"""Drawing: labels and outlines burned into an RGB copy of the background.

The only place (with :mod:`dicom_rewrite.io.images`) that uses Pillow: the
default bitmap font, text measurement and two-colour text rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dicom_rewrite.annotate.shapes import RGB, Shape

if TYPE_CHECKING:
    from dicom_rewrite.annotate.layout import PlacedBox

__all__ = ["LABEL_PAD", "draw_boxes", "outline_mask", "text_size"]

#: padding (pixels) between a label's rectangle and its text
LABEL_PAD = 1


def _font() -> Any:
    from PIL import ImageFont

    return ImageFont.load_default()


def text_size(text: str) -> tuple[int, int, int, int]:
    """(width, height, left offset, top offset) of the ink of ``text``."""
    left, top, right, bottom = _font().getbbox(text, mode="1")
    return max(right - left, 1), max(bottom - top, 1), left, top


def outline_mask(box: Shape, rows: int, cols: int, thickness: int) -> np.ndarray:
    """Boolean (rows, cols) mask of the outline: the box edge inward ``thickness`` pixels."""
    return box.outline_mask(rows, cols, thickness)


def _text_color(rgb: RGB) -> RGB:
    # ITU-R BT.601 luma: dark text on light boxes, white on dark ones
    return (0, 0, 0) if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] >= 128 else (255, 255, 255)


def _label_pixels(text: str, color: RGB, w: int, h: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), color)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"  # no anti-aliasing: two colours only, crisp at any zoom
    _w, _h, left, top = text_size(text)
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
        rgb[p.box.outline_mask(rows, cols, thickness)] = p.color
    return np.ascontiguousarray(rgb)
