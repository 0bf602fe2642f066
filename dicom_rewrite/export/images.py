"""Exported images as files: PNG (8- or 16-bit) and JPEG, written as one
part through the batch's sink (the file is the sink's temporary file)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

__all__ = ["FORMATS", "image_writer"]

#: Output formats and their file extensions.
FORMATS = {"png": ".png", "png16": ".png", "jpeg": ".jpg"}


def image_writer(arr: np.ndarray, fmt: str, jpeg_quality: int,
                 text: dict[str, str] | None = None) -> tuple[Image.Image, Callable[[Any, BinaryIO], None]]:
    """The image of ``arr`` and how to save it into an open file
    (``FolderSink.put(target, [image], dump=...)``)."""
    if fmt == "png16":
        from PIL.PngImagePlugin import PngInfo

        image = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint16))
        info = PngInfo()
        for key, value in (text or {}).items():
            info.add_text(key, value)
        return image, lambda img, f: img.save(f, format="PNG", pnginfo=info)
    image = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
    if fmt == "png":
        return image, lambda img, f: img.save(f, format="PNG")
    # subsampling=0: 4:4:4, no chroma loss on colour images
    return image, lambda img, f: img.save(f, format="JPEG", quality=jpeg_quality, subsampling=0)
