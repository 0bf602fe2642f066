"""Batch outputs of one kind, encoded once and filled in per output.

Within a batch, every output made from the same kind of raster (same pixel
plan, samples, dtype and source encoding; see ``Converter._kind``) is the
same dataset except for a few top-level attributes: :data:`VARYING` (the SOP
Instance UID, also in the file meta, Instance Number, Lossy Image
Compression Ratio, the window, Rows, Columns and the Pixel Data), the top-level elements
the profile renders from per-output variables such as ``{stem}``
(:meth:`Profile.per_output_tags`), and those a per-output hook sets (a
series' slice positions). That holds when the pixels are stored natively
(no per-file compression) and the profile can be split so.

A :class:`Stamp` keeps the encoded bytes of everything else, taken from the
first output of the kind, which the engine built and encoded the ordinary
way. Later outputs only encode their own elements and write the pixel array
straight from memory. :func:`build` refuses (returns None) unless the
varying elements recomputed for that first output encode exactly as they
did in it; the engine then builds the kind's second output both ways and
uses the stamp only if the bytes are the same (``Converter.render``).
``tests/test_stamp.py`` checks byte identity over templates, image kinds,
profiles and series.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import PersonName

from dicom_rewrite.encode.writer import PREAMBLE, Buffer, DatasetWriter, encodings_of

SOP_INSTANCE_UID = 0x00080018
INSTANCE_NUMBER = 0x00200013
LOSSY_RATIO = 0x00282112
WINDOW_CENTER = 0x00281050
WINDOW_WIDTH = 0x00281051
PIXEL_DATA = 0x7FE00010
MEDIA_SOP_INSTANCE_UID = 0x00020003
ROWS = 0x00280010
COLUMNS = 0x00280011

#: top-level tags that may differ between outputs of one kind (images of
#: any size are one kind: their Rows and Columns are filled in per output)
VARYING = frozenset({SOP_INSTANCE_UID, INSTANCE_NUMBER, LOSSY_RATIO, WINDOW_CENTER,
                     WINDOW_WIDTH, ROWS, COLUMNS, PIXEL_DATA})

#: varying tags every output has
ALWAYS = frozenset({SOP_INSTANCE_UID, PIXEL_DATA})

#: the VRs of the varying elements but Pixel Data (PS3.5 Table 6.2-1): text
#: with a 16-bit length, padded to even length with NUL (UI) or space, and
#: one unsigned short (US, written from its decimal text)
_SHORT_TEXT_PAD = {"UI": b"\x00", "IS": b" ", "DS": b" "}
_SHORT_VRS = frozenset({*_SHORT_TEXT_PAD, "US"})

#: ``(tag, VR, text)``
Value = tuple[int, str, str]


def short_element(tag: int, vr: str, text: str) -> bytes:
    """One UI, IS, DS or US element in explicit VR little endian (PS3.5
    7.1.2: tag, VR, 16-bit length, value padded to even length; US: 2 bytes).
    :func:`build` checks it against pydicom's encoding before a stamp is used."""
    if vr == "US":
        return struct.pack("<HH2sHH", tag >> 16, tag & 0xFFFF, b"US", 2, int(text))
    value = text.encode("ascii")
    if len(value) % 2:
        value += _SHORT_TEXT_PAD[vr]
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


#: text VRs with a 16-bit length (PS3.5 7.1.2) whose value an output may
#: render per file (a profile's ``{meta[...]}``), padded with space (UI: NUL)
_SHORT_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UI"})


def text_element(tag: int, vr: str, value: object) -> bytes | None:
    """One top-level single text value of ``vr`` in explicit VR little endian,
    as pydicom writes it (PS3.5 6.2, 7.1.2: even length, padded); None when
    it is not such a value (then the caller asks pydicom). ASCII only."""
    if vr not in _SHORT_TEXT_VRS or not isinstance(value, str) or not value.isascii():
        return None
    data = value.encode("ascii")
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    if len(data) > 0xFFFF:
        return None
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(data)) + data


def element_bytes(writer: DatasetWriter, elem: DataElement, encodings: tuple[str, ...]) -> bytes:
    """One per-output top-level element: a plain text value directly
    (:func:`text_element`), any other by pydicom (through the batch cache)."""
    value = elem.value
    text = str(value) if isinstance(value, PersonName) else value
    return text_element(int(elem.tag), elem.VR, text) or writer.element_bytes(elem, encodings, cached=True)


def shape_values(rows: int, columns: int) -> list[Value]:
    """(0028,0010) Rows and (0028,0011) Columns as varying values (PS3.3 C.7.6.3.1)."""
    return [(ROWS, "US", str(rows)), (COLUMNS, "US", str(columns))]


def value_element(value: Value) -> DataElement:
    """The data element of one varying ``(tag, VR, text)`` value, as the
    engine sets it (US as a number)."""
    tag, vr, text = value
    return DataElement(tag, vr, int(text) if vr == "US" else text)


def pixel_header(vr: str, length: int) -> bytes:
    """The explicit VR little endian header of (7FE0,0010) Pixel Data with
    VR OB or OW (PS3.5 7.1.2: tag, VR, 2 reserved bytes, 32-bit length)."""
    return struct.pack("<HH2s2xI", PIXEL_DATA >> 16, PIXEL_DATA & 0xFFFF, vr.encode(), length)


def pixel_parts(arr: np.ndarray, vr: str) -> list[Buffer]:
    """Pixel Data as written: header, the array's bytes, a pad byte to even
    length (PS3.5 8.1.1)."""
    n = arr.nbytes
    parts: list[Buffer] = [pixel_header(vr, n + n % 2), arr.reshape(-1)]
    if n % 2:
        parts.append(b"\x00")
    return parts


@dataclass(frozen=True)
class Stamp:
    head: bytes  # preamble and "DICM"
    meta_before: bytes  # encoded file meta elements before (0002,0003) but the group length
    meta_after: bytes  # ... and after it
    runs: tuple[bytes | int, ...]  # the dataset in tag order: fixed bytes or a varying tag
    holes: frozenset[int]  # the varying tags present, and the profile's per-output ones
    caller_tags: frozenset[int]  # holes the caller encodes (see :func:`build`)
    encodings: tuple[str, ...]  # the outputs' character set, as Python codecs
    scope: str  # the outputs' Patient ID (the scope of their UIDs)
    study_series: tuple[str, str]  # the outputs' Study and Series Instance UIDs
    notes: tuple[str, ...]  # the engine's notes for this kind (not the raster's own)

    @property
    def nbytes(self) -> int:
        """The bytes this stamp holds (for the batch's memory budget)."""
        return (len(self.head) + len(self.meta_before) + len(self.meta_after)
                + sum(len(run) for run in self.runs if isinstance(run, bytes)))

    def fits(self, values: Iterable[Value], encoded: dict[int, bytes]) -> bool:
        """True when an output's varying elements (but its UID and pixels)
        and the elements the caller encoded (``encoded``) are the ones this
        stamp has holes for; otherwise the caller builds it the ordinary
        way."""
        return {v[0] for v in values} | encoded.keys() | ALWAYS == self.holes

    def fill(self, uid: str, arr: np.ndarray, vr: str, values: Iterable[Value],
             encoded: dict[int, bytes]) -> list[Buffer]:
        """The parts of one output's file (its elements must :meth:`fit`)."""
        by_tag = {v[0]: v for v in values}
        by_tag[SOP_INSTANCE_UID] = (SOP_INSTANCE_UID, "UI", uid)
        uid_elem = short_element(MEDIA_SOP_INSTANCE_UID, "UI", uid)
        meta_len = len(self.meta_before) + len(uid_elem) + len(self.meta_after)
        chunk = [self.head, DatasetWriter.meta_group_length(meta_len), self.meta_before,
                 uid_elem, self.meta_after]
        parts: list[Buffer] = []
        for run in self.runs:
            if isinstance(run, bytes):
                chunk.append(run)
            elif run == PIXEL_DATA:
                # the array goes to the file as it is; the bytes around it are
                # joined, so each output takes a few writes
                header, *rest = pixel_parts(arr, vr)
                chunk.append(header)
                parts += [b"".join(chunk), *rest]
                chunk = []
            elif run in encoded:
                chunk.append(encoded[run])
            else:
                chunk.append(short_element(*by_tag[run]))
        if chunk:
            parts.append(b"".join(chunk))
        return parts


def build(writer: DatasetWriter, ds: Dataset, arr: np.ndarray, vr: str,
          values: Iterable[Value], notes: Iterable[str],
          caller_tags: frozenset[int] = frozenset()) -> Stamp | None:
    """A stamp from the first output ``ds`` of a kind, given the varying
    elements recomputed for it (``arr``/``vr``: its pixels; ``values``: the
    others but its SOP Instance UID, which is read from ``ds``); None unless they
    encode exactly as pydicom encodes them in ``ds`` and ``ds`` is stored
    natively. ``caller_tags``: more holes, for top-level elements of ``ds``
    that the caller encodes for each output (the profile's per-output
    values; a per-output hook's attributes); every tag of :data:`VARYING`
    in ``ds`` must be a hole, from ``values`` or from ``caller_tags``."""
    meta = ds.file_meta
    if meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        return None
    split = writer.segments(ds)
    if split is None:
        return None
    _meta, segments = split
    encoded = dict(segments)
    uid = str(ds.get("SOPInstanceUID", ""))
    by_tag = {v[0]: v for v in values}
    by_tag[SOP_INSTANCE_UID] = (SOP_INSTANCE_UID, "UI", uid)
    holes = frozenset(by_tag) | ALWAYS | caller_tags
    if not _holes_match(encoded, holes, by_tag, arr, vr):
        return None
    meta_segments = writer.meta_bytes(meta)
    tags = [t for t, _ in meta_segments]
    if (MEDIA_SOP_INSTANCE_UID not in tags
            or short_element(MEDIA_SOP_INSTANCE_UID, "UI", uid)
            != dict(meta_segments)[MEDIA_SOP_INSTANCE_UID]):
        return None
    i = tags.index(MEDIA_SOP_INSTANCE_UID)
    return Stamp(
        head=PREAMBLE,
        meta_before=b"".join(d for _t, d in meta_segments[:i]),
        meta_after=b"".join(d for _t, d in meta_segments[i + 1:]),
        runs=_runs(segments, holes),
        holes=holes,
        caller_tags=caller_tags,
        encodings=encodings_of(ds),
        scope=str(ds.get("PatientID", "") or ""),
        study_series=(str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", ""))),
        notes=tuple(notes),
    )


def _holes_match(encoded: dict[int, bytes], holes: frozenset[int], by_tag: dict[int, Value],
                 arr: np.ndarray, vr: str) -> bool:
    """Every varying element is a hole, every hole is in ``ds``, and the
    recomputed values encode exactly as pydicom encoded them."""
    if (not VARYING & encoded.keys() <= holes or not holes <= encoded.keys()
            or any(v[1] not in _SHORT_VRS for v in by_tag.values())):
        return False
    if any(short_element(*value) != encoded[tag] for tag, value in by_tag.items()):
        return False
    return b"".join(_bytes(p) for p in pixel_parts(arr, vr)) == encoded[PIXEL_DATA]


def _runs(segments: Iterable[tuple[int, bytes]], holes: frozenset[int]) -> tuple[bytes | int, ...]:
    """The fixed bytes between the holes, each hole named by its tag."""
    runs: list[bytes | int] = []
    for tag, data in segments:
        if tag in holes:
            runs.append(tag)
        elif runs and isinstance(runs[-1], bytes):
            runs[-1] += data
        else:
            runs.append(data)
    return tuple(runs)


def same_bytes(parts: Iterable[Buffer], data: bytes) -> bool:
    """Is the concatenation of ``parts`` equal to ``data``? (No copy made.)"""
    view, offset = memoryview(data), 0
    for part in parts:
        chunk = memoryview(part).cast("B")
        if view[offset:offset + chunk.nbytes] != chunk:
            return False
        offset += chunk.nbytes
    return offset == len(data)


def _bytes(part: Buffer) -> bytes:
    return part if isinstance(part, bytes) else np.ascontiguousarray(part).tobytes()
