#!/usr/bin/env python3
"""Create the small synthetic sample images in ``sample_data/``.

Usage::

    python sample_data/make_samples.py [OUTPUT_DIR]

* ``gray8.png``     256x256, 8-bit grayscale (mode ``L``): gradient + shapes
* ``gray16.png``    256x256, 16-bit grayscale (mode ``I;16``), values 0..4000
* ``photo_rgb.jpg`` 320x240, RGB JPEG (quality 85, 4:2:0): a synthetic landscape
* ``volume.npy``    12x64x64 int16 (slice, row, column): a sphere phantom in
                    CT-like values (-1000 air, 40 tissue, 700 bone shell), for
                    ``dicom-rewrite series``
* ``volume_labels.npy`` 12x64x64 uint8: a segmentation model's label map of
                    ``volume.npy`` (1 the bone shell, 2 the inside), for
                    ``dicom-rewrite annotate --masks``
* ``ct_labels.png`` 128x128 8-bit label map for ``templates/ct.dcm`` (two
                    segments, values 1 and 2), for ``annotate --masks``

The JSON shape files beside them (``predictions.json``, a COCO prediction
list; ``coco.json``, a COCO data set; ``polygons.json``, our polygon file)
are written by hand: they are the ``annotate`` examples of the README and
docs/annotate.md, for ``templates/ct.dcm``.

Everything is computed with integer numpy arithmetic (no random numbers), and
Pillow writes no timestamps into PNG/JPEG, so re-running gives identical files
for a given Pillow/libjpeg build.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w]
    return y.astype(np.int64), x.astype(np.int64)


def _disk(y, x, cy, cx, r) -> np.ndarray:
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r


def make_gray8() -> Image.Image:
    h = w = 256
    y, x = _grid(h, w)
    img = (x + y) * 255 // (h + w - 2)  # diagonal gradient 0..255
    img[_disk(y, x, 80, 80, 40)] = 255  # white disk
    img[_disk(y, x, 80, 80, 20)] = 0  # with a black hole
    img[150:220, 140:230] = 40  # dark rectangle
    img[170:200, 160:210] = 200  # bright inset
    tri = (y >= 150) & (y < 240) & (np.abs(x - 60) <= (y - 150) // 2)
    img[tri] = 128  # mid-grey triangle
    img[::32, :] = 90  # grid lines
    img[:, ::32] = 90
    return Image.fromarray(img.astype(np.uint8))


def make_gray16() -> Image.Image:
    h = w = 256
    y, x = _grid(h, w)
    img = x * 4000 // (w - 1)  # horizontal ramp 0..4000 (uses 12 bits)
    img = img - (img * y) // (2 * (h - 1))  # darken towards the bottom
    img[_disk(y, x, 128, 128, 60)] = 3000
    img[_disk(y, x, 128, 128, 30)] = 4000
    img[_disk(y, x, 128, 128, 10)] = 300
    img[20:40, 20:236] = 1000 + (x[20:40, 20:236] - 20) * 12  # step wedge 1000..3580
    img[20:40, 20:236] -= img[20:40, 20:236] % 256
    img = np.clip(img, 0, 4000).astype(np.uint16)
    return Image.fromarray(img)  # uint16 -> mode "I;16"


def make_photo_rgb() -> Image.Image:
    h, w = 240, 320
    y, x = _grid(h, w)
    rgb = np.zeros((h, w, 3), dtype=np.int64)
    horizon = 150
    sky = y < horizon
    # sky: blue gradient towards a pale horizon
    rgb[..., 0] = np.where(sky, 90 + y * 120 // horizon, 0)
    rgb[..., 1] = np.where(sky, 150 + y * 80 // horizon, 0)
    rgb[..., 2] = np.where(sky, 235 + y * 15 // horizon, 0)
    # sun with a warm halo
    d2 = (y - 55) ** 2 + (x - 250) ** 2
    halo = sky & (d2 <= 45 * 45)
    rgb[halo] = (rgb[halo] + np.array([255, 210, 120])) // 2
    rgb[d2 <= 22 * 22] = [255, 236, 90]
    # meadow with stripes of colour
    ground = ~sky
    rgb[..., 0] = np.where(ground, 40 + ((x // 7 + y // 3) % 5) * 8 + (y - horizon), rgb[..., 0])
    rgb[..., 1] = np.where(ground, 150 - (y - horizon) // 2 + ((x * 3 + y) % 11) * 3, rgb[..., 1])
    rgb[..., 2] = np.where(ground, 40 + ((x + 2 * y) % 7) * 4, rgb[..., 2])
    # hills
    hill = (y < horizon) & (y > horizon - 35 + ((x - 110) ** 2) // 300)
    rgb[hill] = [70, 120, 60]
    # a red house with a brown roof and a yellow window
    rgb[115:160, 40:100] = [200, 40, 35]
    roof = (y >= 85) & (y < 115) & (np.abs(x - 70) <= (y - 85) * 35 // 30)
    rgb[roof] = [110, 60, 30]
    rgb[125:140, 55:70] = [250, 220, 80]
    rgb[135:160, 78:92] = [80, 45, 25]
    # flowers: magenta and orange dots
    for i in range(24):
        cy = 175 + (i * 37) % 60
        cx = 10 + (i * 53) % 300
        rgb[_disk(y, x, cy, cx, 4)] = [230, 40, 200] if i % 2 else [255, 150, 20]
    # a blue balloon on a string
    rgb[_disk(y, x, 60, 160, 16)] = [30, 70, 220]
    rgb[76:110, 160] = [60, 60, 60]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def make_volume() -> np.ndarray:
    z, y, x = np.mgrid[0:12, 0:64, 0:64].astype(np.int64)
    r2 = (4 * (z - 6)) ** 2 + (y - 32) ** 2 + (x - 32) ** 2
    vol = np.full((12, 64, 64), -1000, dtype=np.int64)
    vol[r2 <= 26 * 26] = 700
    vol[r2 <= 22 * 22] = 40 + (x[r2 <= 22 * 22] - 32)
    return vol.astype("<i2")


def make_volume_labels() -> np.ndarray:
    z, y, x = np.mgrid[0:12, 0:64, 0:64].astype(np.int64)
    r2 = (4 * (z - 6)) ** 2 + (y - 32) ** 2 + (x - 32) ** 2
    labels = np.zeros((12, 64, 64), dtype=np.uint8)
    labels[r2 <= 26 * 26] = 1
    labels[r2 <= 22 * 22] = 2
    return labels


def make_ct_labels() -> Image.Image:
    y, x = _grid(128, 128)
    labels = np.zeros((128, 128), dtype=np.uint8)
    labels[_disk(y, x, 50, 45, 12)] = 1
    labels[(y >= 80) & (y < 100) & (x >= 70) & (x < 105)] = 2
    return Image.fromarray(labels)


def build_all(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    out = []
    p = outdir / "gray8.png"
    make_gray8().save(p, format="PNG", optimize=True)
    out.append(p)
    p = outdir / "gray16.png"
    make_gray16().save(p, format="PNG", optimize=True)
    out.append(p)
    p = outdir / "photo_rgb.jpg"
    make_photo_rgb().save(p, format="JPEG", quality=85, subsampling="4:2:0", optimize=False)
    out.append(p)
    p = outdir / "volume.npy"
    np.save(p, make_volume())
    out.append(p)
    p = outdir / "volume_labels.npy"
    np.save(p, make_volume_labels())
    out.append(p)
    p = outdir / "ct_labels.png"
    make_ct_labels().save(p, format="PNG", optimize=True)
    out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    outdir = Path(argv[0]) if argv else Path(__file__).resolve().parent
    for p in build_all(outdir):
        print(p, p.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
