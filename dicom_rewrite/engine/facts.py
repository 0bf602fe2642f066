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

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

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
)

_MATRIX_TAGS = tuple((kw, int(tag_for_keyword(kw) or 0)) for kw in MATRIX_FACTS)


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
