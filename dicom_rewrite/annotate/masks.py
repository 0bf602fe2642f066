"""Label maps from segmentation models -> :class:`~.shapes.Mask` shapes per input.

``--masks`` names one of:

* a label-map **volume** (``.npy``, ``.npz``, ``.nii``, ``.nii.gz``) aligned
  with the source series as ``series`` writes one (docs/series.md): axes
  (slice, row, column), slice ``k`` the ``k``-th source image in increasing
  position along the slice normal (row x column direction of Image
  Orientation (Patient)); sources without a position in Instance Number order;
* a **PNG** label map (8 or 16 bits, gray or palette indices) for the one input;
* a **folder** of PNGs named after the inputs (``<input stem>.png``).

Every value above 0 is a segment: its label is ``labels[value]`` (else
``segment <value>``) and its colour palette colour ``value - 1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.annotate.shapes import PALETTE, BoxError, Mask, Shape
from dicom_rewrite.errors import DicomRewriteError, one_line
from dicom_rewrite.io.volumes import VOLUME_SUFFIXES, open_volume

__all__ = ["load_masks", "parse_mask_labels", "segments"]


def parse_mask_labels(text: str | None) -> dict[int, str]:
    """``"1=liver,2=lesion"`` (``--mask-labels``) -> ``{1: "liver", 2: "lesion"}``."""
    out: dict[int, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        value, sep, label = part.partition("=")
        try:
            v = int(value)
        except ValueError:
            v = 0
        if not sep or v < 1 or not label.strip():
            raise BoxError(f"--mask-labels {text!r}: expected VALUE=LABEL,... with values from 1 "
                           f"(e.g. 1=liver,2=lesion), got {part!r}")
        out[v] = label.strip()
    return out


def segments(label_map: np.ndarray, labels: Mapping[int, str], frame: int | None = None) -> list[Shape]:
    """One :class:`Mask` per value above 0 of a 2-D label map."""
    lm = np.asarray(label_map)
    if lm.dtype.kind == "f":
        lm = np.rint(lm).astype(np.int64)
    out: list[Shape] = []
    for v in (int(x) for x in np.unique(lm) if x > 0):
        m = Mask.from_pixels(lm == v, label=labels.get(v, f"segment {v}"),
                             color=PALETTE[(v - 1) % len(PALETTE)], frame=frame)
        if m is not None:
            out.append(m)
    return out


def _is_volume(p: Path) -> bool:
    return p.name.lower().endswith(tuple(VOLUME_SUFFIXES))


def _png(p: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(p) as img:
            if img.mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L"):
                raise BoxError(f"{p}: a label map must be one channel (gray or palette), not {img.mode}")
            return np.asarray(img).astype(np.int64)
    except (OSError, ValueError) as exc:
        raise BoxError(f"{p}: not a readable label map ({one_line(exc)})") from None


def _position(h: Dataset) -> float | None:
    """The slice's position along its normal (PS3.3 C.7.6.2.1.1), None without geometry."""
    try:
        o = np.array([float(v) for v in h.ImageOrientationPatient], dtype=float)
        pos = np.array([float(v) for v in h.ImagePositionPatient], dtype=float)
    except (AttributeError, TypeError, ValueError):
        return None
    if o.size != 6 or pos.size != 3:
        return None
    return float(np.dot(pos, np.cross(o[:3], o[3:])))


def _slice_order(headers: Sequence[tuple[int, Dataset]], where: str) -> list[int]:
    """The inputs (by index) in volume slice order."""
    series = {str(h.get("SeriesInstanceUID", "")) for _i, h in headers}
    if len(series) > 1:
        raise BoxError(f"{where}: a label-map volume aligns with one series, but the inputs hold "
                       f"{len(series)}; annotate one series at a time")
    positions = [_position(h) for _i, h in headers]
    if all(p is not None for p in positions):
        keyed = sorted(zip(positions, (i for i, _h in headers)))
        return [i for _p, i in keyed]
    return [i for _n, i in sorted((int(h.get("InstanceNumber", 0) or 0), i) for i, h in headers)]


def _from_volume(p: Path, headers: Sequence[tuple[int, Dataset]],
                 labels: Mapping[int, str]) -> dict[int, list[Shape]]:
    try:
        vol = open_volume(p)
    except DicomRewriteError as exc:
        raise BoxError(one_line(exc)) from None
    order = _slice_order(headers, str(p))
    if vol.shape[0] != len(order):
        raise BoxError(f"{p}: {vol.shape[0]} slice(s), but the source series has {len(order)} image(s)")
    by_index = dict(headers)
    out: dict[int, list[Shape]] = {}
    for k, i in enumerate(order):
        h = by_index[i]
        if vol.shape[1:] != (int(h.Rows), int(h.Columns)):
            raise BoxError(f"{p}: slices are {vol.shape[2]} x {vol.shape[1]}, the images "
                           f"{int(h.Columns)} x {int(h.Rows)}")
        try:
            found = segments(vol.slice(k), labels)
        except DicomRewriteError as exc:
            raise BoxError(one_line(exc)) from None
        if found:
            out[i] = found
    vol.release()
    return out


def load_masks(path: str | Path, headers: Sequence[tuple[int, Dataset, str]],
               labels: Mapping[int, str] | None = None) -> dict[int, list[Shape]]:
    """The mask shapes of each input (by index) from ``path``: ``headers``
    are ``(index, header, stem)`` of the readable inputs."""
    p = Path(path)
    names = dict(labels or {})
    if not p.exists():
        raise BoxError(f"{p}: masks not found")
    if p.is_dir():
        out: dict[int, list[Shape]] = {}
        for i, _h, stem in headers:
            png = p / f"{stem}.png"
            if png.is_file() and (found := segments(_png(png), names)):
                out[i] = found
        if not out:
            raise BoxError(f"{p}: no <input stem>.png label map with a segment for any input")
        return out
    if _is_volume(p):
        return _from_volume(p, [(i, h) for i, h, _s in headers], names)
    if len(headers) != 1:
        raise BoxError(f"{p}: one PNG label map for {len(headers)} inputs (give a folder of "
                       "<input stem>.png, or a label-map volume)")
    found = segments(_png(p), names)
    return {headers[0][0]: found} if found else {}
