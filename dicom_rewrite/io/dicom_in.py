"""Reading DICOM for ``export`` and ``annotate``: decoding frames and
expanding DICOMDIR media.

:func:`decode_frame` decodes one frame with pydicom's decoder plugins
(failing with one line naming the plugin when none is installed);
:func:`dicomdir_members` expands a DICOMDIR into the files of its file-set,
as :func:`dicom_rewrite.batch.walk` (``dicomdir=``) expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import MediaStorageDirectoryStorage

from dicom_rewrite.errors import CodecUnavailableError, DicomRewriteError, PixelDataError, one_line

__all__ = [
    "PIXEL_KEYWORDS",
    "check_decoder",
    "decode_frame",
    "dicomdir_members",
    "frame_count",
    "has_pixel_data",
    "is_dicomdir",
    "is_dicomdir_dataset",
]

#: the attributes that hold pixel data (PS3.3 C.7.6.3, C.7.6.24)
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def has_pixel_data(ds: Dataset) -> bool:
    """Whether ``ds`` holds (integer or float) pixel data."""
    return any(kw in ds for kw in PIXEL_KEYWORDS)


def frame_count(ds: Dataset) -> int:
    """(0028,0008) Number of Frames (1 when absent or empty)."""
    try:
        return max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        raise PixelDataError(f"(0028,0008) Number of Frames {ds.get('NumberOfFrames')!r} is not a number") from None


def check_decoder(ds: Dataset) -> None:
    """Fail with one line naming the plugin when the transfer syntax cannot be decoded."""
    from pydicom.pixels.decoders.base import get_decoder

    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax is None:
        raise PixelDataError("no (0002,0010) Transfer Syntax UID in the file meta information")
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise CodecUnavailableError(f"no pixel data decoder exists for {tsyntax.name} ({tsyntax})") from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise CodecUnavailableError(f"cannot decode {tsyntax.name}: no decoder plugin installed ({missing})")


def decode_frame(ds: Dataset, frame: int = 0, *, raw: bool = False) -> np.ndarray:
    """Decode one 0-based frame with pydicom's decoder plugins.

    ``raw=False`` returns YBR as RGB (what
    :func:`dicom_rewrite.render.windowing.render` expects); ``raw=True``
    returns the stored values untouched.
    """
    if not has_pixel_data(ds):
        raise PixelDataError("no (7FE0,0010) Pixel Data")
    n_frames = frame_count(ds)
    if not 0 <= frame < n_frames:
        raise PixelDataError(f"frame {frame + 1} does not exist: (0028,0008) Number of Frames is {n_frames}")
    check_decoder(ds)
    from pydicom.pixels.utils import pixel_array

    try:
        return pixel_array(ds, index=frame if n_frames > 1 else None, raw=raw)
    except DicomRewriteError:
        raise
    except Exception as exc:
        raise PixelDataError(f"cannot decode the pixel data: {one_line(exc)}") from None


def is_dicomdir_dataset(ds: Dataset) -> bool:
    """Whether a dataset read from a file is a DICOMDIR (Media Storage Directory)."""
    meta = getattr(ds, "file_meta", None)
    return meta is not None and bool(meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage)


def is_dicomdir(path: Path) -> bool:
    """Whether ``path`` is a DICOMDIR: by its name, else by its file meta."""
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        meta = dcmread(path, stop_before_pixels=True, specific_tags=["MediaStorageSOPClassUID"]).file_meta
    except Exception:
        return False
    return bool(meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage)


def dicomdir_members(path: Path) -> Iterator[Path] | None:
    """The files a DICOMDIR's file-set lists, in its order; None when
    ``path`` is not a DICOMDIR. An unreadable DICOMDIR raises (here, not
    while iterating)."""
    from pydicom.fileset import FileSet

    p = Path(path)
    if not is_dicomdir(p):
        return None
    fs = FileSet(dcmread(p))
    return (Path(instance.path) for instance in fs)

