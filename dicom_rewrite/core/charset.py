"""Specific Character Set (0008,0005): make it able to encode every value
(PS3.3 C.12.1.1.2; PS3.5 6.1)."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})


def text_values(ds: Dataset, base: Dataset | None = None) -> Iterable[str]:
    """Text values of ``ds`` at every depth; with ``base``, top-level values
    that are the very objects of ``base`` (already checked) are skipped."""
    shared = base._dict if base is not None else {}
    for tag, elem in ds._dict.items():
        if not isinstance(elem, DataElement):
            elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from text_values(item)
            continue
        if elem.VR not in _TEXT_VRS or elem.value in (None, ""):
            continue
        old = shared.get(tag)
        if old is not None and isinstance(old, DataElement) and old.value is elem.value:
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        for v in values:
            yield str(v)


def fix_character_set(ds: Dataset, base: Dataset | None = None) -> None:
    """Make (0008,0005) Specific Character Set able to encode every value.

    Keeps the template's set when it can encode everything; otherwise (or when
    absent and a value is not ASCII) switches to UTF-8 (``ISO_IR 192``).
    ``base``: a dataset whose values were already found encodable with the
    same character set (the scrubbed template), so only the others are read.
    """
    from pydicom.charset import convert_encodings

    if base is not None and base.get("SpecificCharacterSet") != ds.get("SpecificCharacterSet"):
        base = None
    text = list(text_values(ds, base))
    if all(t.isascii() for t in text):
        return
    current = ds.get("SpecificCharacterSet")
    if current:
        # a multi-valued set (ISO 2022 code extensions) is a MultiValue, not a list
        codecs = convert_encodings(list(current) if isinstance(current, (list, MultiValue))
                                   else [current])
        try:
            for t in text:
                t.encode(codecs[0])
            if len(codecs) == 1:
                return
        except (UnicodeEncodeError, LookupError):
            pass
    ds.SpecificCharacterSet = "ISO_IR 192"
