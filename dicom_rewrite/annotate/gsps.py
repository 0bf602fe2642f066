"""The Grayscale Softcopy Presentation State (PS3.3 A.33.1) that shows the
annotation boxes on the untouched sources.

One presentation state per source series (and image size, Modality LUT and
Presentation LUT Shape); a box is a closed POLYLINE in PIXEL units
(PS3.3 C.10.5.1.2: the top left corner of the top left pixel is 0,0), i.e.
``(x0, y0) -> (x1 + 1, y0) -> (x1 + 1, y1 + 1) -> (x0, y1 + 1) -> (x0, y0)``,
one graphic layer per colour (C.10.5, C.10.7), one VOI item per window
(C.11.2), the source's Modality LUT (C.11.1) and Presentation LUT Shape
(C.11.6).

The only module of the package that uses highdicom.
"""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicom_rewrite import __version__
from dicom_rewrite.annotate.background import WindowUsed
from dicom_rewrite.annotate.derive import MANUFACTURER, MODEL_NAME, SERIES_NUMBER_OFFSET, Drawn, referenced_frame
from dicom_rewrite.annotate.layout import PlacedBox
from dicom_rewrite.annotate.shapes import RGB, color_text
from dicom_rewrite.core.uids import UidMap, hashed_uid, new_uid
from dicom_rewrite.errors import PixelDataError
from dicom_rewrite.render.windowing import frame_view, lut_data, lut_descriptor

log = logging.getLogger("dicom_rewrite.annotate")

__all__ = ["GSPS_CONTENT_LABEL", "StateGroup", "build_state", "presentation_states", "state_groups"]

GSPS_CONTENT_LABEL = "ANNOTATIONS"


@dataclass
class StateGroup:
    """The annotations one presentation state shows (PS3.3 A.33.1)."""

    study: str
    modality: _ModalityKey
    shape: str
    annotations: list[Drawn]


def state_groups(annotations: Iterable[Drawn]) -> tuple[list[StateGroup], list[str]]:
    """The annotations with boxes grouped by source series, image size,
    Modality LUT and Presentation LUT Shape, and a note per colour source
    (left out: no grayscale presentation state)."""
    groups: dict[tuple[Any, ...], list[Drawn]] = defaultdict(list)
    skipped: list[str] = []
    for ann in annotations:
        if not ann.placed:
            continue
        src = ann.source
        if int(src.get("SamplesPerPixel", 1) or 1) != 1 or ann.window.center is None:
            skipped.append(f"{src.SOPInstanceUID}: colour image, no grayscale presentation state")
            continue
        key = (str(src.get("StudyInstanceUID", "")), str(src.get("SeriesInstanceUID", "")),
               int(src.Rows), int(src.Columns), _modality_key(src, ann.frame - 1), _presentation_shape(src))
        groups[key].append(ann)
    return [StateGroup(key[0], key[4], key[5], anns) for key, anns in groups.items()], skipped


def build_state(group: StateGroup, k: int, *, uid_map: UidMap, series_numbers: Mapping[str, int],
                started: datetime) -> Dataset:
    """The ``k``-th presentation state of the run (1-based), for ``group``."""
    return _presentation_state(group.annotations, group.study, group.modality, group.shape, k,
                               uid_map=uid_map,
                               number=series_numbers.get(group.study, SERIES_NUMBER_OFFSET) + 1,
                               started=started)


def presentation_states(annotations: Iterable[Drawn], *, uid_map: UidMap,
                        series_numbers: Mapping[str, int],
                        started: datetime) -> list[tuple[Dataset, list[str]]]:
    """One Grayscale Softcopy Presentation State per source series (and
    image size / Modality LUT) for every annotation with boxes, referencing
    the untouched sources. Returns ``(gsps, notes)`` pairs; colour sources
    are left out with a note."""
    groups, skipped = state_groups(annotations)
    out: list[tuple[Dataset, list[str]]] = [
        (build_state(g, k, uid_map=uid_map, series_numbers=series_numbers, started=started), [])
        for k, g in enumerate(groups, 1)
    ]
    if skipped and out:
        out[-1][1].extend(skipped)
    elif skipped:
        log.warning("no presentation state: %s", "; ".join(skipped))
    return out


# ---------------------------------------------------------------------------
# One presentation state
# ---------------------------------------------------------------------------


def _presentation_state(anns: list[Drawn], study: str, modality: _ModalityKey, shape: str,
                        k: int, *, uid_map: UidMap, number: int, started: datetime) -> Dataset:
    from highdicom import PresentationLUTTransformation
    from highdicom.pr import GrayscaleSoftcopyPresentationState

    # unique source headers, in order
    sources: dict[str, Dataset] = {}
    for a in anns:
        sources.setdefault(str(a.source.SOPInstanceUID), a.source)
    refs = [_reference_header(s) for s in sources.values()]
    ref_by_uid = {str(r.SOPInstanceUID): r for r in refs}
    layers = _graphic_layers(sorted({p.color for a in anns for p in a.placed}))
    graphic_annotations = _graphic_annotations(anns, ref_by_uid, layers)
    vois = _voi_transformations(anns, ref_by_uid)
    patient = str(refs[0].get("PatientID", "") or "")
    series_uid = uid_map.get(f"<annotation gsps series:{study}>", patient)
    gsps = GrayscaleSoftcopyPresentationState(
        referenced_images=refs,
        series_instance_uid=series_uid,
        series_number=number,
        sop_instance_uid=_instance_uid(uid_map, series_uid, sorted(sources)),
        instance_number=k,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=__version__,
        device_serial_number="0",
        content_label=GSPS_CONTENT_LABEL,
        content_description="Bounding boxes and labels (not burned in)",
        graphic_annotations=graphic_annotations,
        graphic_layers=list(layers.values()),
        modality_lut_transformation=_modality_transformation(modality),
        voi_lut_transformations=vois,
        presentation_lut_transformation=PresentationLUTTransformation(presentation_lut_shape=shape),
    )
    gsps.SeriesDescription = "Annotations (presentation state)"
    _series_laterality(gsps, refs[0])
    _stamp_clock(gsps, started)
    return gsps


def _instance_uid(uid_map: UidMap, series_uid: str, source_uids: Sequence[str]) -> str:
    if uid_map.key is not None:
        return hashed_uid(uid_map.key, "gsps", series_uid, *source_uids, root=uid_map.root)
    return new_uid(uid_map.root)


def _stamp_clock(gsps: Dataset, now: datetime) -> None:
    gsps.PresentationCreationDate = now.strftime("%Y%m%d")
    gsps.PresentationCreationTime = now.strftime("%H%M%S")
    # highdicom stamps these with the wall clock; the batch clock rules
    for keyword, fmt in (("InstanceCreationDate", "%Y%m%d"), ("InstanceCreationTime", "%H%M%S")):
        setattr(gsps, keyword, now.strftime(fmt))
    for item in gsps.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = now.strftime("%Y%m%d%H%M%S")


def _graphic_layers(colors: list[RGB]) -> dict[RGB, Any]:
    """One graphic layer per outline colour (PS3.3 C.10.7)."""
    from highdicom.color import CIELabColor
    from highdicom.pr import GraphicLayer

    return {
        c: GraphicLayer(
            f"{GSPS_CONTENT_LABEL}_{i}" if len(colors) > 1 else GSPS_CONTENT_LABEL,
            order=i, description=f"boxes drawn in {color_text(c)}",
            display_color=CIELabColor.from_rgb(*c),
        )
        for i, c in enumerate(colors, 1)
    }


def _graphic_annotations(anns: list[Drawn], ref_by_uid: Mapping[str, Dataset],
                         layers: Mapping[RGB, Any]) -> list[Any]:
    """One graphic annotation per annotated frame and colour (PS3.3 C.10.5)."""
    out = []
    for a in anns:
        ref = ref_by_uid[str(a.source.SOPInstanceUID)]
        frame = referenced_frame(ref, a.frame)
        for c, layer in layers.items():
            mine = [p for p in a.placed if p.color == c]
            if mine:
                out.append(_graphic_annotation(mine, ref, frame, layer))
    return out


def _graphic_annotation(placed: list[PlacedBox], ref: Dataset, frame: int | None, layer: Any) -> Any:
    """The outlines (and labels) of one colour on one frame."""
    from highdicom.pr import AnnotationUnitsValues, GraphicAnnotation, GraphicObject

    # PS3.3 C.10.5.1.2: closed POLYLINEs in PIXEL units, a mask's contours each one
    graphics = [GraphicObject("POLYLINE", line, AnnotationUnitsValues.PIXEL)
                for p in placed for line in p.box.polylines()]
    texts = [_text_object(p.text, _label_bounds(p)) for p in placed if p.text]
    return GraphicAnnotation(
        referenced_images=[ref], graphic_layer=layer, referenced_frame_number=frame,
        graphic_objects=graphics, text_objects=texts or None,
    )


def _label_bounds(p: PlacedBox) -> tuple[float, float, float, float]:
    """The burned-in label's rectangle in PIXEL units (the box's when there was no room)."""
    if p.label_rect is not None:
        x0, y0, x1, y1 = p.label_rect
    else:
        x0, y0, x1, y1 = p.box.corners
    return float(x0), float(y0), float(x1 + 1), float(y1 + 1)


def _text_object(text: str, bbox: tuple[float, float, float, float]) -> Any:
    """A text object in PIXEL units, left-justified in ``bbox``."""
    from highdicom.pr import AnnotationUnitsValues, TextJustificationValues, TextObject

    return TextObject(text, AnnotationUnitsValues.PIXEL, bounding_box=bbox,
                      text_justification=TextJustificationValues.LEFT)


def _voi_transformations(anns: list[Drawn], ref_by_uid: Mapping[str, Dataset]) -> list[Any]:
    """One VOI item per distinct window, each naming its images (and frames)."""
    from highdicom.pr import SoftcopyVOILUTTransformation

    by_window: dict[tuple[float, float], list[Drawn]] = defaultdict(list)
    for a in anns:
        by_window[(float(a.window.center), float(a.window.width))].append(a)  # type: ignore[arg-type]
    return [
        SoftcopyVOILUTTransformation(
            window_center=center, window_width=width, voi_lut_function="LINEAR",
            window_explanation=_explanation(items[0].window), referenced_images=seq,
        )
        for (center, width), items in by_window.items()
        for seq in _image_references(items, ref_by_uid)
    ]


def _image_references(items: list[Drawn], ref_by_uid: Mapping[str, Dataset]) -> list[Any]:
    """The single-frame images in one reference, then one per multi-frame image with its frames."""
    from highdicom import ReferencedImageSequence

    singles = [ref_by_uid[str(a.source.SOPInstanceUID)] for a in items
               if referenced_frame(a.source, a.frame) is None]
    singles = list({str(s.SOPInstanceUID): s for s in singles}.values())
    multis: dict[str, list[int]] = defaultdict(list)
    for a in items:
        if referenced_frame(a.source, a.frame) is not None:
            multis[str(a.source.SOPInstanceUID)].append(a.frame)
    seqs = []
    if singles:
        seqs.append(ReferencedImageSequence(referenced_images=singles))
    seqs.extend(ReferencedImageSequence(referenced_images=[ref_by_uid[uid]],
                                        referenced_frame_number=sorted(set(frames)))
                for uid, frames in multis.items())
    return seqs


def _explanation(w: WindowUsed) -> str:
    return f"dicom-rewrite annotate: {w.source}"[:64]


def _series_laterality(gsps: Dataset, src: Dataset) -> None:
    """PS3.3 C.7.3.1: Body Part Examined from the source; Laterality (Type 2C)
    as the source has it (its Laterality, else its Image Laterality), else
    empty unless the body part is unpaired or the image a slide (SM)."""
    from dicom_rewrite.annotate.repair import source_laterality
    from dicom_rewrite.engine.completion import UNPAIRED_BODY_PARTS

    body_part = str(src.get("BodyPartExamined", "") or "").strip()
    if body_part:
        gsps.BodyPartExamined = body_part
    laterality = source_laterality(src)
    if laterality:
        gsps.Laterality = laterality
    elif body_part.upper() not in UNPAIRED_BODY_PARTS and str(src.get("Modality", "")).upper() != "SM":
        gsps.Laterality = None


def _reference_header(src: Dataset) -> Dataset:
    """The source header with the patient/study attributes highdicom reads
    present (empty when the source has none)."""
    ref = copy.copy(src)
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
               "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName"):
        if kw not in ref:
            setattr(ref, kw, None)
    return ref


def _presentation_shape(src: Dataset) -> str:
    shape = str(src.get("PresentationLUTShape", "") or "").strip().upper()
    if shape in ("IDENTITY", "INVERSE"):
        return shape
    # PS3.3 C.7.6.3.1.2: MONOCHROME1 shows the minimum as white
    return "INVERSE" if str(src.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1" else "IDENTITY"


# ---------------------------------------------------------------------------
# Modality LUT
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RescaleKey:
    """A linear Modality LUT: (0028,1053) slope, (0028,1052) intercept, (0028,1054) type."""

    slope: float
    intercept: float
    rescale_type: str


@dataclass(frozen=True, slots=True)
class _LutKey:
    """A (0028,3000) Modality LUT Sequence item, by what it maps: the LUT
    Descriptor (entries, first stored value mapped (signed), bits per entry),
    the entries themselves and the Modality LUT Type. Two sources with equal
    keys show the same modality values for the same stored values, so one
    presentation state can carry the LUT for both (PS3.3 C.11.1)."""

    entries: int
    first: int
    bits: int
    data: bytes  # the entries, uint16 little endian (uint8 when bits is 8)
    lut_type: str
    #: how the source encoded a negative first value: SS, or US holding its two's complement
    descriptor_vr: str = field(default="US", compare=False)
    explanation: str | None = field(default=None, compare=False)


_ModalityKey = _RescaleKey | _LutKey


def _default_type(src: Dataset) -> str:
    # PS3.3 C.11.1.1.2: CT values are Hounsfield units; otherwise unspecified
    return "HU" if str(src.get("Modality", "")).upper() == "CT" else "US"


def _modality_key(src: Dataset, frame: int) -> _ModalityKey:
    """What the Modality LUT of ``frame`` (0-based) is: the LUT Sequence when
    the source has one (it is what the burned-in copy went through, see
    :func:`dicom_rewrite.render.windowing.modality_values`), else the rescale."""
    view = frame_view(src, frame)
    seq = view.get("ModalityLUTSequence")
    if seq:
        return _lut_key(seq[0], view, src)
    slope = float(view.get("RescaleSlope", 1) or 1) if "RescaleSlope" in view else 1.0
    intercept = float(view.get("RescaleIntercept", 0) or 0) if "RescaleIntercept" in view else 0.0
    rescale_type = str(view.get("RescaleType", "") or "") or _default_type(src)
    return _RescaleKey(slope, intercept, rescale_type)


def _lut_key(item: Dataset, view: Dataset, src: Dataset) -> _LutKey:
    """The identity of one Modality LUT Sequence item, read exactly as the
    rendering reads it (same descriptor and LUT Data decoding)."""
    what = f"{src.get('SOPInstanceUID', '<dataset>')}: Modality LUT Sequence"
    entries, first, bits = lut_descriptor(item, what)
    values = lut_data(item, view, entries)
    _check_lut_values(values, what)
    bits, data = _lut_entries(values, bits)
    # Type 1 in the item; like the rescale default
    lut_type = str(item.get("ModalityLUTType", "") or "").strip() or _default_type(src)
    explanation = str(item.get("LUTExplanation", "") or "").strip() or None
    vr = item["LUTDescriptor"].VR if "LUTDescriptor" in item else "US"
    signed = vr == "SS" and first < 0 and values.size < 32768
    return _LutKey(int(values.size), first, bits, data, lut_type[:64], "SS" if signed else "US",
                   explanation)


def _check_lut_values(values: np.ndarray, what: str) -> None:
    if values.size == 0:
        raise PixelDataError(f"{what}: (0028,3006) LUT Data is empty")
    if values.min() < 0 or values.max() > 65535:
        raise PixelDataError(f"{what}: (0028,3006) LUT Data values outside 0..65535")


def _lut_entries(values: np.ndarray, bits: int) -> tuple[int, bytes]:
    """PS3.3 C.11.1.1.1: 8 or 16 bits per entry; 8-bit entries are kept
    8-bit when they fit, anything else is written as 16-bit entries."""
    if bits == 8 and values.max() <= 255:
        return 8, values.astype(np.uint8).tobytes()
    return 16, values.astype("<u2").tobytes()


def _modality_transformation(key: _ModalityKey) -> Any:
    """The presentation state's Modality LUT (PS3.3 C.11.1): the source's
    rescale, or a Modality LUT Sequence with the source's descriptor, type
    and entries."""
    from highdicom import ModalityLUT, ModalityLUTTransformation

    if isinstance(key, _RescaleKey):
        return ModalityLUTTransformation(rescale_intercept=key.intercept, rescale_slope=key.slope,
                                         rescale_type=key.rescale_type)
    dtype = np.uint8 if key.bits == 8 else np.dtype("<u2")
    data = np.frombuffer(key.data, dtype=dtype)
    # highdicom takes a first mapped value 0..65535; a negative one (signed
    # source pixels) is written below as the source wrote it
    lut = ModalityLUT(lut_type=key.lut_type, first_mapped_value=max(key.first, 0), lut_data=data,
                      lut_explanation=key.explanation[:64] if key.explanation else None)
    if key.first < 0:
        # PS3.3 C.11.1.1.1: the first mapped value follows the pixel
        # representation of the image: SS, or US holding the two's complement
        entries = int(lut.LUTDescriptor[0])
        second = key.first if key.descriptor_vr == "SS" else key.first + 65536
        lut["LUTDescriptor"] = DataElement(Tag("LUTDescriptor"), key.descriptor_vr,
                                           [entries, second, key.bits])
    return ModalityLUTTransformation(modality_lut=lut)
