"""Encoding datasets to DICOM Part 10 files, fast for batches.

Outputs of one batch share most of their attributes (the scrubbed template).
:class:`DatasetWriter` encodes each top-level element with pydicom's own
``write_data_element`` and keeps the bytes of elements whose value is the
very object it encoded before (and, for multi-valued elements, still equal),
so shared attributes are encoded once per batch instead of once per file.
The result is byte-identical to ``Dataset.save_as(..., enforce_file_format=True)``
for the datasets the engine produces (Explicit VR Little Endian or an
encapsulated syntax); ``tests/test_writer.py`` checks that.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import (
    correct_ambiguous_vr_element,
    write_data_element,
    write_file_meta_info,
)
from pydicom.multival import MultiValue
from pydicom.valuerep import IS, DSdecimal, DSfloat, PersonName

#: bytes or a C-contiguous array (anything ``file.write`` takes)
Buffer = Any

#: PS3.10 7.1: 128-byte preamble and the DICM prefix
PREAMBLE = b"\x00" * 128 + b"DICM"

#: elements larger than this are never cached (pixel data)
_MAX_CACHED = 1 << 16

#: value types that cannot change after creation
_IMMUTABLE = (str, int, float, bytes, DSfloat, DSdecimal, IS, type(None))

#: tag -> (value object, fingerprint, VR, encodings, encoded bytes)
_Cache = dict[int, tuple[object, object, str, tuple[str, ...], bytes]]


def encodings_of(ds: Dataset) -> tuple[str, ...]:
    """The Python codecs of ``ds``'s Specific Character Set."""
    charset = ds._character_set
    return tuple(charset) if isinstance(charset, list) else (charset,)


def _by_int(ds: Dataset) -> dict[int, DataElement | RawDataElement]:
    """``ds``'s elements by tag; looked up with plain ints, as BaseTag is an
    int with the same hash and equality."""
    return cast("dict[int, DataElement | RawDataElement]", ds._dict)


def _converted(ds: Dataset, elements: dict[int, DataElement | RawDataElement],
               tag: int) -> DataElement:
    elem = elements[tag]
    if isinstance(elem, DataElement):
        return elem
    return ds[tag]  # a raw element: let pydicom convert it


def _fingerprint(value: object) -> object:
    """A key equal for two values only if they encode to the same bytes.

    Numbers-as-strings (DS, IS) keep their original text, so they compare
    by text; other values by type and equality; anything else by identity
    (the cache holds the object, so its id cannot be reused).
    """
    if isinstance(value, (MultiValue, list, tuple)):
        return ("seq", tuple(_fingerprint(v) for v in value))
    if isinstance(value, (DSfloat, DSdecimal, IS, PersonName)):
        return (type(value), str(value))
    if isinstance(value, (str, int, float, bytes)) or value is None:
        return (type(value), value)
    return ("id", id(value))


class DatasetWriter:
    """Encodes datasets; one instance per batch."""

    def __init__(self) -> None:
        self._cache: _Cache = {}
        self._meta_cache: _Cache = {}

    def encode(self, ds: Dataset) -> bytes:
        split = self.segments(ds)
        if split is None:
            # not a syntax the engine writes: let pydicom do everything
            buf = DicomBytesIO()
            ds.save_as(buf, enforce_file_format=True)
            return buf.getvalue()
        head, elements = split
        return head + b"".join([data for _tag, data in elements])

    def segments(self, ds: Dataset) -> tuple[bytes, list[tuple[int, bytes]]] | None:
        """``(preamble and file meta, [(tag, encoded element), ...] in tag
        order)``, whose concatenation is the file; None when the transfer
        syntax is not explicit VR little endian (plain or encapsulated)."""
        meta = ds.file_meta
        tsyntax = meta.TransferSyntaxUID
        if not tsyntax.is_little_endian or tsyntax.is_implicit_VR or tsyntax.is_deflated:
            return None
        if "PixelData" in ds:
            # PS3.5 A.4: encapsulated pixel data has undefined length
            ds["PixelData"].is_undefined_length = tsyntax.is_compressed
        head = PREAMBLE + self._encode_meta(meta)
        encodings = encodings_of(ds)
        elements = _by_int(ds)
        out = []
        # sort plain ints: BaseTag's Python-level __lt__ is slow
        for tag in sorted(elements):
            elem = _converted(ds, elements, tag)
            if " or " in elem.VR:
                fixed = correct_ambiguous_vr_element(elem, ds, True)
                assert isinstance(fixed, DataElement)  # given a DataElement, it returns one
                elem = fixed
            value = elem.value
            cacheable = elem.VR != "SQ" and not (
                isinstance(value, bytes) and len(value) > _MAX_CACHED)
            out.append((tag, self._element(elem, encodings, self._cache if cacheable else None)))
        return head, out

    def element_bytes(self, elem: DataElement, encodings: tuple[str, ...] = ("iso8859",),
                      *, cached: bool = False) -> bytes:
        """One element in explicit VR little endian (``cached``: through the
        batch cache, for values likely to repeat)."""
        return self._element(elem, encodings, self._cache if cached else None)

    def meta_bytes(self, meta: Dataset) -> list[tuple[int, bytes]]:
        """The file meta elements but the group length, encoded, in tag order."""
        elements = _by_int(meta)
        return [(t, self._element(_converted(meta, elements, t), ("iso8859",), self._meta_cache))
                for t in sorted(elements) if t != 0x00020000]

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def meta_group_length(length: int) -> bytes:
        """(0002,0000) File Meta Information Group Length (PS3.10 7.1)."""
        return DatasetWriter._element(DataElement(0x00020000, "UL", length), ("iso8859",), None)

    def _encode_meta(self, meta: FileMetaDataset) -> bytes:
        """File meta (PS3.10 7.1), as ``write_file_meta_info(enforce_standard=True)``
        writes it, with the same per-element cache."""
        if "FileMetaInformationVersion" not in meta or "ImplementationClassUID" not in meta:
            buf = DicomBytesIO()
            buf.is_little_endian, buf.is_implicit_VR = True, False
            write_file_meta_info(buf, meta, enforce_standard=True)
            return buf.getvalue()
        body = b"".join([data for _tag, data in self.meta_bytes(meta)])
        return self.meta_group_length(len(body)) + body

    @staticmethod
    def _element(elem: DataElement, encodings: tuple[str, ...], cache: _Cache | None) -> bytes:
        """Encode one element with pydicom, or reuse the bytes cached for an
        equal value (same fingerprint, VR and character set)."""
        value = elem.value
        key = None
        if cache is not None:
            hit = cache.get(int(elem.tag))
            if hit is not None and hit[2] == elem.VR and hit[3] == encodings:
                # an immutable value that is the very object encoded before
                # (the cache holds it, so its identity is not reused)
                if hit[0] is value and isinstance(value, _IMMUTABLE):
                    return hit[4]
                key = _fingerprint(value)
                if hit[1] == key:
                    return hit[4]
            key = _fingerprint(value) if key is None else key
        buf = DicomBytesIO()
        buf.is_little_endian, buf.is_implicit_VR = True, False
        write_data_element(buf, elem, list(encodings))
        data = buf.getvalue()
        if cache is not None:
            # the value object is kept so that an id() fingerprint stays valid
            cache[int(elem.tag)] = (value, key, elem.VR, encodings, data)
        return data


