"""What a template may lend to pixels that are not its own.

A template lends its *dialect* (equipment, naming, IOD layout, character
set) to every output; its *facts* about its own pixel matrix do not carry
over to a different matrix. This module names those facts, with the part of
the standard that defines each, and removes them from an output whose
matrix is not the template's. The IOD completion then gives back, with a
note, what the target IOD requires (empty for Type 2, a neutral value for
Type 1), and a profile ``set`` or ``keep`` still decides.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from dicom_rewrite.core import iod
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.profile.model import PixelPolicy

#: attributes that describe the template's own pixel matrix: its physical
#: size, position and calibration (PS3.3 10.7.1.3 Pixel Spacing and its
#: relatives; C.7.6.2 Image Plane; C.8.11.4 DX Detector; C.8.5.5 US Region
#: Calibration; C.7.6.3 Pixel Aspect Ratio)
MATRIX_FACTS: tuple[str, ...] = (
    "PixelSpacing",                      # (0028,0030) PS3.3 10.7.1.3
    "ImagerPixelSpacing",                # (0018,1164) PS3.3 10.7.1.3
    "NominalScannedPixelSpacing",        # (0018,2010) PS3.3 C.8.6.1
    "PixelSpacingCalibrationType",       # (0028,0A02) PS3.3 10.7.1.3
    "PixelSpacingCalibrationDescription",  # (0028,0A04) PS3.3 10.7.1.3
    "EstimatedRadiographicMagnificationFactor",  # (0018,1114) PS3.3 C.8.11.7
    "PixelAspectRatio",                  # (0028,0034) PS3.3 C.7.6.3.1.7
    "ImagePositionPatient",              # (0020,0032) PS3.3 C.7.6.2.1.1
    "ImageOrientationPatient",           # (0020,0037) PS3.3 C.7.6.2.1.1
    "SliceLocation",                     # (0020,1041) PS3.3 C.7.6.2.1.2
    "SequenceOfUltrasoundRegions",       # (0018,6011) PS3.3 C.8.5.5
    "DetectorActiveDimensions",          # (0018,7026) PS3.3 C.8.11.4
    "FieldOfViewDimensions",             # (0018,1149) PS3.3 C.8.11.5
    "SliceThickness",                    # (0018,0050) PS3.3 C.7.6.2.1.1
    "SpacingBetweenSlices",              # (0018,0088) PS3.3 C.8.3.1
)

_MATRIX_TAGS = tuple((kw, int(tag_for_keyword(kw) or 0)) for kw in MATRIX_FACTS)


#: Type 1 acquisition facts an IOD requires and no value of which would be
#: true of pixels the scanner did not acquire: a template lacking them
#: cannot lend its class (the output is Secondary Capture instead)
_UNFILLABLE_TYPE1 = {
    # PS3.3 C.8.3.1 MR Image Module: Scanning Sequence and Sequence Variant, Type 1
    "1.2.840.10008.5.1.4.1.1.4": ("ScanningSequence", "SequenceVariant"),
}


def class_gap(template: Dataset) -> str:
    """Why the template's SOP class cannot be written honestly ("" when it can):
    it lacks Type 1 facts of its own acquisition (:data:`_UNFILLABLE_TYPE1`)."""
    sop_class = str(template.get("SOPClassUID", ""))
    missing = [kw for kw in _UNFILLABLE_TYPE1.get(sop_class, ()) if not template.get(kw)]
    if not missing:
        return ""
    return (f"the template lacks {' and '.join(missing)}, Type 1 in {_iod_name(sop_class)} "
            "(PS3.3 C.8.3.1) with no value true of new pixels")


def same_matrix(template: Dataset, rows: int, columns: int) -> bool:
    """Do the new pixels have the template's rows and columns? (Then the
    template's matrix facts still hold: e.g. an exported slice converted back.)"""
    try:
        return (int(template.Rows), int(template.Columns)) == (rows, columns)
    except (AttributeError, TypeError, ValueError):
        return False


def drop_matrix_facts(ds: Dataset, kept: frozenset[int]) -> list[str]:
    """Remove the matrix facts from ``ds`` (but those in ``kept``: the
    profile keeps them); one note naming what was removed."""
    gone = [kw for kw, tag in _MATRIX_TAGS if tag in ds and tag not in kept]
    for kw in gone:
        del ds[kw]
    if not gone:
        return []
    return [f"template facts of its own pixel matrix not kept (the new pixels differ): {', '.join(gone)}"]


#: PS3.3 C.7.4.1 Frame of Reference: the attributes of the frame in which
#: the Image Plane module places an image
_FRAME = ("FrameOfReferenceUID", "PositionReferenceIndicator")


def drop_unplaced_frame(ds: Dataset, sop_class: str) -> list[str]:
    """Never invent geometry: where the IOD does not require the Image
    Plane module (Secondary Capture and the like) and the output has no
    Image Position, the template's Frame of Reference places nothing in
    it (PS3.3 C.7.4.1); removed, so no position or orientation is made up
    to go with it."""
    if "ImagePositionPatient" in ds or ("image-plane", "M") in iod.iod_modules(sop_class):
        return []
    gone = [kw for kw in _FRAME if kw in ds]
    for kw in gone:
        del ds[kw]
    if not gone:
        return []
    return [f"template's Frame of Reference not kept: no Image Plane places these pixels in it "
            f"({', '.join(gone)})"]


#: where a spacing the profile gives goes: Pixel Spacing always, and the
#: detector's spacing where the template's IOD has it (PS3.3 10.7.1.3)
_GIVEN_SPACING = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")


def spacing_targets(template: Dataset) -> tuple[int, ...]:
    """The tags a spacing the profile gives is written to (PS3.3 10.7.1.3):
    Pixel Spacing, and the detector's spacing where the template has it."""
    return tuple(int(tag_for_keyword(kw) or 0) for kw in _GIVEN_SPACING
                 if kw == "PixelSpacing" or kw in template)


def lend_matrix_facts(ds: Dataset, template: Dataset, shape: tuple[int, int], policy: PixelPolicy,
                      kept: frozenset[int]) -> list[str]:
    """Apply ``pixel.spacing``: ``auto`` keeps the template's matrix facts
    only for its own rows and columns, ``keep`` always, ``drop`` never; a
    spacing ``R\\C`` drops them and says the new pixels' spacing instead."""
    mode = policy.spacing
    if mode == "keep" or (mode == "auto" and same_matrix(template, *shape)):
        return []
    notes = drop_matrix_facts(ds, kept)
    given = policy.spacing_mm
    if given is None:
        return notes
    value = [f"{v:.6g}" for v in given]
    for tag in spacing_targets(template):
        ds[tag] = DataElement(tag, "DS", value)
    return [*notes, f"pixel spacing {value[0]}\\{value[1]} mm from the profile"]


#: attributes that describe the anatomy and the view of the template's own
#: image (PS3.3 C.7.3.1 General Series, C.7.6.1 General Image, 10.5 General
#: Anatomy Macros, C.8.11.2 DX Anatomy Imaged, C.8.11.5 DX Positioning,
#: C.8.1.1 CR Series): not lent to other pixels unless the profile keeps them
ANATOMY_FACTS: tuple[str, ...] = (
    "BodyPartExamined",                  # (0018,0015) PS3.3 C.7.3.1
    "AnatomicRegionSequence",            # (0008,2218) PS3.3 10.5 (and its modifiers)
    "PrimaryAnatomicStructureSequence",  # (0008,2228) PS3.3 10.5
    "Laterality",                        # (0020,0060) PS3.3 C.7.3.1
    "ImageLaterality",                   # (0020,0062) PS3.3 C.7.6.1, C.8.11.2
    "ViewPosition",                      # (0018,5101) PS3.3 C.8.1.1, C.8.11.5
    "ViewCodeSequence",                  # (0054,0220) PS3.3 C.8.11.5 (and its modifiers)
    "PatientOrientation",                # (0020,0020) PS3.3 C.7.6.1.1.1
    "PatientOrientationCodeSequence",    # (0054,0410) PS3.3 C.8.11.5
    "PatientGantryRelationshipCodeSequence",  # (0054,0414) PS3.3 C.8.4.9
    "PatientPosition",                   # (0018,5100) PS3.3 C.7.3.1.1.2
    "PositionerPrimaryAngle",            # (0018,1510) PS3.3 C.8.11.5
    "PositionerSecondaryAngle",          # (0018,1511) PS3.3 C.8.11.5
    "CassetteOrientation",               # (0018,1402) PS3.3 C.8.1.2
)

#: attributes that describe the template's acquisition: exposure, dose,
#: X-ray, CT and MR technique, contrast, processing (PS3.3 C.8.1.2 CR Image,
#: C.8.2.1 CT Image, C.8.3.1 MR Image, C.8.7.8 X-Ray Acquisition Dose,
#: C.8.7.7 X-Ray Generation, C.8.11.4 DX Detector, C.7.6.4 Contrast/Bolus).
#: The equipment (manufacturer, model, field strength) is dialect, not here.
ACQUISITION_FACTS: tuple[str, ...] = (
    # X-ray exposure and dose (PS3.3 C.8.7.7, C.8.7.8, C.8.1.2)
    "KVP", "ExposureTime", "ExposureTimeInuS", "XRayTubeCurrent", "XRayTubeCurrentInuA",
    "Exposure", "ExposureInuAs", "AveragePulseWidth", "GeneratorPower", "FocalSpots",
    "DistanceSourceToDetector", "DistanceSourceToPatient", "DistanceSourceToEntrance",
    "BodyPartThickness", "CompressionForce", "EntranceDose", "EntranceDoseInmGy",
    "OrganDose", "ImageAndFluoroscopyAreaDoseProduct", "RelativeXRayExposure",
    "ExposureIndex", "TargetExposureIndex", "DeviationIndex", "Sensitivity",
    "ExposureControlMode", "ExposureControlModeDescription", "ExposureStatus",
    "PhototimerSetting", "DetectorTemperature",
    "AcquisitionDeviceProcessingDescription", "AcquisitionDeviceProcessingCode",
    # CT technique (PS3.3 C.8.2.1, C.8.15.3)
    "ScanOptions", "DataCollectionDiameter", "ReconstructionDiameter", "GantryDetectorTilt",
    "TableHeight", "RotationDirection", "RevolutionTime", "SingleCollimationWidth",
    "TotalCollimationWidth", "TableSpeed", "TableFeedPerRotation", "SpiralPitchFactor",
    "CTDIvol", "CTDIPhantomTypeCodeSequence", "ExposureModulationType",
    "EstimatedDoseSaving", "FilterType", "ConvolutionKernel", "ReconstructionAlgorithm",
    # MR technique (PS3.3 C.8.3.1)
    "ScanningSequence", "SequenceVariant", "MRAcquisitionType", "SequenceName",
    "AngioFlag", "RepetitionTime", "EchoTime", "InversionTime", "NumberOfAverages",
    "ImagedNucleus", "EchoNumbers", "NumberOfPhaseEncodingSteps", "EchoTrainLength",
    "PercentSampling", "PercentPhaseFieldOfView", "PixelBandwidth", "ReceiveCoilName",
    "TransmitCoilName", "AcquisitionMatrix", "InPlanePhaseEncodingDirection", "FlipAngle",
    "VariableFlipAngleFlag", "SAR", "dBdt", "TriggerTime", "NominalInterval",
    "HeartRate", "CardiacNumberOfImages", "TriggerWindow",
    # contrast (PS3.3 C.7.6.4 Contrast/Bolus)
    "ContrastBolusAgent", "ContrastBolusAgentSequence", "ContrastBolusRoute",
    "ContrastBolusVolume", "ContrastBolusStartTime", "ContrastBolusStopTime",
    "ContrastBolusTotalDose", "ContrastFlowRate", "ContrastFlowDuration",
    "ContrastBolusIngredient", "ContrastBolusIngredientConcentration",
)

#: fact class -> its keywords, in the order notes and reports name them
FACT_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("matrix", MATRIX_FACTS), ("anatomy", ANATOMY_FACTS), ("acquisition", ACQUISITION_FACTS),
)
_TEMPLATE_FACTS = tuple((cls, kw, int(tag_for_keyword(kw) or 0))
                        for cls, kws in FACT_CLASSES[1:] for kw in dict.fromkeys(kws))


@dataclass(frozen=True)
class KeptFact:
    """A template fact that reaches an output, and why it still holds."""

    tag: int
    keyword: str
    kind: str  # matrix | anatomy | acquisition
    why: str

    def as_dict(self) -> dict[str, str]:
        return {"keyword": self.keyword, "class": self.kind, "why": self.why}


def _strongest_types(sop_class: str) -> dict[str, str]:
    """keyword -> its strictest type over the IOD's modules (1 before 2 before 3)."""
    out: dict[str, str] = {}
    for module, _usage in iod.iod_modules(sop_class):
        for kw, typ in iod.module_top_level(module):
            if kw not in out or typ < out[kw]:
                out[kw] = typ
    return out


def withhold_template_facts(ds: Dataset, sop_class: str, kept: frozenset[int],
                            placeholders: Collection[str], notes: list[str]) -> list[KeptFact]:
    """Remove the template's anatomy, view and acquisition facts from ``ds``
    (its pixels are not the new pixels'): but those the profile keeps, and
    the Type 1 ones of the IOD that have no value claiming nothing (not in
    ``placeholders``), which stay with a note. Type 2C ones are emptied
    (the template's value showed the condition holds; PS3.5 7.4: empty
    means unknown), Type 2 ones come back empty from the IOD completion,
    Type 1 ones in ``placeholders`` with their neutral value. Adds the
    notes to ``notes``; returns the facts that stay."""
    types = _strongest_types(sop_class)
    gone: dict[str, list[str]] = {}
    stay: list[KeptFact] = []
    for cls, kw, tag in _TEMPLATE_FACTS:
        if tag not in ds:
            continue
        if tag in kept:
            stay.append(KeptFact(tag, kw, cls, "kept by the profile (keep)"))
        elif types.get(kw, "3").startswith("1") and kw not in placeholders:
            stay.append(KeptFact(tag, kw, cls, f"Type {types[kw]} in the {_iod_name(sop_class)} "
                                               "IOD and no value that claims nothing"))
        elif types.get(kw) == "2C":
            elem = ds[tag]
            elem.value = Sequence([]) if elem.VR == "SQ" else None
            gone.setdefault(cls, []).append(kw)
        else:
            del ds[tag]
            gone.setdefault(cls, []).append(kw)
    notes += [f"template facts of its {_CLASS_TEXT[cls]} not kept (not the new pixels'): {', '.join(kws)}"
              for cls, kws in gone.items()]
    notes += [f"template fact {k.keyword} kept: {k.why}" for k in stay
              if not k.why.startswith("kept by the profile")]
    return stay


def kept_in_kind(ds: Dataset, kept_base: list[KeptFact], template: Dataset, shape: tuple[int, int],
                 policy: PixelPolicy, kept: frozenset[int], sop_class: str,
                 notes: list[str]) -> list[KeptFact]:
    """For one kind of output, once its matrix facts are settled: no Frame
    of Reference without a place in it (:func:`drop_unplaced_frame`), and
    the template facts still in ``ds`` (anatomy and acquisition kept for the
    batch, matrix facts kept for this matrix)."""
    notes += drop_unplaced_frame(ds, sop_class)
    return [k for k in kept_base if k.tag in ds] + kept_matrix_facts(ds, template, shape, policy, kept)


#: (0018,0015) Body Part Examined, (0008,2218) Anatomic Region Sequence
_BODY_PART, _ANATOMIC_REGION = 0x00180015, 0x00082218


def after_profile(ds: Dataset, kept: list[KeptFact], profile_changes: Collection[Change],
                  set_by_profile: Collection[int], notes: list[str]) -> list[KeptFact]:
    """Once the profile applied to one output: a body part it set brings its
    own Anatomic Region code (:func:`match_anatomic_region`); the template
    facts that reached the output are those the profile did not touch."""
    touched = {c.tag for c in profile_changes}
    if _BODY_PART in set_by_profile and _ANATOMIC_REGION not in set_by_profile:
        notes += match_anatomic_region(ds)  # PS3.3 10.5: the code of the profile's body part
        touched.add(_ANATOMIC_REGION)
    return [k for k in kept if k.tag in ds and k.tag not in touched]


def unknown_tags_note(changes: Collection[Change]) -> list[str]:
    """The note of the elements the identity strip removed because the
    dictionary does not know them (``core.scrub.is_known``)."""
    unknown = sorted({c.keyword for c in changes if c.rule.startswith("identity: not in")})
    if not unknown:
        return []
    return [f"template elements unknown to the DICOM dictionary removed (identity strip; "
            f"identity: keep keeps them): {', '.join(unknown)}"]


_CLASS_TEXT = {"anatomy": "anatomy and view", "acquisition": "acquisition"}


def _iod_name(sop_class: str) -> str:
    try:
        return UID(sop_class).name
    except (TypeError, ValueError):  # pragma: no cover - UID() does not raise for strings
        return str(sop_class)


def kept_matrix_facts(ds: Dataset, template: Dataset, shape: tuple[int, int], policy: PixelPolicy,
                      kept: frozenset[int]) -> list[KeptFact]:
    """The matrix facts that stay on ``ds`` after :func:`lend_matrix_facts`
    and came from the template unchanged, with the reason."""
    out = []
    for kw, tag in _MATRIX_TAGS:
        if tag not in ds or tag not in template or ds[tag].value != template[tag].value:
            continue
        if tag in kept:
            why = "kept by the profile (keep)"
        elif policy.spacing == "keep":
            why = "kept by the profile (pixel.spacing: keep)"
        else:
            why = "the new pixels have the template's rows and columns"
        out.append(KeptFact(tag, kw, "matrix", why))
    return out


# ------------------------------------------------------------ body part

#: PS3.16 Annex L Body Part Examined terms whose CID 4031 code keyword is
#: not the term itself
_BODY_PART_ALIASES = {
    "CSPINE": "CervicalSpine", "TSPINE": "ThoracicSpine", "LSPINE": "LumbarSpine",
    "SSPINE": "SacroCoccygealSpine", "ABDOMENPELVIS": "AbdomenAndPelvis",
    "CHESTABDOMEN": "ChestAndAbdomen", "CHESTABDPELVIS": "ChestAbdomenAndPelvis",
    "HEADNECK": "HeadAndNeck", "WHOLEBODY": "EntireBody", "ANKLE": "AnkleJoint",
    "ELBOW": "ElbowJoint", "WRIST": "WristJoint", "LEG": "LowerLeg", "ARM": "UpperArm",
    "TMJ": "TemporomandibularJoint", "EXTREMITY": "Extremity", "THORAX": "Chest",
}


def anatomic_region_for(body_part: str) -> Dataset | None:
    """The Anatomic Region Sequence item of CID 4031 (Common Anatomic
    Regions, PS3.16) for a Body Part Examined term, or None when the term
    has no code there."""
    from pydicom.sr.codedict import codes  # about 0.7 s: only when a profile sets a body part

    term = body_part.strip().upper()
    cid = codes.cid4031
    by_term = {name.upper(): name for name in cid.dir()}
    name = _BODY_PART_ALIASES.get(term) or by_term.get(term)
    if name is None:
        return None
    code = getattr(cid, name)
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme_designator
    item.CodeMeaning = code.meaning
    return item


def match_anatomic_region(ds: Dataset) -> list[str]:
    """PS3.3 10.5: the Anatomic Region Sequence codes what Body Part Examined
    names (PS3.16 Annex L); after the profile sets the body part, the
    sequence is the body part's CID 4031 code, or, for a term without one,
    removed (empty where the IOD makes it Type 2)."""
    body_part = str(ds.get("BodyPartExamined", "") or "")
    item = anatomic_region_for(body_part) if body_part else None
    if item is not None:
        ds.AnatomicRegionSequence = [item]
        return []
    if ds.get("AnatomicRegionSequence"):
        del ds.AnatomicRegionSequence
        return [f"Anatomic Region Sequence removed: Body Part Examined {body_part!r} has no "
                "CID 4031 code (PS3.16 Annex L)"]
    return []
