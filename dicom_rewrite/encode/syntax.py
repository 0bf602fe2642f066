"""Transfer syntaxes we write, by alias, and encoding through pydicom.

Only lossless syntaxes are offered: the pixels we write must read back
exactly. Encoding goes through :meth:`pydicom.dataset.Dataset.compress`
(pydicom's encoder plugins); a missing plugin is reported by name.
"""

from __future__ import annotations

from pydicom import uid as _uid
from pydicom.dataset import Dataset
from pydicom.uid import UID

from dicom_rewrite.errors import CodecUnavailableError, UsageError

TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit-vr-little-endian": _uid.ExplicitVRLittleEndian,
    "rle": _uid.RLELossless,
    "jpeg-ls-lossless": _uid.JPEGLSLossless,
    "jpeg2000-lossless": _uid.JPEG2000Lossless,
}

#: pip packages that provide each encoder (pydicom's plugin names)
_PLUGIN_HINT = {
    _uid.RLELossless: "pylibjpeg-rle (or pydicom's native encoder)",
    _uid.JPEGLSLossless: "pyjpegls",
    _uid.JPEG2000Lossless: "pylibjpeg-openjpeg",
}


def resolve(alias: str) -> UID:
    """Alias (or UID) -> transfer syntax UID; raise UsageError otherwise."""
    key = str(alias).strip().lower()
    if key in TRANSFER_SYNTAXES:
        return TRANSFER_SYNTAXES[key]
    for uid in TRANSFER_SYNTAXES.values():
        if key == uid:
            return uid
    raise UsageError(
        f"transfer syntax {alias!r} is not one we write; choose one of "
        + ", ".join(TRANSFER_SYNTAXES)
    )


def encode(ds: Dataset, tsyntax: UID) -> None:
    """Compress ``ds``'s Pixel Data in place into ``tsyntax`` (lossless).

    PS3.3 C.7.6.1.1.5: lossless compression leaves (0028,2110) Lossy Image
    Compression as it is (``00``, or ``01`` when the source itself was lossy)."""
    if not tsyntax.is_compressed:
        ds.file_meta.TransferSyntaxUID = tsyntax
        return
    try:
        ds.compress(tsyntax, generate_instance_uid=False)
    except RuntimeError as exc:
        raise CodecUnavailableError(
            f"cannot encode {tsyntax.name}: install {_PLUGIN_HINT.get(tsyntax, 'a plugin')} ({exc})"
        ) from None
