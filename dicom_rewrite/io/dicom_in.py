"""Reading DICOM for ``export`` and ``annotate``: reading files as dcmtk
does, decoding frames and expanding DICOMDIR media.

:func:`read_dicom` reads a file, also one without the 128-byte preamble and
``DICM`` prefix (or without file meta) when its data set is an image object;
:func:`decode_frame` decodes one frame with pydicom's decoder plugins, one
after the other until one succeeds (failing with one line naming the plugin
when none is installed), then with GDCM directly and the Deflated Image Frame
Compression of PS3.5 8.2.16 / A.4.13;
:func:`dicomdir_members` expands a DICOMDIR into the files of its file-set,
as :func:`dicom_rewrite.batch.walk` (``dicomdir=``) expects.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    UncompressedTransferSyntaxes,
)

from dicom_rewrite.errors import CodecUnavailableError, DicomRewriteError, PixelDataError, one_line

__all__ = [
    "DEFLATED_IMAGE_FRAME",
    "PIXEL_KEYWORDS",
    "check_decoder",
    "decode_frame",
    "decode_frame_with_plugin",
    "dicomdir_members",
    "frame_count",
    "has_pixel_data",
    "is_dicomdir",
    "is_dicomdir_dataset",
    "read_dicom",
]

log = logging.getLogger(__name__)

#: the attributes that hold pixel data (PS3.3 C.7.6.3, C.7.6.24)
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

#: Deflated Image Frame Compression (PS3.5 8.2.16, A.4.13): each frame one
#: fragment, the raw Deflate stream (RFC 1951) of the frame's native encoding
DEFLATED_IMAGE_FRAME = UID("1.2.840.10008.1.2.8.1")

#: the decoder plugins pydicom's default order puts first that are tried last
#: here (GDCM came later than the plugins the outputs were checked with)
_LAST_PLUGINS = ("gdcm",)

#: the logger of pydicom's decoders; it logs each failed plugin's traceback
_DECODER_LOGGER = "pydicom.pixels.decoders.base"


def _gdcm_last() -> None:
    """Put GDCM last in every pydicom decoder's order of preference, in this
    process: installed for the streams the other plugins refuse, it must not
    change what they decode (pydicom would try GDCM first)."""
    from pydicom.pixels.decoders.base import _PIXEL_DATA_DECODERS

    for decoder, _ in _PIXEL_DATA_DECODERS.values():
        available = getattr(decoder, "_available", None)
        for name in _LAST_PLUGINS:
            if isinstance(available, dict) and name in available:
                available[name] = available.pop(name)


_gdcm_last()


def has_pixel_data(ds: Dataset) -> bool:
    """Whether ``ds`` holds (integer or float) pixel data."""
    return any(kw in ds for kw in PIXEL_KEYWORDS)


#: the memory budget of one decoded frame (frames are decoded one at a time)
MAX_FRAME_BYTES = 1 << 30
#: (FFFE,E000) Item tag, little endian: each fragment of encapsulated pixel data starts with one
_ITEM_TAG = b"\xfe\xff\x00\xe0"


def frame_count(ds: Dataset, *, strict: bool = True) -> int:
    """(0028,0008) Number of Frames (1 when absent or empty). A value that
    is not a number raises :class:`PixelDataError`, or counts as 1 when not
    ``strict`` (a header read only for its references). When ``strict``, a
    count the Pixel Data cannot hold, or a frame larger than
    :data:`MAX_FRAME_BYTES` decoded, raises :class:`PixelDataError` before
    anything is allocated."""
    try:
        n = max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        if not strict:
            return 1
        raise PixelDataError(f"(0028,0008) Number of Frames {ds.get('NumberOfFrames')!r} is not a number") from None
    if strict:
        _check_declared(ds, n)
    return n


def _file_size(ds: Dataset) -> int | None:
    name = getattr(ds, "filename", None)
    if not isinstance(name, (str, os.PathLike)):
        return None
    try:
        return os.path.getsize(name)
    except OSError:
        return None


def _check_declared(ds: Dataset, n: int) -> None:
    """PS3.5 8.1.1 (native: the frames one after the other) and A.4
    (encapsulated: at least one fragment per frame): is the declared size
    what (7FE0,0010) holds, and one frame within the memory budget?"""
    elem = ds._dict.get(BaseTag(0x7FE00010))
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples, bits = int(ds.get("SamplesPerPixel", 1) or 1), int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return  # not an image header: the decoder says what is wrong
    frame_bits = rows * cols * samples * bits
    if frame_bits // 8 > MAX_FRAME_BYTES:
        raise PixelDataError(f"a frame of {rows} x {cols} x {samples} samples of {bits} bits is "
                             f"{frame_bits // 8} bytes decoded; at most {MAX_FRAME_BYTES} "
                             "(the memory budget of one frame)")
    if n == 1:
        return
    where = "(7FE0,0010)"
    if elem is not None:
        value = elem.value
        held = len(value) if isinstance(value, bytes) else int(getattr(elem, "length", 0) or 0)
    else:  # a header read without its pixels: the file's size bounds them
        size = _file_size(ds)
        if size is None:
            return
        value, held, where = None, size, "the whole file"
    meta = getattr(ds, "file_meta", None)
    tsyntax = UID(str(meta.get("TransferSyntaxUID", "") if meta is not None else ""))
    if not tsyntax:
        return  # the decoder refuses it with its own line
    if tsyntax not in UncompressedTransferSyntaxes:  # encapsulated (PS3.5 A.4), also syntaxes pydicom lacks
        # less the offset table; each fragment takes 8 bytes at least
        fragments = value.count(_ITEM_TAG) - 1 if isinstance(value, bytes) else held // 8
        if n > fragments:
            raise PixelDataError(f"(0028,0008) Number of Frames {n}: the encapsulated pixel data holds "
                                 f"at most {max(fragments, 0)} fragment(s), one at least per frame")
    elif (n * frame_bits + 7) // 8 > held:
        raise PixelDataError(f"(0028,0008) Number of Frames {n} needs {(n * frame_bits + 7) // 8} bytes "
                             f"of pixel data; {where} holds {held}")


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def read_dicom(path: str | Path) -> Dataset:
    """Read a DICOM file as dcmtk does.

    A file without the preamble and ``DICM`` prefix (or without file meta) is
    read with ``force=True`` when its data set names a SOP Class or holds
    pixel data; otherwise :class:`~pydicom.errors.InvalidDicomError` is
    raised as by a plain read. A transfer syntax missing from the file meta is
    the encoding the data set was read in; group 0002 elements inside the data
    set (a second file meta header) go to the file meta, its Transfer Syntax
    UID naming the encoding of the pixel data.
    """
    ds: Dataset
    try:
        ds = dcmread(path)
    except InvalidDicomError as exc:
        ds = _forced(path, exc)
    _settle_file_meta(ds)
    return ds


def _forced(path: str | Path, refusal: InvalidDicomError) -> Dataset:
    try:
        ds = dcmread(path, force=True)
        looks_like_dicom = "SOPClassUID" in ds or has_pixel_data(ds)
    except Exception:
        raise refusal from None
    if not looks_like_dicom:
        raise refusal
    return ds


def _settle_file_meta(ds: Dataset) -> None:
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    stray = [tag for tag in ds.keys() if tag.group == 0x0002]
    for tag in stray:
        meta[tag] = ds[tag]
        del ds[tag]
    if not meta.get("TransferSyntaxUID"):
        implicit = ds.original_encoding[0] if ds.original_encoding[0] is not None else True
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax is None:
        raise PixelDataError("no (0002,0010) Transfer Syntax UID in the file meta information")
    return UID(str(tsyntax))


def _plugins(ds: Dataset) -> list[str]:
    """The decoder plugins to try, in order (empty for a native transfer
    syntax); fails with one line when none is installed."""
    from pydicom.pixels.decoders.base import get_decoder

    tsyntax = _transfer_syntax(ds)
    if tsyntax == DEFLATED_IMAGE_FRAME or "PixelData" not in ds:
        return []
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise CodecUnavailableError(f"no pixel data decoder exists for {tsyntax.name} ({tsyntax})") from None
    if decoder.is_native:
        return []
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise CodecUnavailableError(f"cannot decode {tsyntax.name}: no decoder plugin installed ({missing})")
    # pydicom's order of preference (``available_plugins`` is sorted by name)
    preferred = getattr(decoder, "_available", None)
    return list(preferred) if isinstance(preferred, dict) else list(decoder.available_plugins)


def check_decoder(ds: Dataset) -> None:
    """Fail with one line naming the plugin when the transfer syntax cannot be decoded."""
    _plugins(ds)


def decode_frame(ds: Dataset, frame: int = 0, *, raw: bool = False) -> np.ndarray:
    """Decode one 0-based frame with pydicom's decoder plugins.

    ``raw=False`` returns YBR as RGB (what
    :func:`dicom_rewrite.render.windowing.render` expects); ``raw=True``
    returns the stored values untouched.
    """
    return decode_frame_with_plugin(ds, frame, raw=raw)[0]


def decode_frame_with_plugin(ds: Dataset, frame: int = 0, *, raw: bool = False) -> tuple[np.ndarray, str | None]:
    """Like :func:`decode_frame`, also naming the plugin that decoded the
    frame (None for native pixel data)."""
    if not has_pixel_data(ds):
        raise PixelDataError("no (7FE0,0010) Pixel Data")
    n_frames = frame_count(ds)
    if not 0 <= frame < n_frames:
        raise PixelDataError(f"frame {frame + 1} does not exist: (0028,0008) Number of Frames is {n_frames}")
    index = frame if n_frames > 1 else None
    if _transfer_syntax(ds) == DEFLATED_IMAGE_FRAME and "PixelData" in ds:
        return _inflated_frame(ds, frame, raw=raw), "deflate"
    plugins = _plugins(ds)
    if not plugins:
        return _pixel_array(ds, index, raw, ""), None
    failures = []
    for name in plugins:
        try:
            return _pixel_array(ds, index, raw, name), name
        except PixelDataError as exc:
            reason = str(exc).removeprefix("cannot decode the pixel data: ").rsplit(f"{name}: ", 1)[-1]
            log.info("decoder plugin %s failed: %s", name, reason)
            failures.append(f"{name}: {reason}")
    with contextlib.suppress(PixelDataError, ImportError):
        return _gdcm_frame(ds, frame, raw=raw), "gdcm-direct"
    raise PixelDataError(f"cannot decode the pixel data: {'; '.join(failures)}")


class _NoTracebacks(logging.Filter):
    """Drop the traceback pydicom logs for each failed decoder plugin (the
    failure is reported in one line instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is None and not str(record.msg).startswith("Traceback")


@contextlib.contextmanager
def _quiet_decoders() -> Iterator[None]:
    logger = logging.getLogger(_DECODER_LOGGER)
    quiet = _NoTracebacks()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _pixel_array(ds: Dataset, index: int | None, raw: bool, plugin: str) -> np.ndarray:
    from pydicom.pixels.utils import pixel_array

    try:
        with _quiet_decoders(), (_stderr_silenced() if plugin in _LAST_PLUGINS else contextlib.nullcontext()):
            arr: np.ndarray = pixel_array(ds, index=index, raw=raw, decoding_plugin=plugin)
            return arr
    except DicomRewriteError:
        raise
    except Exception as exc:
        raise PixelDataError(f"cannot decode the pixel data: {one_line(exc)}") from None


def _native_view(ds: Dataset, data: bytes) -> Dataset:
    """A one-frame data set of ``ds``'s Image Pixel attributes holding the
    native (uncompressed) frame ``data``."""
    view = Dataset()
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "PhotometricInterpretation", "PlanarConfiguration"):
        if keyword in ds:
            view[keyword] = ds[keyword]
    view.file_meta = FileMetaDataset()
    view.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    view.PixelData = data
    return view


def _encapsulated_frame(ds: Dataset, frame: int) -> bytes:
    from pydicom.encaps import generate_frames

    n_frames = frame_count(ds)
    for i, data in enumerate(generate_frames(ds.PixelData, number_of_frames=n_frames)):
        if i == frame:
            return data
    raise PixelDataError(f"frame {frame + 1} is missing from the encapsulated pixel data")


def _inflated_frame(ds: Dataset, frame: int, *, raw: bool) -> np.ndarray:
    """Decode a frame of Deflated Image Frame Compression (PS3.5 8.2.16 and
    A.4.13): the fragment is the raw Deflate stream (RFC 1951, no zlib
    header) of the frame's native encoding."""
    try:
        data = zlib.decompress(_encapsulated_frame(ds, frame), -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise PixelDataError(f"cannot inflate frame {frame + 1}: {exc}") from None
    return _pixel_array(_native_view(ds, data), None, raw, "")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """GDCM's JPEG codecs print their retries on file descriptor 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _gdcm_frame(ds: Dataset, frame: int, *, raw: bool) -> np.ndarray:
    """Decode a grayscale frame with GDCM directly: pydicom's GDCM plugin
    refuses 12-bit JPEG Extended, which GDCM itself decodes."""
    import gdcm

    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if spp != 1 or int(ds.get("BitsAllocated", 0) or 0) != 16:
        raise PixelDataError("GDCM fallback decodes 16-bit grayscale frames only")
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(_encapsulated_frame(ds, frame))
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetValue(fragments.__ref__())
    image: Any = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((int(ds.Columns), int(ds.Rows), 1))
    image.SetDataElement(element)
    pi = gdcm.PhotometricInterpretation
    image.SetPhotometricInterpretation(pi(pi.GetPIType(str(ds.PhotometricInterpretation))))
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(str(_transfer_syntax(ds)))))
    bits = int(ds.get("BitsStored", 16) or 16)
    image.SetPixelFormat(gdcm.PixelFormat(1, 16, bits, bits - 1, int(ds.get("PixelRepresentation", 0) or 0)))
    with _stderr_silenced():
        buffer = image.GetBuffer()
    data = buffer.encode("utf-8", "surrogateescape") if isinstance(buffer, str) else bytes(buffer or b"")
    if len(data) != int(ds.Rows) * int(ds.Columns) * 2:
        raise PixelDataError("GDCM could not decode the frame")
    return _pixel_array(_native_view(ds, data), None, raw, "")


# ---------------------------------------------------------------------------
# DICOMDIR
# ---------------------------------------------------------------------------


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
    """The files a DICOMDIR's file-set lists, in its order, then those it
    lists that do not exist (pydicom leaves them out with a warning: the
    caller reports each); None when ``path`` is not a DICOMDIR. An
    unreadable DICOMDIR raises (here, not while iterating)."""
    import warnings

    from pydicom.fileset import FileSet

    p = Path(path)
    if not is_dicomdir(p):
        return None
    ds = dcmread(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "does not exist": reported per file below
        fs = FileSet(ds)
    found = [Path(instance.path) for instance in fs]
    have = {f.resolve() for f in found}
    missing = [f for f in _referenced_files(ds, p.parent) if f.resolve() not in have and not f.exists()]
    return iter(found + missing)


def _referenced_files(ds: Dataset, root: Path) -> list[Path]:
    """PS3.3 F.3.2.2: each record's Referenced File ID, a path of up to
    eight components relative to the DICOMDIR's folder (PS3.10 8.5)."""
    out = []
    for record in ds.get("DirectoryRecordSequence", []) or []:
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(v) for v in file_id]
        if any(part in ("", ".", "..") or "/" in part for part in parts):
            continue  # never outside the file-set's folder
        out.append(root.joinpath(*parts))
    return out

