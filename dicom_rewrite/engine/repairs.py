"""Repairs of template defects that would make every output invalid: one
rule per function, the standard cited, each repair one note for the report.

They run once per batch on the scrubbed template (see
:meth:`dicom_rewrite.engine.converter.Converter._scrubbed_base`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VM
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicom_rewrite.core import iod
from dicom_rewrite.core.charset import text_values

Repair = Callable[[Dataset], list[str]]

#: PS3.5 6.2 CS: at most 16 characters of upper case letters, digits, space, underscore
_CS_VALUE = re.compile(r"[A-Z0-9 _]{0,16}")

#: PS3.3 C.12.2 Common Instance Reference: the series and studies of the
#: instances this instance references elsewhere (references the scrub removed)
_REFERENCED_SERIES = ("ReferencedSeriesSequence", "StudiesContainingOtherReferencedInstancesSequence")

_SPACINGS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")

#: PS3.3 8.8 Code Sequence Macro: the code value attributes (one is required)
_CODE_VALUES = ("CodeValue", "LongCodeValue", "URNCodeValue")
_CODE_KEYWORDS = frozenset({*_CODE_VALUES, "CodingSchemeDesignator", "CodeMeaning"})
#: PS3.3 8.8 Enhanced Code Sequence Macro: attributes of Context Identifier
_CONTEXT = ("ContextIdentifier", "ContextUID", "MappingResource", "MappingResourceUID",
            "MappingResourceName", "ContextGroupVersion", "ContextGroupExtensionFlag",
            "ContextGroupLocalVersion", "ContextGroupExtensionCreatorUID")


def repair_template(ds: Dataset) -> list[str]:
    """Apply every repair to ``ds``; the notes of what was repaired."""
    notes: list[str] = []
    for repair in _REPAIRS:
        notes += repair(ds)
    return notes


def drop_referenced_series(ds: Dataset) -> list[str]:
    """PS3.3 C.12.2: the Common Instance Reference Module lists the series of
    instances referenced elsewhere in this instance; the template's own
    references are stale (a converted image does not come from them)."""
    notes = []
    for kw in _REFERENCED_SERIES:
        if kw in ds:
            del ds[kw]
            notes.append(f"{kw} removed: PS3.3 C.12.2, it referenced the template's sources, "
                         "not the new pixels")
    return notes


def fix_character_set_term(ds: Dataset) -> list[str]:
    """PS3.3 C.12.1.1.2: Specific Character Set holds defined terms; a known
    misspelling (``ISO-IR 100``) is corrected, an empty value is removed
    when every value is ASCII (the default repertoire)."""
    if "SpecificCharacterSet" not in ds:
        return []
    value = ds.SpecificCharacterSet
    if not value:
        if all(t.isascii() for t in text_values(ds)):
            del ds.SpecificCharacterSet
            return ["empty Specific Character Set (0008,0005) removed: PS3.3 C.12.1.1.2, "
                    "every value is in the default repertoire"]
        return []
    terms = list(value) if isinstance(value, MultiValue) else [value]
    fixed = [_charset_term(str(t)) for t in terms]
    if fixed == [str(t) for t in terms]:
        return []
    ds.SpecificCharacterSet = fixed if len(fixed) > 1 else fixed[0]
    old, new = "\\".join(map(str, terms)), "\\".join(fixed)
    return [f"Specific Character Set {old!r} corrected to {new!r}: PS3.3 C.12.1.1.2 defined terms"]


def _charset_term(term: str) -> str:
    """The defined term a misspelt one (``ISO-IR 100``, ``iso_ir 100``) means,
    or ``term`` unchanged."""
    if not term or term in python_encoding:
        return term
    m = re.fullmatch(r"ISO[-_ ]?(2022[-_ ]?)?IR[-_ ]?(\d+)", term.strip().upper())
    if m is None:
        return term
    fixed = f"ISO 2022 IR {m.group(2)}" if m.group(1) else f"ISO_IR {m.group(2)}"
    return fixed if fixed in python_encoding else term


def drop_invalid_code_strings(ds: Dataset) -> list[str]:
    """PS3.5 6.2: a CS value has at most 16 characters of A-Z, 0-9, space and
    underscore; a template attribute (top level) breaking this is removed."""
    notes = []
    for elem in list(ds):
        if elem.VR != "CS" or elem.tag == 0x00080005 or elem.value in (None, ""):
            continue
        values = elem.value if isinstance(elem.value, MultiValue) else [elem.value]
        if all(_CS_VALUE.fullmatch(str(v)) for v in values):
            continue
        del ds[elem.tag]
        notes.append(f"{elem.keyword or elem.tag} {str(elem.value)[:40]!r} removed: "
                     "not a valid CS value (PS3.5 6.2)")
    return notes


def drop_bad_spacing(ds: Dataset) -> list[str]:
    """PS3.3 10.7.1.3: a pixel spacing is a positive physical distance; a zero,
    negative or unreadable one is removed (a Type 1 one then gets the
    neutral value of IOD completion)."""
    notes = []
    for kw in _SPACINGS:
        if kw not in ds or ds[kw].value in (None, ""):
            continue
        try:
            ok = all(float(v) > 0 for v in ds[kw].value)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            del ds[kw]
            notes.append(f"{kw} of the template was not positive: removed (PS3.3 10.7.1.3)")
    return notes


def repair_code_items(ds: Dataset) -> list[str]:
    """PS3.3 8.8 Code Sequence Macro, at any depth: an item with a code value,
    Coding Scheme Designator (Type 1C) and Code Meaning is kept (an orphan
    Context Identifier and empty Type 1C attributes are removed); an item
    missing one of them is removed, and a sequence so emptied too (kept
    empty when the IOD makes it Type 2 at the top level)."""
    notes: list[str] = []
    _code_items(ds, notes, top=True)
    return notes


def _code_items(ds: Dataset, notes: list[str], *, top: bool = False) -> None:
    for elem in list(ds):
        if elem.VR != "SQ" or not elem.value:
            continue
        kept = []
        for item in elem.value:
            _code_items(item, notes)
            if not _is_code_item(item) or _repair_code_item(item):
                kept.append(item)
            else:
                notes.append(f"{elem.keyword or elem.tag}: an item without its code value, "
                             "Coding Scheme Designator or Code Meaning removed (PS3.3 8.8)")
        if len(kept) == len(elem.value):
            continue
        elem.value = kept
        if not kept and not (top and _type2(ds, elem.keyword)):
            del ds[elem.tag]


def _type2(ds: Dataset, keyword: str) -> bool:
    sop = str(ds.get("SOPClassUID", ""))
    return any(kw == keyword and typ.startswith("2")
               for module, _u in iod.iod_modules(sop) for kw, typ in iod.module_top_level(module))


def _is_code_item(item: Dataset) -> bool:
    return not _CODE_KEYWORDS.isdisjoint(e.keyword for e in item)


def _repair_code_item(item: Dataset) -> bool:
    """Repair ``item`` in place; False when it cannot be (remove it)."""
    for kw in ("CodingSchemeVersion", *_CONTEXT):
        if kw in item and item[kw].value in (None, ""):
            del item[kw]  # PS3.3 8.8: Type 1C / 3 attributes may not be empty
    if "ContextIdentifier" in item and not ("MappingResource" in item
                                            and "ContextGroupVersion" in item):
        for kw in _CONTEXT:  # PS3.3 8.8: Context Identifier needs both (Type 1C)
            if kw in item:
                del item[kw]
    has_value = any(item.get(kw) for kw in _CODE_VALUES)
    scheme = bool(item.get("CodingSchemeDesignator")) or bool(item.get("URNCodeValue"))
    return has_value and scheme and bool(item.get("CodeMeaning"))


def drop_bad_multiplicity(ds: Dataset) -> list[str]:
    """PS3.5 6.4: an attribute has the Value Multiplicity of its data
    dictionary entry (PS3.6). A top-level attribute that breaks it and is
    neither Type 1 nor Type 2 in the IOD (vendors write a 2-valued Spatial
    Resolution, a 13-valued Acquisition Matrix) is removed."""
    notes = []
    required = _required_keywords(ds)
    for elem in list(ds):
        if elem.tag.is_private or elem.VR == "SQ" or elem.value in (None, "", b""):
            continue
        if elem.keyword in required or elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "UT", "LT", "ST"):
            continue
        try:
            vm = dictionary_VM(elem.tag)
        except KeyError:
            continue
        if not _fits_vm(elem.VM, vm):
            del ds[elem.tag]
            notes.append(f"{elem.keyword} removed: {elem.VM} values where PS3.6 allows {vm} (PS3.5 6.4)")
    return notes


def _required_keywords(ds: Dataset) -> frozenset[str]:
    sop = str(ds.get("SOPClassUID", ""))
    return frozenset(kw for module, _u in iod.iod_modules(sop) for kw, typ in iod.module_top_level(module)
                     if typ[:1] in ("1", "2"))


def _fits_vm(count: int, vm: str) -> bool:
    """Whether ``count`` values fit a PS3.6 VM: ``1``, ``2``, ``1-3``, ``1-n``, ``2-2n``."""
    low, _, high = vm.partition("-")
    if not low.isdigit():
        return True  # not a form we know: leave it
    if not high:
        return count == int(low)
    if high.endswith("n"):
        step = int(high[:-1] or 1)
        return count >= int(low) and count % step == 0
    return int(low) <= count <= int(high) if high.isdigit() else True


def drop_ungated_trigger_time(ds: Dataset) -> list[str]:
    """PS3.3 C.8.3.1 MR Image Module: Trigger Time (0018,1060) is Type 2C,
    present only for an ECG- or pulse-gated acquisition (Scan Options CG or
    PPG); some vendors write it for every slice of an ungated series."""
    if "TriggerTime" not in ds or str(ds.get("SOPClassUID", "")) != "1.2.840.10008.5.1.4.1.1.4":
        return []
    options = ds.get("ScanOptions") or []
    options = {str(v).strip() for v in (options if isinstance(options, MultiValue) else [options])}
    if options & {"CG", "PPG"}:
        return []
    del ds.TriggerTime
    return ["TriggerTime removed: the acquisition was not gated (Scan Options has no CG or PPG; "
            "PS3.3 C.8.3.1, Type 2C)"]


def complete_specimen(ds: Dataset) -> list[str]:
    """PS3.3 C.7.6.22 Specimen Module (and its Specimen Description items): a
    kept module keeps its required attributes. The identity strip removes
    the identifiers (PS3.15 E.1-1: Container and Specimen Identifier are
    replaced by dummy values, D), so Type 1 identifiers get a dummy and the
    Type 2 sequences an empty value."""
    items = ds.get("SpecimenDescriptionSequence")
    if "ContainerIdentifier" not in ds and not items:
        return []
    notes = []
    if not ds.get("ContainerIdentifier"):
        ds.ContainerIdentifier = "CONTAINER1"  # Type 1: a dummy (PS3.15 E.1-1 action D)
        notes.append("Container Identifier (0040,0512) set to a dummy value (PS3.15 E.1-1)")
    for kw in ("IssuerOfTheContainerIdentifierSequence", "ContainerTypeCodeSequence"):
        if kw not in ds:
            setattr(ds, kw, [])  # Type 2
    for i, item in enumerate(items or [], 1):
        if not item.get("SpecimenIdentifier"):
            item.SpecimenIdentifier = f"SPECIMEN{i}"  # Type 1: a dummy (PS3.15 E.1-1 action D)
            notes.append(f"Specimen Identifier of specimen {i} set to a dummy value (PS3.15 E.1-1)")
        for kw in ("IssuerOfTheSpecimenIdentifierSequence", "SpecimenPreparationSequence"):
            if kw not in item:
                setattr(item, kw, [])  # Type 2
    return notes


def consistent_anatomy(ds: Dataset) -> list[str]:
    """PS3.3 10.5 General Anatomy Macros: an empty Anatomic Region Sequence
    means the anatomy is unknown, which a Body Part Examined value
    contradicts, and outside the DX family the sequence holds a single item
    when present. The empty sequence claims nothing: removed (IOD completion
    gives it back empty where it is Type 2), and with it the body part."""
    seq = ds.get("AnatomicRegionSequence")
    if seq is None or len(seq):
        return []
    del ds.AnatomicRegionSequence
    if not ds.get("BodyPartExamined"):
        return []
    del ds.BodyPartExamined
    return ["Body Part Examined removed: the template's Anatomic Region Sequence is empty (anatomy unknown)"]


_REPAIRS: tuple[Repair, ...] = (
    drop_referenced_series,
    fix_character_set_term,
    drop_invalid_code_strings,
    drop_bad_spacing,
    repair_code_items,
    complete_specimen,
    consistent_anatomy,
    drop_bad_multiplicity,
    drop_ungated_trigger_time,
)
