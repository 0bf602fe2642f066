"""JPEG (ISO/IEC 10918-1) bitstreams: what a file holds, and Pillow's encoder.

:func:`parse` reads the markers up to the first scan: the frame type (SOF0
baseline ... SOF15), precision, size, components with their sampling
factors and the JFIF (APP0) and Adobe (APP14) segments that say which colour
space the components are in. pydicom's ``_get_jpg_parameters`` reads
precision, size and component IDs but not the frame type nor the sampling
factors, which decide whether a stream may be stored as is and which
Photometric Interpretation it has, hence this small parser.

:func:`for_dicom` is the stream stored in a DICOM fragment: PS3.5 8.2.1 lets
the stream's own markers describe it, but the DICOM attributes are the
metadata. We keep APP0 (JFIF) and APP14 (Adobe), which tell decoders the
colour transform, and drop every other APPn (EXIF, XMP, ICC, vendor
segments: camera serials, GPS and orientation that the DICOM header does
not carry) and COM segments; the frame, tables and entropy-coded data are
kept byte for byte.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

#: SOF markers (second byte) -> process name (ISO/IEC 10918-1 Table B.1)
_SOF = {
    0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive", 0xC3: "lossless",
    0xC5: "differential sequential", 0xC6: "differential progressive",
    0xC7: "differential lossless", 0xC9: "arithmetic extended",
    0xCA: "arithmetic progressive", 0xCB: "arithmetic lossless",
    0xCD: "arithmetic differential sequential", 0xCE: "arithmetic differential progressive",
    0xCF: "arithmetic differential lossless",
}

#: markers without a length field (ISO/IEC 10918-1 B.1.1.3): TEM, RSTn
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})

#: APPn segments kept in the stream stored in DICOM: APP0 (JFIF), APP14 (Adobe)
_KEPT_APP = frozenset({0xE0, 0xEE})

#: the component IDs ``R``, ``G``, ``B``: an RGB stream without JFIF or Adobe markers
_RGB_IDS = (0x52, 0x47, 0x42)


@dataclass(frozen=True)
class Keep:
    """How JPEG inputs are stored when the output syntax is JPEG."""

    extended: bool = False  # JPEG Extended (SOF1, 8 or 12 bits) allowed, not only baseline
    only: bool = False  # ``--passthrough-only``: refuse any input that must be (re-)encoded


@dataclass(frozen=True)
class JpegInfo:
    """What :func:`parse` found before the first scan."""

    sof: int  # the SOF marker's second byte (0xC0 baseline, 0xC1 extended, ...)
    precision: int
    rows: int
    columns: int
    components: tuple[tuple[int, int, int], ...]  # (id, horizontal, vertical sampling)
    jfif: bool
    adobe_transform: int | None  # APP14 Adobe colour transform: 0 none, 1 YCbCr, 2 YCCK

    @property
    def process(self) -> str:
        return _SOF.get(self.sof, f"SOF{self.sof - 0xC0}")

    @property
    def samples(self) -> int:
        return len(self.components)

    @property
    def photometric(self) -> str | None:
        """(0028,0004) of the stream as is (PS3.5 8.2.1, PS3.3 C.7.6.3.1.2);
        None when DICOM has none (CMYK, YCCK, 2 or 4 components)."""
        if self.samples == 1:
            return "MONOCHROME2"
        if self.samples != 3:
            return None
        ids = tuple(c[0] for c in self.components)
        if self.adobe_transform is not None:
            rgb = self.adobe_transform == 0
        else:
            # JFIF is always YCbCr; without JFIF or Adobe, IDs R G B mean RGB
            rgb = not self.jfif and ids == _RGB_IDS
        # PS3.5 8.2.1: YCbCr JPEG is YBR_FULL_422 whatever the chrominance
        # sampling (4:4:4, 4:2:2, 4:2:0: the stream's own sampling factors
        # drive the decoder); dciodvfy refuses YBR_FULL with a JPEG syntax
        return "RGB" if rgb else "YBR_FULL_422"

    def not_storable(self, extended: bool) -> str | None:
        """Why this stream cannot be stored as is in JPEG Baseline
        (``extended``: or JPEG Extended) (PS3.5 A.4.1: processes 1, and 2 and 4
        (8 or 12 bits, Huffman, sequential)); None when it can."""
        allowed = (0xC0, 0xC1) if extended else (0xC0,)
        if self.sof not in allowed:
            return f"{self.process} JPEG is not a DICOM {'extended' if extended else 'baseline'} process"
        if self.precision not in ((8, 12) if extended else (8,)):
            return f"{self.precision}-bit JPEG does not fit JPEG {'Extended' if extended else 'Baseline'}"
        if self.photometric is None:
            kind = "CMYK" if self.samples == 4 else f"{self.samples}-component"
            return f"{kind} JPEG has no DICOM Photometric Interpretation"
        return None


def parse(data: bytes) -> JpegInfo:
    """The frame header and colour markers of a JPEG stream; ValueError when
    it is not one or ends before its frame header."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream (no SOI marker)")
    jfif, adobe = False, None
    for marker, start, end in _segments(data):
        body = data[start:end]
        if marker == 0xE0 and body.startswith(b"JFIF\x00"):
            jfif = True
        elif marker == 0xEE and body.startswith(b"Adobe") and len(body) >= 12:
            adobe = body[11]
        elif marker in _SOF:
            precision, rows, columns, n = struct.unpack(">BHHB", body[:6])
            comps = tuple((body[6 + 3 * i], body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15)
                          for i in range(n))
            if len(comps) != n or n == 0:
                raise ValueError("truncated JPEG frame header")
            return JpegInfo(marker, precision, rows, columns, comps, jfif, adobe)
        elif marker == 0xDA:
            break
    raise ValueError("no JPEG frame header before the first scan")


def _segments(data: bytes) -> list[tuple[int, int, int]]:
    """``(marker, body start, body end)`` of each marker segment from SOI to
    the first SOS (whose body ends at its header)."""
    out, offset = [], 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {offset}")
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _STANDALONE:
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2:offset + 4])
        if length < 2 or offset + 2 + length > len(data):
            raise ValueError(f"truncated JPEG segment at byte {offset}")
        out.append((marker, offset + 4, offset + 2 + length))
        if marker == 0xDA:
            break
        offset += 2 + length
    return out


def for_dicom(data: bytes) -> bytes:
    """The stream as stored in a DICOM fragment: every APPn but APP0 (JFIF)
    and APP14 (Adobe), and COM, removed; everything else byte for byte.
    The fragment ends at EOI (trailing bytes after it dropped) and is
    padded to even length with 0x00 after EOI (PS3.5 A.4)."""
    kept = [data[:2]]
    offset = 2
    for marker, start, end in _segments(data):
        seg_start = start - 4
        kept.append(data[offset:seg_start])  # fill bytes, standalone markers
        if marker == 0xDA:
            kept.append(data[seg_start:_end_of_image(data, end)])
            offset = len(data)
            break
        if not ((0xE0 <= marker <= 0xEF and marker not in _KEPT_APP) or marker == 0xFE):
            kept.append(data[seg_start:end])
        offset = end
    out = b"".join(kept)
    return out + b"\x00" if len(out) % 2 else out


def _end_of_image(data: bytes, start: int) -> int:
    """The offset just after the EOI marker (the last ``FFD9``), or the end."""
    eoi = data.rfind(b"\xff\xd9", start)
    return eoi + 2 if eoi >= 0 else len(data)


def encode(arr: np.ndarray, quality: int) -> bytes:
    """``arr`` (8-bit gray or RGB) as a baseline JPEG stream through Pillow:
    Huffman, sequential, no chrominance subsampling (4:4:4, labelled
    YBR_FULL_422 as every YCbCr JPEG stream in DICOM), no
    JFIF or EXIF metadata beyond the JFIF header Pillow writes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(
        buf, format="JPEG", quality=quality, subsampling=0, optimize=False, progressive=False)
    return buf.getvalue()
