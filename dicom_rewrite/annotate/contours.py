"""Pixel geometry of the shapes, in numpy: polygons rasterised, masks
eroded (the outline drawn inward) and traced (their contours as closed
polylines along the pixel edges).

Coordinates are PIXEL units as a presentation state and an SR SCOORD use
them (PS3.3 C.10.5.1.2, C.18.6.1.1): the top left corner of the top left
pixel is 0,0, so pixel (column c, row r) is the square ``[c, c+1] x [r, r+1]``
and its centre is ``(c + 0.5, r + 0.5)``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

__all__ = ["erode", "inner_outline", "polygon_mask", "trace_contours"]


def erode(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` eroded ``steps`` times by the 3x3 square (outside the image is background)."""
    m = np.asarray(mask, dtype=bool)
    for _ in range(steps):
        if not m.any():
            break
        p = np.pad(m, 1)
        m = (p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
             & p[:-2, :-2] & p[:-2, 2:] & p[2:, :-2] & p[2:, 2:])
    return np.asarray(m, dtype=bool)


def inner_outline(mask: np.ndarray, thickness: int) -> np.ndarray:
    """The pixels of ``mask`` within ``thickness`` pixels of its edge (the
    outline drawn from the edge inward, as a box's is)."""
    m = np.asarray(mask, dtype=bool)
    out: np.ndarray = m & ~erode(m, thickness)
    return out


def polygon_mask(points: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The pixels a closed polygon covers: every pixel whose centre is
    inside (even-odd rule); a polygon thinner than a pixel covers the pixels
    of its corners, so that it still shows. The polygon of a box's pixels
    covers exactly those pixels."""
    pts = np.asarray(points, dtype=float)
    out = np.zeros((rows, cols), dtype=bool)
    if len(pts) == 0:
        return out
    x0 = max(int(np.floor(pts[:, 0].min())), 0)
    x1 = min(int(np.ceil(pts[:, 0].max())), cols)
    y0 = max(int(np.floor(pts[:, 1].min())), 0)
    y1 = min(int(np.ceil(pts[:, 1].max())), rows)
    if x1 <= x0 or y1 <= y0:
        return out
    cx = np.arange(x0, x1) + 0.5
    cy = (np.arange(y0, y1) + 0.5)[:, None]
    inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    ring = np.vstack([pts, pts[:1]])
    for (ax, ay), (bx, by) in zip(ring[:-1], ring[1:]):
        if ay == by:
            continue
        crosses = (ay > cy) != (by > cy)  # (rows, 1)
        x_at = ax + (cy - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (cx < x_at)
    out[y0:y1, x0:x1] = inside
    if not inside.any():  # thinner than a pixel: the pixels of its corners
        xs = np.clip(np.floor(pts[:, 0]).astype(int), 0, cols - 1)
        ys = np.clip(np.floor(pts[:, 1]).astype(int), 0, rows - 1)
        out[ys, xs] = True
    return out


def trace_contours(mask: np.ndarray) -> list[np.ndarray]:
    """The boundary of ``mask`` as closed polylines along pixel edges
    (``(n, 2)`` column, row points, first = last), outer contours clockwise
    on screen and holes counter-clockwise; collinear points dropped."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    core = m[1:-1, 1:-1]
    nxt: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    # an edge between a pixel of the mask and one outside, foreground on its right
    r, c = np.nonzero(core & ~m[:-2, 1:-1])  # top edges: left -> right
    for y, x in zip(r.tolist(), c.tolist()):
        nxt[(x, y)].append((x + 1, y))
    r, c = np.nonzero(core & ~m[1:-1, 2:])  # right edges: down
    for y, x in zip(r.tolist(), c.tolist()):
        nxt[(x + 1, y)].append((x + 1, y + 1))
    r, c = np.nonzero(core & ~m[2:, 1:-1])  # bottom edges: right -> left
    for y, x in zip(r.tolist(), c.tolist()):
        nxt[(x + 1, y + 1)].append((x, y + 1))
    r, c = np.nonzero(core & ~m[1:-1, :-2])  # left edges: up
    for y, x in zip(r.tolist(), c.tolist()):
        nxt[(x, y + 1)].append((x, y))
    loops = []
    for start in sorted(nxt):
        while nxt.get(start):
            loops.append(_simplify(_walk(nxt, start)))
    return [np.array(loop, dtype=float) for loop in loops]


def _walk(nxt: dict[tuple[int, int], list[tuple[int, int]]], start: tuple[int, int]) -> list[tuple[int, int]]:
    loop = [start]
    here = start
    while True:
        here = nxt[here].pop()
        loop.append(here)
        if here == start:
            return loop


def _simplify(loop: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop the points where the contour goes straight on (first = last kept)."""
    pts = loop[:-1]
    n = len(pts)
    kept = [p for i, p in enumerate(pts)
            if (pts[i - 1][0] - p[0]) * (pts[(i + 1) % n][1] - p[1])
            != (pts[i - 1][1] - p[1]) * (pts[(i + 1) % n][0] - p[0])]
    kept = kept or pts[:1]
    return [*kept, kept[0]]
