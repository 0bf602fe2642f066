"""Transfer syntaxes we write, by alias, and encoding through pydicom.

Only lossless syntaxes are offered: the pixels we write must read back
exactly. Encoding goes through :meth:`pydicom.dataset.Dataset.compress`
(pydicom's encoder plugins); a missing plugin is reported by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicom_rewrite.errors import CodecUnavailableError, UsageError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.uid import UID

#: alias -> transfer syntax UID (PS3.6 Annex A), as text so that listing the
#: aliases (``--help``) imports no pydicom
TRANSFER_SYNTAXES: dict[str, str] = {
    "explicit-vr-little-endian": "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "jpeg-ls-lossless": "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless Image Compression
    "jpeg2000-lossless": "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
}

#: pip packages that provide each encoder (pydicom's plugin names)
_PLUGIN_HINT = {
    TRANSFER_SYNTAXES["rle"]: "pylibjpeg-rle (or pydicom's native encoder)",
    TRANSFER_SYNTAXES["jpeg-ls-lossless"]: "pyjpegls",
    TRANSFER_SYNTAXES["jpeg2000-lossless"]: "pylibjpeg-openjpeg",
}


def resolve(alias: str) -> UID:
    """Alias (or UID) -> transfer syntax UID; raise UsageError otherwise."""
    from pydicom.uid import UID

    key = str(alias).strip().lower()
    if key in TRANSFER_SYNTAXES:
        return UID(TRANSFER_SYNTAXES[key])
    for uid in TRANSFER_SYNTAXES.values():
        if key == uid:
            return UID(uid)
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
