"""The gray background an annotation is drawn on: what a viewer shows.

Modality LUT, then a LINEAR window (PS3.3 C.11.2.1.2.1): the one asked for
(``C,W`` or a preset), else the file's first window, else the frame's
min-max; MONOCHROME1 (or Presentation LUT Shape INVERSE) is inverted. All of
it is :func:`dicom_rewrite.render.windowing.render_with_info`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.io.dicom_in import decode_frame
from dicom_rewrite.render.windowing import parse_window, render_with_info

__all__ = ["WindowUsed", "render_background", "resolve_window"]


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
