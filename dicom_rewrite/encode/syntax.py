"""Transfer syntaxes we write, by alias, and encoding through pydicom.

Lossless syntaxes are the default: the pixels read back exactly. Lossy ones
are written only when asked for (``--transfer-syntax jpeg-baseline`` and
the like), and every lossy output says so (PS3.3 C.7.6.1.1.5). Encoding
goes through :meth:`pydicom.dataset.Dataset.compress` (pydicom's encoder
plugins), except JPEG Baseline/Extended, which pydicom cannot encode:
Pillow's encoder (:func:`dicom_rewrite.io.jpeg.encode`) writes those. A
missing plugin is reported by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicom_rewrite.errors import CodecUnavailableError, PixelDataError, UsageError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.uid import UID

    from dicom_rewrite.io.jpeg import Keep

#: alias -> transfer syntax UID (PS3.6 Annex A), as text so that listing the
#: aliases (``--help``) imports no pydicom
TRANSFER_SYNTAXES: dict[str, str] = {
    "explicit-vr-little-endian": "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "jpeg-ls-lossless": "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless Image Compression
    "jpeg2000-lossless": "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
    "htj2k-lossless": "1.2.840.10008.1.2.4.201",  # HTJ2K Image Compression (Lossless Only)
    "jpeg-baseline": "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1), lossy
    "jpeg-extended": "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4), lossy
    "jpeg-ls-near-lossless": "1.2.840.10008.1.2.4.81",  # JPEG-LS Lossy (Near-Lossless)
    "jpeg2000": "1.2.840.10008.1.2.4.91",  # JPEG 2000 Image Compression, lossy
}

_JPEG_BASELINE = TRANSFER_SYNTAXES["jpeg-baseline"]
_JPEG_EXTENDED = TRANSFER_SYNTAXES["jpeg-extended"]

#: lossy syntax -> (0028,2114) Lossy Image Compression Method (PS3.3 C.7.6.1.1.5.1)
LOSSY_METHODS: dict[str, str] = {
    _JPEG_BASELINE: "ISO_10918_1",
    _JPEG_EXTENDED: "ISO_10918_1",
    TRANSFER_SYNTAXES["jpeg-ls-near-lossless"]: "ISO_14495_1",
    TRANSFER_SYNTAXES["jpeg2000"]: "ISO_15444_1",
}

#: pip packages that provide each encoder (pydicom's plugin names)
_PLUGIN_HINT = {
    TRANSFER_SYNTAXES["rle"]: "pylibjpeg-rle (or pydicom's native encoder)",
    TRANSFER_SYNTAXES["jpeg-ls-lossless"]: "pyjpegls",
    TRANSFER_SYNTAXES["jpeg-ls-near-lossless"]: "pyjpegls",
    TRANSFER_SYNTAXES["jpeg2000-lossless"]: "pylibjpeg-openjpeg",
    TRANSFER_SYNTAXES["jpeg2000"]: "pylibjpeg-openjpeg",
    TRANSFER_SYNTAXES["htj2k-lossless"]: "an HTJ2K encoder plugin for pydicom",
}


@dataclass(frozen=True)
class Options:
    """How hard the lossy syntaxes compress (ignored by the lossless ones)."""

    quality: int = 90  # jpeg-baseline / jpeg-extended: Pillow's quality, 1..95
    near: int = 2  # jpeg-ls-near-lossless: NEAR, the largest error per sample
    ratio: float = 10.0  # jpeg2000: the target compression ratio

    def check(self) -> Options:
        if not 1 <= self.quality <= 95:
            raise UsageError(f"--quality {self.quality}: must be 1..95")
        if not 0 <= self.near <= 255:
            raise UsageError(f"--near {self.near}: must be 0..255")
        if not self.ratio > 1:
            raise UsageError(f"--ratio {self.ratio:g}: must be above 1")
        return self


def resolve(alias: str) -> UID:
    """Alias (or UID) -> transfer syntax UID; raise UsageError otherwise, and
    CodecUnavailableError for a syntax no installed encoder writes."""
    from pydicom.uid import UID

    key = str(alias).strip().lower()
    uid = TRANSFER_SYNTAXES.get(key, key if key in TRANSFER_SYNTAXES.values() else None)
    if uid is None:
        raise UsageError(
            f"transfer syntax {alias!r} is not one we write; choose one of "
            + ", ".join(TRANSFER_SYNTAXES)
        )
    tsyntax = UID(uid)
    if tsyntax.is_compressed and not is_jpeg(tsyntax):
        _check_encoder(tsyntax)
    return tsyntax


def _check_encoder(tsyntax: UID) -> None:
    """Fail now, not on the first output, when no plugin encodes ``tsyntax``
    (HTJ2K: pydicom 3.0 has no encoder, pylibjpeg-openjpeg 2.6 writes
    JPEG 2000 part 1 only)."""
    from pydicom.pixels.encoders.base import get_encoder

    try:
        available = get_encoder(tsyntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise CodecUnavailableError(
            f"cannot encode {tsyntax.name}: no installed encoder writes it "
            f"(install {_PLUGIN_HINT.get(tsyntax, 'a plugin')})"
        )


def is_jpeg(tsyntax: UID) -> bool:
    """JPEG Baseline or Extended: a JPEG input may be stored as is."""
    return tsyntax in (_JPEG_BASELINE, _JPEG_EXTENDED)


def is_extended(tsyntax: UID) -> bool:
    return tsyntax == _JPEG_EXTENDED


def keep_jpeg(tsyntax: UID, passthrough_only: bool) -> Keep | None:
    """How image readers treat JPEG inputs for outputs in ``tsyntax`` (None:
    decoded, as the output is not JPEG); UsageError for ``--passthrough-only``
    with another syntax."""
    if not is_jpeg(tsyntax):
        if passthrough_only:
            raise UsageError("--passthrough-only needs --transfer-syntax jpeg-baseline or jpeg-extended")
        return None
    from dicom_rewrite.io.jpeg import Keep

    return Keep(is_extended(tsyntax), passthrough_only)


def encode(ds: Dataset, tsyntax: UID, options: Options = Options(), source: str = "",
           native: bool = True) -> None:
    """Compress ``ds``'s native Pixel Data in place into ``tsyntax``
    (``native`` False: it is encapsulated already, a JPEG stored as is).
    A PixelDataError names ``source``.

    PS3.3 C.7.6.1.1.5: lossless compression leaves (0028,2110) Lossy Image
    Compression as it is (``00``, or ``01`` when the source itself was
    lossy); lossy compression sets it to ``01`` and appends its method and
    ratio to those of earlier lossy steps."""
    if not tsyntax.is_compressed or not native:
        ds.file_meta.TransferSyntaxUID = tsyntax
        return
    try:
        _compress(ds, tsyntax, options)
    except PixelDataError as exc:
        raise PixelDataError(f"{source}: {exc}" if source else str(exc)) from None


def _compress(ds: Dataset, tsyntax: UID, options: Options) -> None:
    native = len(ds.PixelData)
    if is_jpeg(tsyntax):
        _encode_jpeg(ds, tsyntax, options)
    else:
        if tsyntax == TRANSFER_SYNTAXES["jpeg2000"] and int(ds.SamplesPerPixel) == 3:
            # PS3.5 8.2.4: irreversible JPEG 2000 colour goes through the
            # irreversible component transform; pydicom applies it for YBR_ICT
            ds.PhotometricInterpretation = "YBR_ICT"
        try:
            ds.compress(tsyntax, generate_instance_uid=False, **_kwargs(tsyntax, options))
        except RuntimeError as exc:
            raise CodecUnavailableError(
                f"cannot encode {tsyntax.name}: install {_PLUGIN_HINT.get(tsyntax, 'a plugin')} ({exc})"
            ) from None
    method = LOSSY_METHODS.get(str(tsyntax))
    if method:
        from pydicom.encaps import generate_frames

        frames = int(ds.get("NumberOfFrames", 1) or 1)
        compressed = sum(len(f) for f in generate_frames(ds.PixelData, number_of_frames=frames))
        # PS3.3 C.7.6.1.1.5.2: ratio of the uncompressed to the compressed size
        mark_lossy(ds, method, native / max(compressed, 1))


def _kwargs(tsyntax: UID, options: Options) -> dict[str, Any]:
    """pydicom's encoding options for a lossy syntax."""
    if tsyntax == TRANSFER_SYNTAXES["jpeg-ls-near-lossless"]:
        return {"jls_error": options.near}
    if tsyntax == TRANSFER_SYNTAXES["jpeg2000"]:
        return {"j2k_cr": [options.ratio]}
    return {}


def _encode_jpeg(ds: Dataset, tsyntax: UID, options: Options) -> None:
    """Native 8-bit Pixel Data -> one JPEG Baseline fragment per frame
    (PS3.5 A.4), Pillow's encoder; colour becomes YBR_FULL_422 (4:4:4 sampled)."""
    import numpy as np
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID as _UID

    from dicom_rewrite.io.jpeg import encode as jpeg_encode

    if int(ds.BitsAllocated) != 8 or int(ds.get("PixelRepresentation", 0)) != 0:
        raise PixelDataError(
            f"{_UID(tsyntax).name} here holds unsigned 8-bit samples; these are "
            f"{ds.BitsAllocated}-bit: choose jpeg-ls-near-lossless or jpeg2000"
        )
    samples = int(ds.SamplesPerPixel)
    shape = (int(ds.get("NumberOfFrames", 1) or 1), int(ds.Rows), int(ds.Columns))
    frames = np.frombuffer(ds.PixelData, np.uint8, count=shape[0] * shape[1] * shape[2] * samples)
    frames = frames.reshape(shape + ((samples,) if samples == 3 else ()))
    ds.PixelData = encapsulate([jpeg_encode(f, options.quality) for f in frames])
    ds["PixelData"].VR = "OB"
    if samples == 3:
        # PS3.5 8.2.1: the stream's colour space; Pillow converts RGB to YCbCr
        ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.file_meta.TransferSyntaxUID = tsyntax


def mark_lossy(ds: Dataset, method: str, ratio: float) -> None:
    """PS3.3 C.7.6.1.1.5: Lossy Image Compression 01; one more method and
    ratio after those of earlier lossy steps (in the order applied)."""
    methods = _values(ds, "LossyImageCompressionMethod")
    ratios = _values(ds, "LossyImageCompressionRatio")
    if len(ratios) != len(methods):
        ratios = ratios[:len(methods)] + ["1"] * (len(methods) - len(ratios))
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = [*methods, method] if methods else method
    text = f"{ratio:.2f}"
    ds.LossyImageCompressionRatio = [*ratios, text] if ratios else text


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return [str(value)]
    return [str(v) for v in value]
