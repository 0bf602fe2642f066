"""IOD completion: what an output must have that the template lacked, and
what it must not have (attributes outside the target IOD).

Type 1 attributes get a neutral value from :data:`TYPE1_DEFAULTS` (and a
note), Type 2 an empty value, and the Type 2C attributes whose condition
holds an empty value (PS3.5 7.4: Type 2 may be zero length).
"""

from __future__ import annotations

import copy

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, CTImageStorage, MRImageStorage

from dicom_rewrite.core import iod
from dicom_rewrite.core.scrub import Change, vr_of

#: Type 1 attributes a template may lack, with the value an output gets.
TYPE1_DEFAULTS: dict[str, object] = {
    "ImageType": ["DERIVED", "SECONDARY"],
    "ConversionType": "WSD",  # PS3.3 C.8.6.1: workstation
    "ImagePositionPatient": [0, 0, 0],
    "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
    "PixelSpacing": [1, 1],
    "PresentationIntentType": "FOR PRESENTATION",
    "PixelIntensityRelationship": "LIN",
    "PixelIntensityRelationshipSign": 1,
    "ImagerPixelSpacing": [1, 1],
    # only reached for lossless sources (lossy ones get "01" earlier)
    "LossyImageCompression": "00",
    # Type 1 in DX/MG/IO: we cannot know; the profile may say YES
    "BurnedInAnnotation": "NO",
    # PS3.3 C.8.11.2 (DX, MG, IO: Type 1): U, "unpaired", the enumerated
    # value that names no side (the template's side is not lent)
    "ImageLaterality": "U",
}

#: PS3.16 Annex L defined terms of Body Part Examined that are not paired
#: structures (so Laterality, Type 2C, must be absent rather than empty)
UNPAIRED_BODY_PARTS = frozenset({
    "ABDOMEN", "ABDOMENPELVIS", "AORTA", "BLADDER", "BRAIN", "CHEST", "CHESTABDOMEN",
    "CHESTABDPELVIS", "COCCYX", "COLON", "CSPINE", "ESOPHAGUS", "HEAD", "HEADNECK",
    "HEART", "LIVER", "LSPINE", "NECK", "PANCREAS", "PELVIS", "PROSTATE", "SACRUM",
    "SKULL", "SPINE", "SPLEEN", "STOMACH", "THORAX", "TSPINE", "UTERUS", "WHOLEBODY",
})


def drop_outside_iod(ds: Dataset, sop_class: UID) -> list[Change]:
    allowed = iod.iod_keywords(sop_class)
    out = []
    for elem in list(ds):
        if elem.tag.is_private:
            continue
        if elem.keyword and elem.keyword not in allowed:
            del ds[elem.tag]
            out.append(Change(int(elem.tag), "removed", f"not in the {sop_class.name} IOD"))
    return out


def missing_attributes(ds: Dataset, modules: list[str]) -> list[tuple[str, str]]:
    """``(keyword, type)`` of the Type 2 attributes, and the Type 1 ones we
    have a neutral value for, that ``modules`` require and ``ds`` lacks."""
    return [
        (kw, typ)
        for module in modules
        for kw, typ in iod.module_top_level(module)
        if kw not in ds and (typ == "2" or (typ == "1" and kw in TYPE1_DEFAULTS))
    ]


def complete_iod(ds: Dataset, sop_class: UID, missing: list[tuple[str, str]], notes: list[str]) -> None:
    """Add the ``missing`` attributes (see :func:`missing_attributes`) and the
    Type 2C attributes whose condition holds."""
    for kw, typ in missing:
        if typ == "2":
            t = iod.tag(kw)
            vr = vr_of(t)
            ds.add(DataElement(t, vr, Sequence([]) if vr == "SQ" else None))
        else:
            setattr(ds, kw, copy.copy(TYPE1_DEFAULTS[kw]))
            notes.append(f"{kw} is required by the IOD and not known for these pixels: set to a neutral value")
    _complete_type2c(ds, sop_class, notes)


def _complete_type2c(ds: Dataset, sop_class: UID, notes: list[str]) -> None:
    # PS3.3 C.7.3.1: Patient Position is Type 2C for CT and MR images
    # without a Patient Orientation Code Sequence
    if (sop_class in (CTImageStorage, MRImageStorage) and "PatientPosition" not in ds
            and "PatientOrientationCodeSequence" not in ds):
        ds.PatientPosition = None
    # PS3.3 C.7.6.1: Patient Orientation is Type 2C, required unless the
    # IOD's Image Plane module (mandatory) gives the orientation
    plane = ("image-plane", "M") in iod.iod_modules(sop_class)
    if "PatientOrientation" not in ds and not plane:
        ds.PatientOrientation = None
    _laterality(ds, notes)


def _laterality_required(ds: Dataset) -> bool:
    """PS3.3 C.7.3.1: Laterality (0020,0060) is Type 2C, required if the body
    part examined is paired and Image Laterality is absent; when Body Part
    Examined is unknown dciodvfy (rightly) asks for it, empty meaning
    "unknown". An image of a specimen (PS3.3 C.7.6.22 Specimen Module: a
    Specimen Description Sequence) images no body part: not required."""
    body_part = str(ds.get("BodyPartExamined", "") or "").upper()
    return ("ImageLaterality" not in ds and body_part not in UNPAIRED_BODY_PARTS
            and not ds.get("SpecimenDescriptionSequence"))


def _laterality(ds: Dataset, notes: list[str]) -> None:
    required = _laterality_required(ds)
    if "Laterality" not in ds:
        if required:
            ds.Laterality = None
    elif not required:
        # PS3.3 C.7.3.1: Type 2C present though its condition is unsatisfied
        del ds.Laterality
        notes.append("Laterality (0020,0060) removed: PS3.3 C.7.3.1 requires it only for a "
                     "paired body part without Image Laterality")
