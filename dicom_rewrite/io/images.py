"""Image files -> numpy arrays, with exactly the values the file holds.

This is the only module that imports Pillow for image files (reading them,
and writing exported PNG/JPEG: :func:`image_writer`). Every image becomes
one or more :class:`Raster` records (one per page/frame) holding a C-ordered,
native little-endian ``uint8``/``uint16``/``int16`` array of shape
``(rows, columns)`` or ``(rows, columns, 3)``.

Decisions (documented in README.md):

* Palette images expand to RGB (pixel values are the palette colours).
* 1-bit images become 8-bit 0/255 (what a viewer shows).
* An alpha channel that is fully opaque is dropped; a translucent one is
  composited over black and the report says so.
* CMYK JPEG is converted to RGB by Pillow's colour conversion.
* JPEG EXIF orientation is applied so the image is upright.
* With ``keep_jpeg`` (a JPEG transfer syntax), a baseline (or extended) JPEG
  is kept as its own bitstream (:mod:`dicom_rewrite.io.jpeg`) when no
  rotation is needed; otherwise it is decoded (and re-encoded later), and
  the raster's notes say why.
* Multi-page TIFF and animated GIF give one raster per page.
* 16-bit colour PNG is refused (Pillow would silently drop to 8 bits).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from dicom_rewrite.errors import InputError, PixelDataError
from dicom_rewrite.io import jpeg

#: File suffixes accepted when a folder is searched for images.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".bmp", ".gif"}
)

#: PNG text keys written by ``export --format png16`` so that ``convert`` can
#: read the stored values back exactly (signedness, bits, Modality LUT)
PNG16_KEYS = {
    "pixel_representation": "dicom-rewrite:PixelRepresentation",
    "bits_stored": "dicom-rewrite:BitsStored",
    "rescale_slope": "dicom-rewrite:RescaleSlope",
    "rescale_intercept": "dicom-rewrite:RescaleIntercept",
    "photometric_interpretation": "dicom-rewrite:PhotometricInterpretation",
}

#: Pillow formats whose compression is lossy -> DICOM Lossy Image Compression Method
_LOSSY_METHOD = {"JPEG": "ISO_10918_1", "MPO": "ISO_10918_1"}


@dataclass(frozen=True)
class Raster:
    """One image plane as it will be stored in DICOM."""

    array: np.ndarray
    photometric: str  # MONOCHROME2 | RGB
    bits_stored: int
    source: str = ""
    page: int = 0
    pages: int = 1
    lossy_method: str | None = None
    lossy_ratio: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: (slope, intercept) of the Modality LUT the stored values need, when
    #: the source says so (a png16 export); None: identity
    rescale: tuple[float, float] | None = None
    #: the JPEG streams stored as they are, one per frame (``--transfer-syntax
    #: jpeg-baseline``): ``array`` is their decode and ``photometric`` the
    #: streams' colour space
    encoded: tuple[bytes, ...] | None = None
    #: 0: one image; n >= 1: ``array`` holds n frames on a leading axis (:func:`stack`)
    frames: int = 0
    #: ms this page is shown (an animated GIF's duration); for a stack, each frame's
    frame_times: tuple[float, ...] | None = None

    @property
    def samples(self) -> int:
        return 3 if self.array.ndim - (self.frames > 0) == 3 else 1

    @property
    def kind(self) -> tuple[object, ...]:
        """What outputs of one kind share (shape, dtype, colour space, bits,
        Modality LUT, lossy source, JPEG kept, frame times): the batch's key."""
        return (self.array.shape, self.array.dtype.str, self.photometric, self.bits_stored,
                self.rescale, self.lossy_method, self.encoded is None, self.frame_times)

    @property
    def rows_columns(self) -> tuple[int, int]:
        """(Rows, Columns) of one frame."""
        shape = self.array.shape[self.frames > 0:]
        return int(shape[0]), int(shape[1])

    @property
    def signed(self) -> bool:
        return self.array.dtype.kind == "i"

    @property
    def bits(self) -> int:
        return self.array.dtype.itemsize * 8


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def from_array(arr: np.ndarray, source: str = "<array>") -> Raster:
    """Build a :class:`Raster` from an in-memory array (gray or RGB)."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 4:
        a = _drop_or_composite(a, [], source)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise PixelDataError(f"{source}: array shape {a.shape} is not (rows, cols) or (rows, cols, 3)")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype.kind not in "ui" or a.dtype.itemsize > 2:
        raise PixelDataError(
            f"{source}: array dtype {a.dtype} cannot be stored as image pixels "
            "(use uint8, uint16 or int16; float volumes go through `dicom-rewrite series`)"
        )
    if a.ndim == 3 and a.dtype != np.uint8:
        raise PixelDataError(f"{source}: colour arrays must be uint8, not {a.dtype}")
    if a.dtype == np.int8:
        a = a.astype(np.int16)
    a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))
    return Raster(a, "RGB" if a.ndim == 3 else "MONOCHROME2", a.dtype.itemsize * 8, source)


def _png_header(head: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) from the first 26 bytes of a PNG (its IHDR
    chunk), or None when it is not a PNG."""
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 26:
        return None
    return head[24], head[25]


def _drop_or_composite(a: np.ndarray, notes: list[str], source: str) -> np.ndarray:
    """Remove the last (alpha) channel of an (H, W, 2|4) array."""
    alpha = a[..., -1]
    colour = a[..., :-1]
    full = np.iinfo(a.dtype).max
    if alpha.min() == full:
        notes.append("opaque alpha channel dropped")
        out = colour
    else:
        notes.append("translucent alpha channel composited over black")
        out = (colour.astype(np.float64) * (alpha[..., None].astype(np.float64) / full)).round()
        out = out.astype(a.dtype)
    return out[..., 0] if out.shape[-1] == 1 else out


def _bilevel(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    notes.append("1-bit image stored as 8-bit 0/255")
    return np.asarray(img.convert("L"))


def _palette(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    has_alpha = img.mode == "PA" or "transparency" in img.info
    a = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
    notes.append("palette expanded to RGB")
    return _drop_or_composite(a, notes, source) if has_alpha else a


def _plain(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    return np.asarray(img)


def _with_alpha(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    return _drop_or_composite(np.asarray(img), notes, source)


def _premultiplied(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    return _drop_or_composite(np.asarray(img.convert(img.mode.upper())), notes, source)


def _cmyk(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    notes.append("CMYK converted to RGB")
    return np.asarray(img.convert("RGB"))


def _ycbcr(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


def _uint16(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    return np.asarray(img).astype("<u2")


def _int16(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    return np.asarray(img).astype("<i2")


def _int32(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    a32 = np.asarray(img)
    lo, hi = int(a32.min()), int(a32.max())
    if 0 <= lo and hi <= 0xFFFF:
        return a32.astype("<u2")
    if -32768 <= lo and hi <= 32767:
        return a32.astype("<i2")
    raise PixelDataError(f"{source}: 32-bit integer values [{lo}, {hi}] do not fit 16 bits")


def _float(img: Image.Image, notes: list[str], source: str) -> np.ndarray:
    raise PixelDataError(
        f"{source}: floating-point image; convert it with `dicom-rewrite series` "
        "(which chooses a rescale) instead"
    )


#: Pillow mode -> how its pixels become the array we store (a new mode is one entry)
_MODES: dict[str, Callable[[Image.Image, list[str], str], np.ndarray]] = {
    "1": _bilevel, "P": _palette, "PA": _palette,
    "L": _plain, "RGB": _plain, "LA": _with_alpha, "RGBA": _with_alpha,
    "La": _premultiplied, "RGBa": _premultiplied, "CMYK": _cmyk, "YCbCr": _ycbcr,
    "I;16": _uint16, "I;16L": _uint16, "I;16B": _uint16, "I;16N": _uint16, "I;16S": _int16,
    "I": _int32, "F": _float,
}


def _frame_to_raster(img: Image.Image, source: str, page: int, pages: int, lossy: str | None,
                     ratio: float | None, keep_color: bool = False) -> Raster:
    notes: list[str] = []
    to_array = _MODES.get(img.mode)
    if to_array is None:
        raise PixelDataError(f"{source}: unsupported image mode {img.mode!r}")
    a = to_array(img, notes, source)
    if a.ndim == 3 and not keep_color and _gray_in_colour(a):
        # a gray image saved as RGB(A) is gray: it stays in the template's class
        a = a[..., 0]
        notes.append("colour image with equal channels everywhere stored as MONOCHROME2 (values unchanged)")
    a = np.ascontiguousarray(a)
    photometric = "RGB" if a.ndim == 3 else "MONOCHROME2"
    bits_stored = a.dtype.itemsize * 8
    rescale = None
    if a.dtype == np.uint16 and PNG16_KEYS["bits_stored"] in img.info:
        a, bits_stored, rescale = _png16_meta(img.info, a, source)
        # MONOCHROME1 stays MONOCHROME1: the same values, shown the same way
        if img.info.get(PNG16_KEYS["photometric_interpretation"]) == "MONOCHROME1":
            photometric = "MONOCHROME1"
        notes.append("dicom-rewrite png16 export: stored values, bits and rescale restored")
    return Raster(
        a, photometric, bits_stored, source, page, pages, lossy, ratio, tuple(notes), rescale
    )


def _png16_meta(info: dict[str | tuple[int, int], Any], a: np.ndarray, source: str
                ) -> tuple[np.ndarray, int, tuple[float, float] | None]:
    """Apply the text chunks of a ``png16`` export (see :data:`PNG16_KEYS`)."""
    try:
        bits = int(info[PNG16_KEYS["bits_stored"]])
        signed = int(info.get(PNG16_KEYS["pixel_representation"], "0")) == 1
        slope = info.get(PNG16_KEYS["rescale_slope"])
        intercept = info.get(PNG16_KEYS["rescale_intercept"])
        rescale = (float(slope), float(intercept)) if slope and intercept else None
    except (TypeError, ValueError):
        raise PixelDataError(f"{source}: malformed dicom-rewrite png16 text chunks") from None
    if not 1 <= bits <= 16:
        raise PixelDataError(f"{source}: png16 text says Bits Stored {bits}, not 1..16")
    if signed:
        a = a.view("<i2")  # the 16-bit two's complement pattern export wrote
    return a, bits, rescale


def _gray_in_colour(a: np.ndarray) -> bool:
    """Are the three channels of ``a`` equal at every pixel?"""
    return bool(np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]))


def read_image(path: str | Path, *, keep_color: bool = False,
               keep_jpeg: jpeg.Keep | None = None) -> list[Raster]:
    """Read every page of an image file; raise :class:`InputError` on failure."""
    return list(iter_pages(path, keep_color=keep_color, keep_jpeg=keep_jpeg))


def iter_pages(path: str | Path, *, keep_color: bool = False,
               keep_jpeg: jpeg.Keep | None = None) -> Iterator[Raster]:
    """The pages of an image file, decoded one at a time (a 1,000-frame GIF
    never holds more than one frame in memory); raise :class:`InputError` on
    failure, possibly after some pages. A colour image whose channels are
    equal everywhere is gray (MONOCHROME2, same values) unless ``keep_color``.
    ``keep_jpeg`` (the output is JPEG): a JPEG that DICOM can hold is kept
    as its bitstream (:attr:`Raster.encoded`); one that cannot is decoded,
    and its notes say it will be re-encoded (refused with ``keep_jpeg.only``)."""
    p = Path(path)
    source = str(p)
    try:
        with warnings.catch_warnings(), open(p, "rb") as f:
            twelve = _precheck(f, source, keep_jpeg)
            if twelve is not None:
                yield twelve
                return
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as img:
                fmt = img.format or ""
                lossy = _LOSSY_METHOD.get(fmt)
                pages = getattr(img, "n_frames", 1)
                why = ""
                if keep_jpeg is not None:
                    kept, why = _kept_jpeg(img, f, source, keep_jpeg)
                    if kept is not None:
                        yield kept
                        return
                for i, frame in enumerate(_pages(img)):
                    ratio = None
                    if lossy:
                        raw = frame.width * frame.height * len(frame.getbands())
                        ratio = round(raw / max(p.stat().st_size, 1), 2)
                    raster = _frame_to_raster(frame, source, i, pages, lossy, ratio, keep_color)
                    if pages > 1 and frame.info.get("duration"):
                        raster = dataclasses.replace(
                            raster, frame_times=(float(frame.info["duration"]),))
                    yield dataclasses.replace(raster, notes=(*raster.notes, why)) if why else raster
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InputError(f"{source}: not a readable image ({type(exc).__name__}: {exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{source}: cannot decode image ({exc})") from None


def _precheck(f: BinaryIO, source: str, keep: jpeg.Keep | None) -> Raster | None:
    """Refuse a 16-bit colour PNG; read a 12-bit gray JPEG, which Pillow
    cannot decode (pylibjpeg-libjpeg does): kept as its bitstream when the
    output is JPEG Extended. None: Pillow reads the file. Leaves ``f`` at 0."""
    head = f.read(26)
    f.seek(0)
    header = _png_header(head)
    if header and header[0] == 16 and header[1] in (2, 6):
        raise PixelDataError(
            f"{source}: 16-bit colour PNG is not supported (Pillow would reduce it to "
            "8 bits); save it as 8-bit RGB or split the channels"
        )
    if head[:2] != b"\xff\xd8":
        return None
    data = f.read()
    f.seek(0)
    try:
        info = jpeg.parse(data)
    except ValueError:
        return None
    if info.precision != 12 or info.samples != 1 or info.sof not in (0xC1, 0xC2):
        return None
    return _twelve_bit(data, info, source, keep)


def _twelve_bit(data: bytes, info: jpeg.JpegInfo, source: str, keep: jpeg.Keep | None) -> Raster:
    """A 12-bit gray JPEG (extended or progressive process) as 16-bit
    pixels, Bits Stored 12 (PS3.5 8.2.1)."""
    from libjpeg.utils import decode

    a = np.ascontiguousarray(decode(data).astype("<u2"))
    why = info.not_storable(True) if keep is not None and keep.extended else "12-bit JPEG needs jpeg-extended"
    if keep is not None and why is None:
        stream = jpeg.for_dicom(data)
        return Raster(a, "MONOCHROME2", 12, source, 0, 1, "ISO_10918_1", round(a.nbytes / len(stream), 2),
                      ("JPEG bitstream stored as is (APPn but JFIF/Adobe, and comments, removed)",),
                      encoded=(stream,))
    if keep is not None and keep.only:
        raise InputError(f"{source}: {why}, and --passthrough-only forbids re-encoding it")
    return Raster(a, "MONOCHROME2", 12, source, 0, 1, "ISO_10918_1", round(a.nbytes / len(data), 2))


def _kept_jpeg(img: Image.Image, f: BinaryIO, source: str,
               keep: jpeg.Keep) -> tuple[Raster | None, str]:
    """The raster of a JPEG stored as its own bitstream, or ``(None, the
    note that says why it is re-encoded)``; InputError with ``keep.only``."""
    data = b""
    if img.format == "JPEG":
        f.seek(0)
        data = f.read()
    info, why = _storable(img, data, keep)
    if info is not None:
        stream = jpeg.for_dicom(data)
        img.load()
        a = np.ascontiguousarray(np.asarray(img))
        notes = ("JPEG bitstream stored as is (APPn but JFIF/Adobe, and comments, removed)",)
        return Raster(a, why, info.precision, source, 0, 1, "ISO_10918_1",
                      round(a.nbytes / len(stream), 2), notes, encoded=(stream,)), ""
    if keep.only:
        raise InputError(f"{source}: {why}, and --passthrough-only forbids re-encoding it")
    return None, f"{why}: decoded and re-encoded (transcoded) to the output syntax"


def _storable(img: Image.Image, data: bytes, keep: jpeg.Keep) -> tuple[jpeg.JpegInfo | None, str]:
    """``(stream info, its Photometric Interpretation)`` when this image can
    be stored as its own JPEG bitstream, else ``(None, why not)``."""
    if img.format != "JPEG":
        return None, f"{img.format or 'this'} image is not a JPEG stream"
    try:
        info = jpeg.parse(data)
    except ValueError as exc:
        return None, f"JPEG headers unreadable ({exc})"
    why = info.not_storable(keep.extended)
    if why is None and img.mode not in ("L", "RGB"):
        why = f"JPEG in Pillow mode {img.mode} has no DICOM Photometric Interpretation"
    orientation = img.getexif().get(0x0112, 1)
    if why is None and orientation not in (0, 1):
        # the stream is stored as is, so the image must already be upright
        why = f"EXIF orientation {orientation} needs a rotation"
    if why is not None or info.photometric is None:
        return None, why or "no photometric"
    return info, info.photometric


def _pages(img: Image.Image) -> Iterator[Image.Image]:
    """Every page, EXIF orientation applied (JPEG/TIFF), each fully loaded."""
    n = getattr(img, "n_frames", 1)
    if n == 1:
        img.load()
        # EXIF orientation exists in JPEG, TIFF, WebP and MPO files only
        if img.format in ("JPEG", "MPO", "TIFF", "WEBP"):
            yield ImageOps.exif_transpose(img)
        else:
            yield img
        return
    for i, frame in enumerate(ImageSequence.Iterator(img)):
        # the iterator reuses one object: copy each page out
        page = frame.copy()
        page.load()
        yield page
        if i + 1 >= n:
            break


def stack(rasters: list[Raster], frame_time: float | None = None) -> Raster:
    """Frames of one kind as one multi-frame raster (``--multiframe``), in
    the order given. Gray frames among colour ones become colour (same
    values on the three channels); any other difference of size or kind is
    an :class:`InputError` naming the frame's file. JPEG streams stay one
    per frame when every frame has one (of one colour space), else every
    frame is decoded. ``frame_time`` (ms) overrides the frames' own durations."""
    first, notes = rasters[0], {n for r in rasters for n in r.notes}
    encoded = _streams(rasters, notes)
    colour = encoded is None and any(r.samples == 3 for r in rasters)
    arrays = np.stack([_frame_array(r, first, colour, notes) for r in rasters])
    method, ratio = _lossy(rasters, arrays, encoded)
    return Raster(arrays, "RGB" if colour else first.photometric, first.bits_stored,
                  first.source, 0, 1, method, ratio, tuple(sorted(notes)), first.rescale,
                  encoded, len(rasters), _frame_times(rasters, frame_time))


def _streams(rasters: list[Raster], notes: set[str]) -> tuple[bytes, ...] | None:
    """The frames' JPEG streams when every frame keeps one, of one colour
    space; else None (and ``notes`` say so when some had one)."""
    streams = [r.encoded[0] for r in rasters if r.encoded]
    if len(streams) == len(rasters) and len({r.photometric for r in rasters}) == 1:
        return tuple(streams)
    if streams:
        for n in [n for n in notes if n.startswith("JPEG bitstream stored as is")]:
            notes.discard(n)
        notes.add("JPEG frames mixed with others: every frame decoded and re-encoded")
    return None


def _lossy(rasters: list[Raster], arrays: np.ndarray,
           encoded: tuple[bytes, ...] | None) -> tuple[str | None, float | None]:
    """(0028,2114) method and (0028,2112) ratio of a stack (PS3.3 C.7.6.1.1.5):
    of its streams when kept, else the frames' worst."""
    methods = sorted({r.lossy_method for r in rasters if r.lossy_method})
    if encoded:
        return methods[0], round(arrays.nbytes / sum(len(e) for e in encoded), 2)
    if not methods:
        return None, None
    return methods[0], min(r.lossy_ratio or 1.0 for r in rasters if r.lossy_method)


def _frame_array(r: Raster, first: Raster, colour: bool, notes: set[str]) -> np.ndarray:
    """One frame's array for :func:`stack`, checked against the first frame."""
    a = r.array
    if colour and r.samples == 1 and a.dtype == np.uint8:
        a = np.repeat(a[..., None], 3, axis=2)
        notes.add("gray frames among colour ones stored as colour (equal channels)")
    want = first.array.shape + ((3,) if colour and first.samples == 1 else ())
    if (a.shape, a.dtype, r.bits_stored) != (want, first.array.dtype, first.bits_stored):
        raise InputError(
            f"{r.source}: frame {r.page + 1} is {_kind_of(r)}, the first frame "
            f"({first.source}) {_kind_of(first)}: frames of one instance must share size and kind")
    return a


def _frame_times(rasters: list[Raster], frame_time: float | None) -> tuple[float, ...] | None:
    """Each frame's time (ms): ``frame_time`` for all, else the frames' own
    when every frame has one, else None (pages, not time)."""
    if frame_time is not None:
        return (float(frame_time),) * len(rasters)
    found = [r.frame_times[0] for r in rasters if r.frame_times]
    return tuple(found) if len(found) == len(rasters) else None


def _kind_of(r: Raster) -> str:
    rows, columns = r.rows_columns
    return f"{columns}x{rows} {r.samples}-sample {r.array.dtype.itemsize * 8}-bit"


# ------------------------------------------------------- array -> image file

#: Formats images are exported as, and their file extensions.
EXPORT_FORMATS = {"png": ".png", "png16": ".png", "jpeg": ".jpg"}


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


def page_count(path: str | Path) -> int:
    """How many pages :func:`iter_pages` yields for ``path`` by its header
    (no pixels decoded); 0 for a file that cannot be opened as an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return int(getattr(img, "n_frames", 1))
    except Exception:  # iter_pages words the error of that input
        # a JPEG Pillow cannot open (12 bits: pylibjpeg reads it) is one page
        try:
            with open(path, "rb") as f:
                return 1 if f.read(2) == b"\xff\xd8" else 0
        except OSError:
            return 0
