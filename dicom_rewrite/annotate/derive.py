"""The derived RGB image: what makes an engine output an annotation.

The RGB frame goes through the engine (:class:`Converter`) with the source
as template; the ``adjust`` hook (:func:`derive`) adds what makes it a
derived annotation: Burned In Annotation YES, Source Image Sequence,
Derivation Description, the annotation series and its description,
per-frame geometry (PS3.3 C.7.6.1, C.7.6.1.1.4, C.7.6.16.2).

An annotation stays in its source's patient and study
(:func:`annotation_profile`, :class:`KeepingUidMap`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

from dicom_rewrite import __version__
from dicom_rewrite.annotate.background import WindowUsed
from dicom_rewrite.annotate.layout import PlacedBox
from dicom_rewrite.annotate.shapes import Traced
from dicom_rewrite.core import iod
from dicom_rewrite.core.dataset_copy import copy_elements
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.core.uids import UidMap, is_valid_uid
from dicom_rewrite.engine.pixels import PixelPlan
from dicom_rewrite.io import dicom_in
from dicom_rewrite.io.dicom_in import PIXEL_KEYWORDS
from dicom_rewrite.profile import Identity, Profile, SopClassMode, UidMode

__all__ = [
    "MANUFACTURER",
    "MODEL_NAME",
    "SERIES_DESCRIPTION",
    "SERIES_NUMBER_OFFSET",
    "Annotation",
    "Drawn",
    "KeepingUidMap",
    "Planned",
    "annotation_profile",
    "derive",
    "frame_count",
    "header",
    "kept_header",
    "series_number",
    "traced",
]

#: (0008,103E) Series Description of the annotation series (LO: 64 chars)
SERIES_DESCRIPTION = "Annotations (burned in)"
MANUFACTURER = "dicom-rewrite"
MODEL_NAME = "dicom-rewrite annotate"
#: a series number far from the scanner's (added to the largest source series number)
SERIES_NUMBER_OFFSET = 1000

_PIXEL_TAGS = frozenset(int(tag_for_keyword(kw)) for kw in PIXEL_KEYWORDS)  # type: ignore[arg-type]
_SECONDARY_CAPTURE = UID("1.2.840.10008.5.1.4.1.1.7")
#: (per-frame functional group sequence, attribute) copied for one frame of a multi-frame source
_FRAME_GEOMETRY = (
    ("PlanePositionSequence", "ImagePositionPatient"),
    ("PlaneOrientationSequence", "ImageOrientationPatient"),
    ("PixelMeasuresSequence", "PixelSpacing"),
    ("PixelMeasuresSequence", "SliceThickness"),
)


class KeepingUidMap(UidMap):
    """A UID map that keeps every real UID of the source.

    An annotation stays in its source's patient and study, so the references
    the source carries (Referenced Study Sequence, Request Attributes...) stay
    valid; only the engine's level keys (``<series:...>``) get new UIDs.

    ``instance_of``, while set, is the SOP Instance UID an output's own UID
    derives from (the source being annotated, when one engine serves a
    whole series: see :mod:`dicom_rewrite.annotate.engines`)."""

    instance_of: str | None = None

    def get(self, old: str, scope: str = "") -> UID:
        if is_valid_uid(str(old)):
            return UID(str(old))
        return super().get(old, scope)

    def level(self, level: str, mode: str, template_uid: str | None, scope: str = "",
              input_id: str = "") -> UID:
        if level == "instance" and self.instance_of is not None:
            template_uid = self.instance_of
        return super().level(level, mode, template_uid, scope, input_id)


def annotation_profile(profile: Profile | None) -> Profile:
    """The user's profile, with what an annotation must keep forced on:
    identity kept, study and frame of reference kept, the series given by us,
    Explicit VR Little Endian."""
    base = profile or Profile()
    sop = base.pixel.sop_class
    if sop != SopClassMode.SECONDARY_CAPTURE:
        sop = SopClassMode.AUTO
    return dataclasses.replace(
        base,
        identity=Identity.KEEP,
        uids=dataclasses.replace(base.uids, study=UidMode.KEEP, series=UidMode.KEEP,
                                 frame_of_reference=UidMode.KEEP),
        pixel=dataclasses.replace(base.pixel, transfer_syntax="explicit-vr-little-endian", sop_class=sop),
    )


def frame_count(ds: Dataset) -> int:
    """(0028,0008) Number of Frames; 1 when absent or not a number."""
    return dicom_in.frame_count(ds, strict=False)


def referenced_frame(ds: Dataset, frame: int) -> int | None:
    """The frame number a reference to ``ds`` names: None unless its IOD is
    multi-frame (holds Number of Frames; PS3.3 10.3 Image SOP Instance
    Reference Macro: Referenced Frame Number is for multi-frame images only)
    and it has more than one frame. A classic MR or CT file that carries
    Number of Frames anyway is referenced as a whole."""
    if frame_count(ds) <= 1 or "NumberOfFrames" not in iod.iod_keywords(str(ds.get("SOPClassUID", ""))):
        return None
    return frame


def series_number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def header(ds: Dataset) -> Dataset:
    """``ds`` without its pixel data (for references, the GSPS and the SR):
    a dataset of its own sharing ``ds``'s elements, which nothing changes in
    place (raw ones are converted in the header's own dictionary when read)."""
    h = Dataset()
    h._dict = {tag: elem for tag, elem in ds._dict.items() if tag not in _PIXEL_TAGS}
    if hasattr(ds, "file_meta"):
        h.file_meta = FileMetaDataset()
        copy_elements(ds.file_meta, h.file_meta)
    return h


@dataclass
class Planned:
    """One frame of one source, its boxes checked against the image."""

    source: Dataset
    frame: int  # 1-based
    placed: list[PlacedBox]


#: what a presentation state and an SR read of a source image after the
#: first of its series (which is kept whole): the patient and study they
#: copy, the references, the image's size, Modality LUT, VOI and geometry
_KEPT = frozenset(int(tag_for_keyword(kw)) for kw in (  # type: ignore[arg-type]
    "SpecificCharacterSet", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription", "SeriesInstanceUID", "SeriesNumber",
    "SeriesDescription", "Modality", "FrameOfReferenceUID", "BodyPartExamined", "Laterality",
    "ImageLaterality", "SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns",
    "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "NumberOfFrames", "RescaleSlope", "RescaleIntercept", "RescaleType",
    "ModalityLUTSequence", "PresentationLUTShape", "WindowCenter", "WindowWidth",
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "PixelSpacing",
    "ImagePositionPatient", "ImageOrientationPatient", "SliceThickness",
))


def kept_header(h: Dataset) -> Dataset:
    """The part of a source header a :class:`Drawn` keeps for the later
    images of a series, so that what a batch holds for its presentation
    states and reports stays small (the elements are shared)."""
    out = Dataset()
    out._dict = {tag: elem for tag, elem in h._dict.items() if tag in _KEPT}
    if hasattr(h, "file_meta"):
        out.file_meta = h.file_meta
    return out


@dataclass
class Drawn:
    """What the presentation states and the SR keep of an annotated frame:
    the source's header, the frame and the shapes' geometry (no pixels)."""

    source: Dataset
    frame: int  # 1-based
    placed: list[PlacedBox]
    window: WindowUsed


def traced(placed: list[PlacedBox]) -> list[PlacedBox]:
    """``placed`` with every mask replaced by its contours (:class:`~.shapes.Traced`)."""
    return [dataclasses.replace(p, box=Traced.of(p.box)) if p.box.kind == "mask" else p for p in placed]


@dataclass
class Annotation:
    """The result of annotating one frame of one source."""

    dataset: Dataset
    source: Dataset  # the source's header (no pixels)
    frame: int  # 1-based
    placed: list[PlacedBox]
    window: WindowUsed
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# The adjust hook
# ---------------------------------------------------------------------------


class _Setter:
    """Sets attributes on the output and records each as a :class:`Change`."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.changes: list[Change] = []

    def __call__(self, kw: str, value: Any, rule: str) -> None:
        setattr(self.ds, kw, value)
        self.changes.append(Change(int(tag_for_keyword(kw)), "set", rule))  # type: ignore[arg-type]


def derive(ds: Dataset, plan: PixelPlan, src: Dataset, planned: Planned, used: WindowUsed,
           series_number: int, multi: bool) -> list[Change]:
    """The ``adjust`` hook: what makes the output a derived annotation."""
    put = _Setter(ds)
    # PS3.3 C.7.6.1.1.2: Image Type value 1 DERIVED, value 2 SECONDARY
    image_type = list(ds.get("ImageType", []) or [])
    put("ImageType", ["DERIVED", "SECONDARY", *image_type[2:]], "annotation: derived image")
    # PS3.3 C.7.6.1: the boxes and labels are burned into the pixels
    put("BurnedInAnnotation", "YES", "annotation: boxes burned in")
    put("SourceImageSequence", DicomSequence([_source_reference(src, planned.frame if multi else None)]),
        "annotation: source reference")
    put("DerivationDescription", _derivation_text(planned, used)[:1024], "annotation: derivation")
    desc = str(src.get("SeriesDescription", "") or "").strip()
    put("SeriesDescription", (f"{SERIES_DESCRIPTION}: {desc}" if desc else SERIES_DESCRIPTION)[:64],
        "annotation: series description")
    put("SeriesNumber", series_number, "annotation: series number")
    if plan.sop_class == _SECONDARY_CAPTURE:
        # PS3.3 C.8.6.1 SC Equipment: the device that made this capture
        put("SecondaryCaptureDeviceManufacturer", MANUFACTURER, "annotation: SC equipment")
        put("SecondaryCaptureDeviceManufacturerModelName", MODEL_NAME, "annotation: SC equipment")
        put("SecondaryCaptureDeviceSoftwareVersions", __version__, "annotation: SC equipment")
    if multi:
        _frame_geometry(put, src, planned.frame - 1, plan.sop_class)
    return put.changes


def _source_reference(src: Dataset, frame: int | None) -> Dataset:
    """PS3.3 C.7.6.1.1.4 / C.12.1.1: the source instance (and frame) the output derives from."""
    item = Dataset()
    item.ReferencedSOPClassUID = src.SOPClassUID
    item.ReferencedSOPInstanceUID = src.SOPInstanceUID
    if frame is not None and referenced_frame(src, frame) is not None:
        item.ReferencedFrameNumber = frame  # PS3.3 10.3: multi-frame IODs only
    code = Dataset()
    # CID 7202 Source Image Purpose of Reference
    code.CodeValue = "121322"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Source image for image processing operation"
    item.PurposeOfReferenceCodeSequence = DicomSequence([code])
    item.SpatialLocationsPreserved = "YES"
    return item


def _derivation_text(planned: Planned, used: WindowUsed) -> str:
    labels = sorted({p.box.label for p in planned.placed if p.box.label})
    return (
        f"{_counted(planned.placed)} burned in by dicom-rewrite annotate"
        + (f" ({', '.join(labels)})" if labels else "")
        + (f"; window center {used.center:g}, width {used.width:g} LINEAR ({used.source})"
           if used.center is not None and used.width is not None else "")
        + ("; MONOCHROME1 inverted" if used.inverted else "")
    )


def _counted(placed: list[PlacedBox]) -> str:
    """``2 bounding box(es)``, ``1 bounding box(es), 3 mask(s)``...: what was burned in."""
    kinds = {"box": "bounding box(es)", "polygon": "polygon(s)", "mask": "mask segment(s)"}
    counts = {k: sum(p.box.kind == k for p in placed) for k in kinds}
    parts = [f"{n} {kinds[k]}" for k, n in counts.items() if n]
    return ", ".join(parts) or "0 bounding box(es)"


def _frame_geometry(put: Callable[[str, Any, str], None], src: Dataset, frame: int, sop_class: str) -> None:
    """Geometry of one frame of an enhanced multi-frame source (PS3.3 C.7.6.16.2)."""
    allowed = _allowed(sop_class)
    for seq_kw, kw in _FRAME_GEOMETRY:
        value = _functional_value(src, frame, seq_kw, kw)
        if value is not None and kw in allowed:
            put(kw, copy.deepcopy(value), "annotation: frame geometry")


def _functional_value(ds: Dataset, frame: int, seq_kw: str, kw: str) -> Any:
    """``kw`` from the per-frame, else the shared, functional group ``seq_kw``."""
    for groups_kw, index in (("PerFrameFunctionalGroupsSequence", frame),
                             ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(groups_kw)
        if groups and 0 <= index < len(groups):
            items = groups[index].get(seq_kw)
            if items and kw in items[0]:
                return items[0][kw].value
    return None


def _allowed(sop_class: str) -> frozenset[str]:
    from dicom_rewrite.core import iod

    return iod.iod_keywords(sop_class)
