"""The structured report (``--sr``): a Comprehensive 3D SR (PS3.3 A.35.13)
holding a TID 1500 Measurement Report, one TID 1410 planar ROI per finding,
built with highdicom.

A finding is one shape on one frame: its region is a closed POLYLINE SCOORD
(PS3.3 C.18.6.1.1: PIXEL coordinates, the top left corner of the top left
pixel at 0,0; a mask's longest contour) on the source image (and frame); its
label is the finding type, its score a numeric measurement, and every ROI
and measurement names the algorithm (TID 4019 Algorithm Identification).
One report per study, referencing the untouched source images.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from dicom_rewrite import __version__
from dicom_rewrite.annotate.derive import MANUFACTURER, MODEL_NAME, SERIES_NUMBER_OFFSET, Drawn, referenced_frame
from dicom_rewrite.annotate.layout import PlacedBox
from dicom_rewrite.core.uids import UidMap, hashed_uid, new_uid

__all__ = ["SCHEME", "SCORE_CODE", "ReportGroup", "build_report", "report_groups"]

#: our private coding scheme (PS3.16 8.2: a designator starting "99")
SCHEME = "99DCMRW"
#: the score of a finding, a numeric measurement without units
SCORE_CODE = ("score", SCHEME, "Model score")
#: the series number of the SR: past the annotation (+0) and presentation state (+1) series
SR_SERIES_OFFSET = 2


@dataclass
class ReportGroup:
    """The findings one SR holds: every drawn frame of one study."""

    study: str
    drawn: list[Drawn]


def report_groups(drawn: Iterable[Drawn]) -> list[ReportGroup]:
    """One group per study, in order."""
    by_study: dict[str, list[Drawn]] = defaultdict(list)
    for d in drawn:
        if d.placed:
            by_study[str(d.source.get("StudyInstanceUID", ""))].append(d)
    return [ReportGroup(study, items) for study, items in by_study.items()]


def _finding_code(text: str) -> Code:
    """A label as a code of our scheme (value: a digest of the label, SH 16)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12].upper()
    return Code(f"L{digest}", SCHEME, text[:64])


def _evidence(src: Dataset) -> Dataset:
    """The source header with the patient/study attributes highdicom reads."""
    ref = Dataset()
    for elem in src:
        ref.add(elem)
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
               "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName"):
        if kw not in ref:
            setattr(ref, kw, None)
    return ref


def _region(p: PlacedBox, src: Dataset, frame: int | None) -> Any:
    import numpy as np
    from highdicom.sr import GraphicTypeValues, ImageRegion, SourceImageForRegion

    lines = p.box.polylines()
    line = max(lines, key=len)
    source = SourceImageForRegion(str(src.SOPClassUID), str(src.SOPInstanceUID),
                                  referenced_frame_numbers=[frame] if frame else None)
    # PS3.3 C.18.6.1.1: a closed POLYLINE (first point = last) in pixel coordinates
    return ImageRegion(GraphicTypeValues.POLYLINE, np.asarray(line, dtype=float), source)


def _roi(n: int, p: PlacedBox, src: Dataset, frame: int | None, algorithm: Any, uid_map: UidMap) -> Any:
    from highdicom.sr import Measurement, PlanarROIMeasurementsAndQualitativeEvaluations, TrackingIdentifier
    from pydicom.sr.codedict import codes

    label = p.box.label or p.box.kind
    tracking = TrackingIdentifier(
        uid=_uid(uid_map, "sr finding", str(src.SOPInstanceUID), str(frame or 1), str(n)),
        identifier=f"finding {n}: {label}"[:64])
    measurements = None
    if p.box.score is not None:
        # TID 300 Measurement: the score, unitless (UCUM "1")
        measurements = [Measurement(name=Code(*SCORE_CODE), value=float(p.box.score),
                                    unit=Code("1", "UCUM", "no units"), algorithm_id=algorithm)]
    return PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        referenced_region=_region(p, src, frame),
        finding_type=_finding_code(label),
        finding_category=codes.SCT.MorphologicallyAbnormalStructure,
        algorithm_id=algorithm,
        measurements=measurements,
    )


def _uid(uid_map: UidMap, *parts: str) -> str:
    if uid_map.key is not None:
        return str(hashed_uid(uid_map.key, *parts, root=uid_map.root))
    return str(new_uid(uid_map.root))


def build_report(group: ReportGroup, k: int, *, uid_map: UidMap, series_numbers: Mapping[str, int],
                 started: datetime, algorithm: tuple[str, str] | None = None) -> Dataset:
    """The ``k``-th SR of the run (1-based): a TID 1500 Measurement Report of
    ``group``'s findings, referencing their source images."""
    from highdicom.sr import (
        AlgorithmIdentification,
        Comprehensive3DSR,
        DeviceObserverIdentifyingAttributes,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
    )
    from pydicom.sr.codedict import codes

    name, version = algorithm or (MODEL_NAME, __version__)
    algo = AlgorithmIdentification(name=name[:64], version=version[:64])
    sources: dict[str, Dataset] = {}
    rois: list[Any] = []
    for d in group.drawn:
        sources.setdefault(str(d.source.SOPInstanceUID), d.source)
        frame = referenced_frame(d.source, d.frame)
        rois.extend(_roi(len(rois) + 1, p, d.source, frame, algo, uid_map) for p in d.placed)
    first = next(iter(sources.values()))
    patient = str(first.get("PatientID", "") or "")
    series_uid = uid_map.get(f"<annotation sr series:{group.study}>", patient)
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=_uid(uid_map, "sr device", series_uid), name=MODEL_NAME, manufacturer_name=MANUFACTURER))
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=Code("363679005", "SCT", "Imaging procedure"),
        imaging_measurements=rois,
    )
    sr = Comprehensive3DSR(
        evidence=[_evidence(s) for s in sources.values()],
        content=report,
        series_instance_uid=series_uid,
        series_number=series_numbers.get(group.study, SERIES_NUMBER_OFFSET) + SR_SERIES_OFFSET,
        sop_instance_uid=_uid(uid_map, "sr", series_uid, *sorted(sources)),
        instance_number=k,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    sr.SeriesDescription = "Annotations (structured report)"
    _stamp_clock(sr, started)
    return sr


def _stamp_clock(sr: Dataset, now: datetime) -> None:
    # highdicom stamps these with the wall clock; the batch clock rules
    for keyword, fmt in (("ContentDate", "%Y%m%d"), ("ContentTime", "%H%M%S"),
                         ("InstanceCreationDate", "%Y%m%d"), ("InstanceCreationTime", "%H%M%S"),
                         ("SeriesDate", "%Y%m%d"), ("SeriesTime", "%H%M%S")):
        if keyword in sr:
            setattr(sr, keyword, now.strftime(fmt))
