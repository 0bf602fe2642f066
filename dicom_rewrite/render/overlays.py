"""Overlay planes (60xx,3000) burned into a rendered frame (PS3.3 C.9.2)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset


def burn_overlays(ds: Dataset, out: np.ndarray, frame: int, info: dict[str, Any]) -> np.ndarray:
    """Burn in the (60xx,3000) overlay planes of ``frame`` as white (PS3.3 C.9.2)."""
    groups = sorted({elem.tag.group for elem in ds
                     if 0x6000 <= elem.tag.group <= 0x601E and elem.tag.element == 0x3000})
    if not groups:
        return out
    out = out.copy()
    burned = []
    for group in groups:
        mask = _overlay_mask(ds, group, frame, out.shape[:2])
        if mask is None:
            continue
        out[mask] = 255
        burned.append(f"{group:04X}")
    info["overlays"] = tuple(burned)
    return out


def _overlay_mask(ds: Dataset, group: int, frame: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """The pixels of overlay ``group`` on ``frame`` (None: none there, or unreadable)."""
    try:
        plane = ds.overlay_array(group)
    except Exception:  # a broken overlay plane is not burned; the image still renders
        return None
    if plane.ndim == 3:
        # (60xx,0051) Image Frame Origin: 1-based frame of the first overlay frame
        origin_elem = ds.get((group, 0x0051))
        first = int(origin_elem.value or 1) if origin_elem is not None else 1
        index = frame - (first - 1)
        if not 0 <= index < plane.shape[0]:
            return None
        plane = plane[index]
    origin = ds.get((group, 0x0050))
    r0, c0 = (int(origin.value[0]) - 1, int(origin.value[1]) - 1) if origin is not None else (0, 0)
    rows, cols = shape[0], shape[1]
    mask = np.zeros((rows, cols), dtype=bool)
    src = plane.astype(bool)
    rs, cs = max(r0, 0), max(c0, 0)
    re, ce = min(r0 + src.shape[0], rows), min(c0 + src.shape[1], cols)
    if rs < re and cs < ce:
        mask[rs:re, cs:ce] = src[rs - r0 : re - r0, cs - c0 : ce - c0]
    return mask
