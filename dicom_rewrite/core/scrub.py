"""Template scrub: remove what the new pixels make stale, and the identity.

All functions take a dataset and change it in place, returning a list of
:class:`Change` records for the report and ``--dry-run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag, repeater_has_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

from dicom_rewrite.core.uids import UidMap, is_standard_uid


@dataclass(frozen=True)
class Change:
    """One thing the engine did to an attribute, for reports and dry runs."""

    tag: int
    action: str  # removed | set | remapped | blanked
    rule: str  # why (engine rule name, or profile file:line)

    @property
    def keyword(self) -> str:
        return keyword_for_tag(self.tag) or str(Tag(self.tag))


#: PS3.3 C.7.6.3 Image Pixel, C.11 LUTs, C.9 overlays, etc.: attributes that
#: describe the template's pixels and are stale once the pixels change.
STALE_PIXEL_KEYWORDS: tuple[str, ...] = (
    "IconImageSequence",
    "RescaleSlope", "RescaleIntercept", "RescaleType",
    "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction",
    "VOILUTSequence", "ModalityLUTSequence", "SoftcopyVOILUTSequence",
    "PresentationLUTShape", "PresentationLUTSequence",
    "SmallestImagePixelValue", "LargestImagePixelValue",
    "SmallestPixelValueInSeries", "LargestPixelValueInSeries",
    "SmallestImagePixelValueInPlane", "LargestImagePixelValueInPlane",
    "PixelPaddingValue", "PixelPaddingRangeLimit",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "AlphaPaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "AlphaPaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "SegmentedAlphaPaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
    "ICCProfile", "ColorSpace", "OpticalPathSequence",
    "NumberOfFrames", "FrameIncrementPointer", "FrameTime", "FrameTimeVector",
    "PlanarConfiguration", "PixelAspectRatio",
    "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod",
    "BurnedInAnnotation", "RecognizableVisualFeatures",
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
    "SamplesPerPixel", "PhotometricInterpretation",
    "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    "HistogramSequence",
    "PixelDataProviderURL", "PixelSpacingCalibrationType", "PixelSpacingCalibrationDescription",
    # references to the template's own images (PS3.3 C.7.6.1, C.12.2)
    "ReferencedImageSequence", "SourceImageSequence", "ReferencedInstanceSequence",
    "SourceImageEvidenceSequence", "DerivationCodeSequence", "DerivationDescription",
    "ReferencedRawDataSequence", "ReferencedWaveformSequence",
    "ReferencedImageEvidenceSequence", "ReferencedPresentationStateSequence",
    "DataSetTrailingPadding",
)


def _tags(keywords: Iterable[str]) -> frozenset[int]:
    out = set()
    for kw in keywords:
        t = Tag(kw)
        out.add(int(t))
    return frozenset(out)


STALE_PIXEL_TAGS = _tags(STALE_PIXEL_KEYWORDS)


def is_overlay_or_curve(tag: int) -> bool:
    """Repeating groups 60xx (overlays, PS3.3 C.9.2) and 50xx (retired curves)."""
    group = tag >> 16
    return (0x6000 <= group <= 0x601E or 0x5000 <= group <= 0x501E) and group % 2 == 0


def remove_where(ds: Dataset, predicate: Callable[[int], bool], rule: str,
                 *, recursive: bool = False) -> list[Change]:
    """Delete every element whose tag satisfies ``predicate``."""
    changes: list[Change] = []
    for elem in list(ds):
        if predicate(int(elem.tag)):
            del ds[elem.tag]
            changes.append(Change(int(elem.tag), "removed", rule))
        elif recursive and elem.VR == "SQ" and elem.value:
            for item in elem.value:
                changes.extend(remove_where(item, predicate, rule, recursive=True))
    return changes


def remove_stale(ds: Dataset) -> list[Change]:
    """Remove everything the new pixels make stale (top level)."""
    changes = remove_where(ds, lambda t: t in STALE_PIXEL_TAGS, "stale after pixel change")
    changes += remove_where(ds, is_overlay_or_curve, "overlay/curve of the template pixels")
    # PS3.5 7.2: group lengths (gggg,0000) are retired and stale after any change
    changes += remove_where(ds, lambda t: t & 0xFFFF == 0 and t >> 16 != 0x0002,
                            "retired group length", recursive=True)
    return changes


# ---------------------------------------------------------------- identity

def _identity_tags() -> frozenset[int]:
    """PS3.15 Annex E basic application level confidentiality profile,
    every attribute it acts on (as tabulated by the dicom-anonymizer package),
    less the UIDs, which the UID policy handles."""
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as e

    # 4-tuples are masked repeating groups (overlays, curves): removed elsewhere
    tags = {(t[0] << 16) | t[1] for t in e.ALL_TAGS if len(t) == 2}
    uid_tags = {(t[0] << 16) | t[1] for t in e.U_TAGS if len(t) == 2}
    # a few identifying attributes not (or not always) listed there
    extra = _tags(
        [
            "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime",
            "IssuerOfPatientID", "OtherPatientIDsSequence", "OtherPatientNames",
            "PatientAge", "PatientSex", "PatientSize", "PatientWeight", "PatientAddress",
            "AccessionNumber", "StudyID", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime",
            "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ContentDate",
            "ContentTime", "InstanceCreationDate", "InstanceCreationTime",
            "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
            "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
            "StationName", "DeviceSerialNumber", "StudyDescription", "SeriesDescription",
            "RequestAttributesSequence", "PerformedProcedureStepStartDate",
            "PerformedProcedureStepStartTime", "PerformedProcedureStepID",
            "PerformedProcedureStepDescription", "ReferencedStudySequence",
            "ReferencedPatientSequence", "ReferencedPerformedProcedureStepSequence",
            "ProcedureCodeSequence", "AdmittingDiagnosesDescription", "PatientComments",
            "ImageComments", "RequestingPhysician", "NameOfPhysiciansReadingStudy",
            "PhysiciansOfRecord", "MilitaryRank", "EthnicGroup", "Occupation",
            "AdditionalPatientHistory", "PregnancyStatus", "PatientMotherBirthName",
            "MedicalRecordLocator", "CountryOfResidence", "RegionOfResidence",
            "PatientTelephoneNumbers", "ResponsiblePerson", "ResponsibleOrganization",
            "PatientBirthName", "IssuerOfAccessionNumberSequence",
        ]
    )
    return frozenset((tags - uid_tags) | extra)


IDENTITY_TAGS = _identity_tags()


def strip_identity(ds: Dataset, keep: frozenset[int] = frozenset()) -> list[Change]:
    """Remove the template's patient/study identity at every depth, and the
    public elements the dictionary does not know (see :func:`is_known`)."""
    changes = remove_where(
        ds, lambda t: t in IDENTITY_TAGS and t not in keep, "identity: strip", recursive=True
    )
    return changes + remove_where(
        ds, lambda t: not is_known(t) and t not in keep,
        "identity: not in the DICOM dictionary (its content is unknown)", recursive=True)


def is_known(tag: int) -> bool:
    """A private element (the private scrub decides on it), a group length,
    or a public tag the DICOM dictionary names (repeating groups included).
    Any other public tag may hold anything, identity included (PS3.15 E.1:
    the basic profile removes what it cannot vouch for)."""
    t = Tag(tag)
    return (t.is_private or t.element == 0 or dictionary_has_tag(t)
            or repeater_has_tag(int(t)))


# ---------------------------------------------------------------- UIDs

def remap_uids(ds: Dataset, uid_map: UidMap, skip: frozenset[int] = frozenset()) -> list[Change]:
    """Replace every non-standard UID value (any depth) with its mapped value.

    ``skip``: top-level tags left alone (the caller sets them); nested ones
    (a referenced Study or Series Instance UID) are always remapped, so no
    template UID reaches an output at any depth."""
    changes: list[Change] = []
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value or []:
                changes.extend(remap_uids(item, uid_map))
            continue
        if elem.VR != "UI" or int(elem.tag) in skip or elem.value in (None, ""):
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        new = [v if is_standard_uid(v) else uid_map.get(v) for v in values]
        if list(map(str, new)) != list(map(str, values)):
            elem.value = new if elem.VM > 1 else new[0]
            changes.append(Change(int(elem.tag), "remapped", "template UIDs are never reused"))
    return changes


def drop_empty_sequences(ds: Dataset) -> None:
    """Remove sequence items left empty by the scrub, and empty sequences
    that were not empty before (an empty item is invalid in most IODs)."""
    for elem in list(ds):
        if elem.VR == "SQ" and elem.value:
            for item in list(elem.value):
                drop_empty_sequences(item)
            kept = [item for item in elem.value if len(item)]
            if not kept:
                del ds[elem.tag]
            elif len(kept) != len(elem.value):
                elem.value = Sequence(kept)


def vr_of(tag: int | BaseTag) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"
