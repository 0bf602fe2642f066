"""Deterministic test images of every kind `convert` accepts.

``make_images(folder)`` writes them and returns ``{name: expected array}``:
the expected array is what the DICOM output must hold, computed
independently of dicom_rewrite (Pillow's own decode plus the documented
decisions: palette -> RGB, 1-bit -> 0/255, opaque alpha dropped).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

RNG_SEED = 1234
H, W = 48, 64


def _gradient8() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return ((x * 4 + y * 2) % 256).astype(np.uint8)


def _rgb8() -> np.ndarray:
    rng = np.random.default_rng(RNG_SEED)
    a = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    a[:8, :, 0] = 255  # a red band: colour must stay colour
    return a


def make_images(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, np.ndarray] = {}
    g8 = _gradient8()
    Image.fromarray(g8).save(folder / "gray8.png")
    out["gray8.png"] = g8

    g16 = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 21 % 65536).astype(np.uint16)
    Image.fromarray(g16).save(folder / "gray16.png")
    out["gray16.png"] = g16

    rgb = _rgb8()
    Image.fromarray(rgb).save(folder / "rgb.png")
    out["rgb.png"] = rgb

    rgba = np.dstack([rgb, np.full((H, W), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba_opaque.png")
    out["rgba_opaque.png"] = rgb

    la = np.dstack([g8, np.full((H, W), 255, np.uint8)])
    Image.fromarray(la, "LA").save(folder / "gray_alpha.png")
    out["gray_alpha.png"] = g8

    pal = Image.fromarray(rgb).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    pal.save(folder / "palette.png")
    out["palette.png"] = np.asarray(pal.convert("RGB"))

    bw = (g8 > 127)
    Image.fromarray(bw).convert("1").save(folder / "bilevel.png")
    out["bilevel.png"] = np.where(bw, 255, 0).astype(np.uint8)

    Image.fromarray(g8).save(folder / "gray.jpg", quality=90)
    with Image.open(folder / "gray.jpg") as im:
        out["gray.jpg"] = np.asarray(im)
    Image.fromarray(rgb).save(folder / "rgb.jpg", quality=90)
    with Image.open(folder / "rgb.jpg") as im:
        out["rgb.jpg"] = np.asarray(im.convert("RGB"))
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    with Image.open(folder / "cmyk.jpg") as im:
        out["cmyk.jpg"] = np.asarray(im.convert("RGB"))

    Image.fromarray(g16).save(folder / "gray16.tif")
    out["gray16.tif"] = g16
    Image.fromarray(rgb).save(folder / "rgb.bmp")
    out["rgb.bmp"] = rgb
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(folder / "anim.gif")
    with Image.open(folder / "anim.gif") as im:
        out["anim.gif"] = np.asarray(im.convert("RGB"))
    return out


def jpeg_with_orientation(path: Path, arr: np.ndarray, orientation: int) -> None:
    """Save ``arr`` as JPEG with an EXIF Orientation tag."""
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, quality=95, exif=exif.tobytes())


def multipage_tiff(path: Path, pages: list[np.ndarray]) -> None:
    imgs = [Image.fromarray(p) for p in pages]
    imgs[0].save(path, save_all=True, append_images=imgs[1:])


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
