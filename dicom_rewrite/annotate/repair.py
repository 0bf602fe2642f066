"""Sloppy real-world sources made fit to derive from.

An annotation copies its source's patient, study and series attributes into
the burned-in image and the presentation state; a value the source got
wrong would make both invalid (or make highdicom refuse the presentation
state). :func:`repair_source` returns the source itself when nothing is
wrong (so clean sources give byte-identical outputs), else a copy with each
defect repaired or dropped, one note per repair:

* no Study Instance UID: a new study UID (one per source series);
* a multi-valued or ISO 2022 (code extension) Specific Character Set, or an
  empty one: the values are decoded with the source's own character set and
  written in UTF-8 (``ISO_IR 192``) when one is not ASCII;
* Patient's Sex not M, F or O: emptied; a malformed date, date-time or Patient's Age:
  emptied; a time written ``HH:MM:SS``: ``HHMMSS``; a Study ID longer than
  16 characters: emptied;
* a zero or negative Pixel Spacing: removed;
* in sequence items: an empty Coding Scheme Version, empty Requested
  Procedure ID / Scheduled Procedure Step ID (Type 1C), a code item without
  Code Meaning or Coding Scheme Designator: removed; a Request Attributes
  Sequence without items: removed;
* more than one Anatomic Region Sequence item: the first is kept; a top-level
  sequence without items that no IOD involved makes Type 2: removed;
* Patient Identity Removed YES without De-identification Method: one saying
  the source was de-identified;
* an invalid UID (not digits and dots): replaced by a derived ``2.25`` UID.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.valuerep import PersonName

from dicom_rewrite.core import iod
from dicom_rewrite.core.uids import UidMap, is_valid_uid

__all__ = ["DEIDENTIFIED_SOURCE", "repair_source", "source_laterality"]

#: (0012,0063) De-identification Method written when the source says its
#: identity was removed but not how
DEIDENTIFIED_SOURCE = "de-identified source (method not recorded)"

_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
#: PS3.5 6.2 DT: YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX]
_DATE_TIME = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$")
#: the IODs an annotation writes besides its source's: Secondary Capture
#: (the burned-in image) and Grayscale Softcopy Presentation State
_DERIVED_CLASSES = ("1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.11.1")
_COLON_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}(\.\d{1,6})?))?$")
_AGE = re.compile(r"^(\d{1,3})\s*([DWMY])$")
_CONTENT = re.compile(r"^(Content|\w+ContentItem)Sequence$")
_CODE_STRING = re.compile(r"^[A-Z0-9 _]{1,16}$")
_TEXT_VRS = frozenset({"PN", "SH", "LO", "ST", "LT", "UT", "UC"})
_ITEM_EMPTY_1C = ("CodingSchemeVersion", "RequestedProcedureID", "ScheduledProcedureStepID")
_REF_UID_KEYWORDS = frozenset({"ReferencedSOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                               "FrameOfReferenceUID", "SOPInstanceUID"})


class _Repair:
    """A copy-on-first-write view of the source and the notes of what changed."""

    def __init__(self, ds: Dataset) -> None:
        self.source = ds
        self.ds = ds
        self.notes: list[str] = []

    def out(self) -> Dataset:
        if self.ds is self.source:
            self.ds = copy.copy(self.source)
            self.ds._dict = dict(self.source._dict)
        return self.ds

    def set(self, kw: str, value: Any, note: str) -> None:
        setattr(self.out(), kw, value)
        self.notes.append(note)

    def delete(self, kw: str, note: str) -> None:
        del self.out()[kw]
        self.notes.append(note)

    def replace_sequence(self, kw: str | int, fix: Callable[[DicomSequence, bool], list[str]]) -> None:
        """Repair a deep copy of sequence ``kw`` when ``fix`` finds something
        to repair in a dry run (``fix(seq, False)`` changes nothing)."""
        if not fix(self.ds[kw].value, False):
            return
        seq = copy.deepcopy(self.ds[kw].value)
        notes = fix(seq, True)
        if notes:
            out = self.out()
            out[Tag(kw)] = DataElement(Tag(kw), "SQ", seq)
            if not seq:
                del out[Tag(kw)]
            self.notes.extend(notes)


def _text(ds: Dataset, kw: str) -> str:
    return str(ds.get(kw, "") or "").strip()


def repair_source(ds: Dataset, uid_map: UidMap) -> tuple[Dataset, list[str]]:
    """``ds`` itself and no notes when it needs no repair, else a repaired
    shallow copy (``ds`` is not modified) and one note per repair."""
    r = _Repair(ds)
    for step in (_character_set, _study, _invalid_uids, _patient, _study_codes, _dates_and_times, _pixel_spacing,
                 _sequences, _deidentification):
        step(r, uid_map)
    return r.ds, r.notes


def source_laterality(ds: Dataset) -> str | None:
    """The (0020,0060) Laterality an output derived from ``ds`` carries:
    the source's Laterality, else its Image Laterality when R or L; None
    when it has neither."""
    for kw in ("Laterality", "ImageLaterality"):
        value = _text(ds, kw).upper()
        if value in ("R", "L"):
            return value
    return None


# --------------------------------------------------------------- the steps


def _charset_values(ds: Dataset) -> list[str] | None:
    """The Specific Character Set's values when they need a repair
    (multi-valued, ISO 2022 code extensions, empty), else None."""
    if "SpecificCharacterSet" not in ds:
        return None
    value = ds["SpecificCharacterSet"].value
    values = [str(v).strip() for v in value] if isinstance(value, (MultiValue, list)) else [str(value or "").strip()]
    if len(values) == 1 and values[0] and not values[0].startswith("ISO 2022"):
        return None
    return values


def _character_set(r: _Repair, _uids: UidMap) -> None:
    values = _charset_values(r.ds)
    if values is None:
        return
    if not any(values):
        r.delete("SpecificCharacterSet", "empty Specific Character Set removed (default repertoire)")
        return
    out = r.out()
    for elem in r.source:  # values decoded with the source's own character set
        if elem.VR in _TEXT_VRS or elem.VR == "SQ":
            out[elem.tag] = copy.deepcopy(elem)
    out.decode()
    _plain_person_names(out)
    old = "\\".join(values)
    if all(str(e.value).isascii() for e in out.iterall() if e.VR in _TEXT_VRS and e.value):
        del out["SpecificCharacterSet"]
        r.notes.append(f"Specific Character Set {old!r}: every value is ASCII, written without one")
    else:
        out.SpecificCharacterSet = "ISO_IR 192"
        r.notes.append(f"Specific Character Set {old!r}: values decoded and written in UTF-8 (ISO_IR 192)")


def _plain_person_names(ds: Dataset) -> None:
    """Person names without their source bytes, as UTF-8 text (pydicom
    would otherwise re-decode them from the source's bytes)."""
    for elem in ds.iterall():
        if elem.VR == "PN" and elem.value:
            names = [PersonName(str(v), encodings=["UTF8"]) for v in (elem.value if elem.VM > 1 else [elem.value])]
            elem.value = names if elem.VM > 1 else names[0]


def _study(r: _Repair, uids: UidMap) -> None:
    if not _text(r.ds, "SeriesInstanceUID"):
        uid = uids.get(f"<annotation new series:{_text(r.ds, 'SOPInstanceUID')}>", _text(r.ds, "PatientID"))
        r.set("SeriesInstanceUID", uid, f"the source has no Series Instance UID: it is referenced in series {uid}")
    if _text(r.ds, "StudyInstanceUID"):
        return
    of = _text(r.ds, "SeriesInstanceUID")
    uid = uids.get(f"<annotation new study:{of}>", _text(r.ds, "PatientID"))
    r.set("StudyInstanceUID", uid, f"the source has no Study Instance UID: the annotation is in a new study {uid}")


def _valid_uid(old: str) -> str:
    return "2.25." + str(int.from_bytes(hashlib.sha256(old.encode()).digest()[:16], "big"))


def _invalid_uids(r: _Repair, _uids: UidMap) -> None:
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        old = _text(r.ds, kw)
        if old and not is_valid_uid(old):
            new = _valid_uid(old)
            r.set(kw, new, f"{kw} {old[:20]}... is not a valid UID: written as {new}")
    for kw in ("SourceImageSequence", "ReferencedImageSequence", "ReferencedStudySequence",
               "ReferencedSeriesSequence", "RequestAttributesSequence"):
        if r.ds.get(kw):
            r.replace_sequence(kw, _fix_item_uids)


def _fix_item_uids(seq: DicomSequence, apply: bool) -> list[str]:
    notes = []
    for item in seq:
        for elem in item.iterall():
            if elem.VR == "UI" and elem.keyword in _REF_UID_KEYWORDS and elem.value:
                old = str(elem.value).strip("\x00 ")
                if not is_valid_uid(old):
                    if apply:
                        elem.value = _valid_uid(old)
                    notes.append(f"{elem.keyword} {old[:20]}... in a sequence is not a valid UID: "
                                 f"written as {elem.value}")
    return notes


def _patient(r: _Repair, _uids: UidMap) -> None:
    sex = r.ds.get("PatientSex")
    text = str(sex or "")
    if text.strip() and text.strip().upper() not in ("M", "F", "O"):
        r.set("PatientSex", None, f"Patient's Sex {text!r} is not M, F or O: emptied")
    elif text != text.strip().upper():
        r.set("PatientSex", text.strip().upper(), f"Patient's Sex {text!r} written {text.strip().upper()!r}")
    age = r.ds.get("PatientAge")
    if age:
        m = _AGE.match(str(age).strip())
        fixed = f"{int(m[1]):03d}{m[2]}" if m else None
        if fixed != str(age):
            r.set("PatientAge", fixed, f"Patient's Age {str(age)!r} " + (f"written {fixed}" if fixed else "emptied"))


def _study_codes(r: _Repair, _uids: UidMap) -> None:
    body_part = r.ds.get("BodyPartExamined")
    if body_part and not _CODE_STRING.match(str(body_part)):
        r.delete("BodyPartExamined", f"Body Part Examined {str(body_part)[:32]!r} is not a code string: removed")
    study_id = r.ds.get("StudyID")
    if study_id and len(str(study_id)) > 16:
        r.set("StudyID", None, "Study ID longer than 16 characters: emptied")


def _fixed_date_time(vr: str, value: str) -> tuple[bool, str | None]:
    """(needs a repair, the repaired value or None to empty it) of a DA or TM value."""
    if vr == "DA":
        return (not _DATE.match(value)), None
    if vr == "DT":
        return (not _DATE_TIME.match(value)), None
    if _TIME.match(value):
        return False, None
    m = _COLON_TIME.match(value)
    return True, (m[1] + m[2] + (m[3] or "") if m else None)


def _of_vr(ds: Dataset, vrs: tuple[str, ...]) -> list[DataElement]:
    """The top-level elements of ``ds`` with one of ``vrs``, converting
    only those (a raw element's VR is known unless the file is implicit VR)."""
    out = []
    for tag, raw in list(ds._dict.items()):
        if raw.VR is None or raw.VR in vrs:
            elem = ds[tag]
            if elem.VR in vrs:
                out.append(elem)
    return out


def _dates_and_times(r: _Repair, _uids: UidMap) -> None:
    for elem in _of_vr(r.ds, ("DA", "DT", "TM")):
        if elem.VM != 1 or not elem.value:
            continue
        value = str(elem.value).strip()
        bad, fixed = _fixed_date_time(elem.VR, value)
        if bad:
            r.out()[elem.tag] = DataElement(elem.tag, elem.VR, fixed)
            what = elem.keyword or str(elem.tag)
            r.notes.append(f"{what} {value!r} " + (f"written {fixed}" if fixed else
                                                  f"is not a {_VR_NAMES[elem.VR]}: emptied"))


_VR_NAMES = {"DA": "date", "DT": "date-time", "TM": "time"}


def _pixel_spacing(r: _Repair, _uids: UidMap) -> None:
    spacing = r.ds.get("PixelSpacing")
    if spacing is None or not spacing:
        return
    try:
        values = [float(v) for v in (spacing if isinstance(spacing, (MultiValue, list)) else [spacing])]
    except (TypeError, ValueError):
        values = [0.0]
    if len(values) != 2 or min(values) <= 0:
        r.delete("PixelSpacing", f"Pixel Spacing {list(map(str, values))} is not positive: removed")


def _sequences(r: _Repair, _uids: UidMap) -> None:
    seq = r.ds.get("RequestAttributesSequence")
    if seq is not None and not seq:
        r.delete("RequestAttributesSequence", "empty Request Attributes Sequence removed")
    regions = r.ds.get("AnatomicRegionSequence")
    if regions is not None and not regions:
        r.delete("AnatomicRegionSequence", "empty Anatomic Region Sequence removed")
    elif regions is not None and len(regions) > 1:
        r.replace_sequence("AnatomicRegionSequence", _first_item)
    keep_empty = _type2_keywords(str(r.ds.get("SOPClassUID", "")))
    for elem in _of_vr(r.ds, ("SQ",)):
        if elem.value:
            r.replace_sequence(elem.tag, _fix_items)
        elif elem.VR == "SQ" and elem.keyword and elem.keyword not in keep_empty:
            # PS3.5 7.5: a Type 3 (or 1) sequence that is present holds an item
            r.delete(elem.keyword, f"empty {elem.keyword} removed")


@functools.lru_cache(maxsize=64)
def _type2_keywords(sop_class: str) -> frozenset[str]:
    """Attributes Type 2 in the source's IOD or one an annotation writes (they may be empty)."""
    return frozenset(kw for sop in (sop_class, *_DERIVED_CLASSES) for module, _u in iod.iod_modules(sop)
                     for kw, typ in iod.module_top_level(module) if typ.startswith("2"))


def _first_item(seq: DicomSequence, apply: bool) -> list[str]:
    if apply:
        del seq[1:]
    return ["Anatomic Region Sequence: only the first item kept"]


def _fix_items(seq: DicomSequence, apply: bool, content: bool = False) -> list[str]:
    """Empty Type 1C values and incomplete code or content items removed,
    at any depth (``apply`` False: only the notes). ``content``: ``seq`` is
    a content item sequence."""
    notes: list[str] = []
    for item in list(seq):
        notes.extend(_fix_item(item, apply))
    for item in list(seq):
        why = _bad_item(item, content)
        if why:
            if apply:
                seq.remove(item)
            notes.append(why)
    return notes


def _fix_item(item: Dataset, apply: bool) -> list[str]:
    empty = [kw for kw in _ITEM_EMPTY_1C if kw in item and not _text(item, kw)]
    notes = [f"empty {kw} removed from a sequence item" for kw in empty]
    for kw in empty if apply else ():
        del item[kw]
    return notes + _fix_nested(item, apply)


def _fix_nested(item: Dataset, apply: bool) -> list[str]:
    notes: list[str] = []
    for elem in list(item):
        if elem.VR == "SQ" and elem.value:
            notes.extend(_fix_items(elem.value, apply, _CONTENT.match(elem.keyword) is not None))
            if apply and elem.keyword.endswith("CodeSequence") and not elem.value:
                del item[elem.tag]
    return notes


def _bad_item(item: Dataset, content: bool) -> str | None:
    """Why ``item`` is to be removed from its sequence, if it is."""
    if content and "ValueType" not in item:
        return "content item without Value Type removed"
    if "CodeValue" in item and not (_text(item, "CodeMeaning") and _text(item, "CodingSchemeDesignator")):
        return (f"code item {_text(item, 'CodeValue')!r} without Code Meaning or Coding Scheme "
                "Designator removed")
    return None


def _deidentification(r: _Repair, _uids: UidMap) -> None:
    if _text(r.ds, "PatientIdentityRemoved").upper() != "YES":
        return
    if r.ds.get("DeidentificationMethod") or r.ds.get("DeidentificationMethodCodeSequence"):
        return
    r.set("DeidentificationMethod", DEIDENTIFIED_SOURCE,
          "Patient Identity Removed YES without De-identification Method: "
          f"{DEIDENTIFIED_SOURCE!r} written")
