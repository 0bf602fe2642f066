"""One engine per source series.

The annotation of a frame is the engine's output with the source (less its
pixels, with the annotation series' UID) as template. Building a
:class:`Converter` parses and scrubs its template (deep copies); doing that
once per frame is what this module avoids: :class:`SeriesEngines` keeps one
converter per source series and annotation series, and serves every frame
of every instance of that series with it.

Instances of one series differ in a few attributes (position, slice
location, acquisition time...). The series' converter makes another
instance's output exactly as a converter of its own would when every
attribute that differs is one the engine sets per output anyway
(:data:`_PER_OUTPUT`), or one it passes through untouched
(:data:`_PER_INSTANCE`, plain non-empty ASCII values, not read by the
profile's ``{template.X}`` values): those are copied from the instance onto
the output in the ``adjust`` hook, before anything else reads them. Any
other difference (another tag set, a UID, the Image Type...) gets the
instance a converter of its own, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from dicom_rewrite.annotate.derive import KeepingUidMap
from dicom_rewrite.core.dataset_copy import copy_elements
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Output, Rendered
from dicom_rewrite.engine.pixels import PixelPlan
from dicom_rewrite.engine.template import Template
from dicom_rewrite.io.dicom_in import PIXEL_KEYWORDS
from dicom_rewrite.io.images import Raster
from dicom_rewrite.profile import Profile

__all__ = ["SeriesEngines"]

Adjust = Callable[[Dataset, PixelPlan], list[Change]]


def _tags(*keywords: str) -> frozenset[int]:
    return frozenset(int(tag_for_keyword(kw)) for kw in keywords)  # type: ignore[arg-type]


#: set by the engine for every output whatever the template holds (the SOP
#: Instance UID's derivation is the map's ``instance_of``)
_PER_OUTPUT = _tags("SOPInstanceUID", "InstanceNumber", "ContentDate", "ContentTime",
                    "InstanceCreationDate", "InstanceCreationTime")
#: what differs between the instances of a series and the engine passes through
_PER_INSTANCE = _tags(
    "ImagePositionPatient", "ImageOrientationPatient", "SliceLocation", "SliceThickness",
    "AcquisitionNumber", "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime",
    "TriggerTime", "ImageComments", "EchoNumbers", "TemporalPositionIdentifier",
    "DataCollectionDiameter", "ExposureTime", "XRayTubeCurrent", "Exposure", "KVP", "CTDIvol",
)
#: every top-level attribute the annotation hook reads or writes: the
#: derivation (:func:`~.derive.derive`) and the per-instance values
ADJUST_TAGS = _PER_INSTANCE | _tags(
    "ImageType", "BurnedInAnnotation", "SourceImageSequence", "DerivationDescription",
    "SeriesDescription", "SeriesNumber", "SecondaryCaptureDeviceManufacturer",
    "SecondaryCaptureDeviceManufacturerModelName", "SecondaryCaptureDeviceSoftwareVersions",
    "PixelSpacing",
)
_PLAIN_VRS = frozenset({"DS", "IS", "TM", "DA", "DT", "FD", "FL", "US", "SS", "UL", "SL",
                        "CS", "LO", "SH", "ST", "LT"})
_TEMPLATE_FIELD = re.compile(r"^template\.([A-Za-z][A-Za-z0-9]*)$")


class _NotThisEngine(Exception):
    """The series' converter changed an attribute that differs for this instance."""


def _plain(elem: DataElement) -> bool:
    return elem.VR in _PLAIN_VRS and not elem.is_empty and str(elem.value).isascii()


def _template_tags(profile: Profile) -> frozenset[int]:
    """The attributes the profile's values read from the template (``{template.X}``)."""
    out = set()
    for rule in profile.rules:
        for tpl in getattr(rule, "templates", ()):  # value rules (set, default) have templates
            for name in tpl.fields:
                m = _TEMPLATE_FIELD.match(name)
                if m and tag_for_keyword(m[1]) is not None:
                    out.add(int(tag_for_keyword(m[1])))  # type: ignore[arg-type]
    return frozenset(out)


def _same_bytes(a: object, b: object) -> bool:
    """The same element object, or raw elements of the same bytes (so the same value)."""
    return a is b or (type(a) is RawDataElement and type(b) is RawDataElement
                      and a.VR == b.VR and a.value == b.value and a.is_little_endian == b.is_little_endian)


class _Engine:
    """One series' converter and the header of the instance it was built from."""

    def __init__(self, converter: Converter, source: Dataset) -> None:
        self.converter = converter
        self.source = source

    def differences(self, other: Dataset, read_by_profile: frozenset[int]) -> list[int] | None:
        """The per-instance tags in which ``other`` differs from this engine's
        source; None when this engine cannot make ``other``'s output."""
        mine = self.source
        if mine.keys() != other.keys():
            return None
        out = []
        for tag in other.keys():
            if _same_bytes(mine._dict[tag], other._dict[tag]):
                continue
            a, b = mine[tag], other[tag]
            if a.VR == b.VR and a.value == b.value:
                continue
            if tag in read_by_profile:
                return None
            if tag in _PER_OUTPUT:
                continue
            if tag not in _PER_INSTANCE or not _plain(a) or not _plain(b):
                return None
            out.append(int(tag))
        return out

    def overlay(self, ds: Dataset, other: Dataset, tags: list[int]) -> None:
        """Put ``other``'s values of ``tags`` on the output: where the
        engine passed this engine source's value through untouched."""
        for tag in tags:
            elem = ds.get(tag)
            if elem is None:
                continue  # removed by the engine (by tag): it would be for ``other`` too
            mine = self.source[tag]
            if elem.VR != mine.VR or elem.value != mine.value:
                raise _NotThisEngine
            copy_elements(other, ds, [tag])


class SeriesEngines:
    """The converters of one annotation run, one per source series (and
    annotation series)."""

    def __init__(self, profile: Profile, uid_map: KeepingUidMap, started: datetime) -> None:
        self.profile = profile
        self.uid_map = uid_map
        self.started = started
        self._engines: dict[tuple[str, str], _Engine] = {}
        self._read_by_profile = _template_tags(profile)

    def _build(self, src: Dataset, source_header: Dataset, series_uid: str) -> _Engine:
        # the template: the source's elements (shared, never changed) with a
        # new Series Instance UID element (a new object, not a changed value)
        tpl = Dataset()
        for elem in src:
            if elem.keyword not in PIXEL_KEYWORDS:
                tpl.add(elem)
        tpl.add(DataElement(Tag("SeriesInstanceUID"), "UI", series_uid))
        converter = Converter(Template.from_dataset(tpl), self.profile,
                              transfer_syntax="explicit-vr-little-endian", started=self.started,
                              uid_map=self.uid_map, own_pixels=True)
        return _Engine(converter, source_header)

    def convert(self, src: Dataset, source_header: Dataset, series_uid: str, raster: Raster, *,
                index: int, stem: str, name: str, adjust: Adjust,
                writer: DatasetWriter | None = None) -> Output | Rendered:
        """The engine's output for ``raster``, a frame of ``src`` (whose
        header without pixels is ``source_header``), in ``series_uid``: the
        dataset, or with ``writer`` the parts of its file (the converter's
        :meth:`~Converter.render`: stamps for the later frames of a series)."""
        key = (str(src.get("SeriesInstanceUID", "")), series_uid)
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = self._build(src, source_header, series_uid)
        tags = engine.differences(source_header, self._read_by_profile)
        if tags is None:
            engine = self._build(src, source_header, series_uid)
            tags = []
        elif tags:
            try:
                return self._run(engine, src, raster, index, stem, name, adjust, source_header, tags, writer)
            except _NotThisEngine:
                engine, tags = self._build(src, source_header, series_uid), []
        return self._run(engine, src, raster, index, stem, name, adjust, source_header, tags, writer)

    def _run(self, engine: _Engine, src: Dataset, raster: Raster, index: int, stem: str, name: str,
             adjust: Adjust, source_header: Dataset, tags: list[int],
             writer: DatasetWriter | None) -> Output | Rendered:
        def hook(ds: Dataset, plan: PixelPlan) -> list[Change]:
            engine.overlay(ds, source_header, tags)
            return adjust(ds, plan)

        self.uid_map.instance_of = str(src.SOPInstanceUID)
        try:
            if writer is None:
                return engine.converter.convert(raster, index=index, stem=stem, name=name, adjust=hook)
            # the hook's attributes (and the per-instance ones) are encoded per output
            return engine.converter.render(raster, writer, index=index, stem=stem, name=name,
                                           adjust=hook, adjust_tags=ADJUST_TAGS)
        finally:
            self.uid_map.instance_of = None
