"""A series on its source series' grid (``series --reference``): a model's
result (a mask, a probability map, a synthetic image) back where it came
from.

Slice ``k`` of the volume (aligned by :mod:`~dicom_rewrite.series.align`)
lies on source slice ``k`` (ordered along the normal by
:mod:`~dicom_rewrite.series.source`). Each output slice is made by the
engine with that source slice as its template (the source scanner's
dialect), or with ``--template`` and the source slice's identity; it keeps
the source's patient, study and Frame of Reference, takes the geometry of
its source slice as it is, references it (Source Image Sequence, Referenced
Image Sequence) and is DERIVED (PS3.3 C.7.6.1).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from dicom_rewrite.batch import Sink
from dicom_rewrite.core.scrub import IDENTITY_TAGS, Change, strip_identity
from dicom_rewrite.core.uids import KeptUidMap
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Output, Rendered
from dicom_rewrite.engine.pixels import PixelPlan
from dicom_rewrite.engine.template import Template, as_profile, as_template
from dicom_rewrite.io.volumes import Volume
from dicom_rewrite.profile import Identity, Profile, UidMode
from dicom_rewrite.series.align import align
from dicom_rewrite.series.source import SourceSeries, load_reference
from dicom_rewrite.series.writer import SeriesMaker, SeriesResult, as_volume, write_slices

__all__ = ["DERIVED_SERIES_OFFSET", "SOURCE_GEOMETRY", "DerivedSeriesMaker", "prepare_derived",
           "reference_profile", "write_derived_series"]

#: added to the source's Series Number for the derived series
DERIVED_SERIES_OFFSET = 2000

#: what a derived slice takes from its source slice as it is (PS3.3 C.7.6.2 Image Plane)
SOURCE_GEOMETRY = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                   "SliceThickness", "SpacingBetweenSlices", "SliceLocation")

#: CID 7202 Source Image Purpose of Reference
SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
#: CID 7201 Referenced Image Purpose of Reference
REFERENCED_PURPOSE = ("121338", "DCM", "Anatomic image")

#: what a ``--template`` takes from the source slice besides its identity
_SOURCE_CONTEXT = ("StudyInstanceUID", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription",
                   "FrameOfReferenceUID", "PositionReferenceIndicator")


def reference_profile(profile: Profile) -> Profile:
    """The user's profile with what a derived series of the source must keep:
    the source's identity, study and Frame of Reference; a new series and new
    instances (or keyed hashes), never the source's."""
    uids = profile.uids

    def fresh(mode: UidMode) -> UidMode:
        return UidMode.NEW if mode == UidMode.KEEP else mode

    return dataclasses.replace(
        profile, identity=Identity.KEEP,
        uids=dataclasses.replace(uids, study=UidMode.KEEP, frame_of_reference=UidMode.KEEP,
                                 series=fresh(uids.series), instance=fresh(uids.instance)))


def _composite(template: Template, src: Template) -> Template:
    """``template``'s dialect with the source slice's identity, study and
    frame of reference (``--template`` with ``--reference``)."""
    ds = copy.deepcopy(template.dataset)
    strip_identity(ds)
    keep = {int(tag_for_keyword(kw) or 0) for kw in _SOURCE_CONTEXT}
    for elem in src.dataset:
        if int(elem.tag) in IDENTITY_TAGS or int(elem.tag) in keep:
            ds.add(copy.deepcopy(elem))
    return Template(ds, template.path)


def _code(value: tuple[str, str, str]) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value
    return item


def _reference(src: Dataset, purpose: tuple[str, str, str], *, spatial: bool) -> Dataset:
    """An image reference (PS3.3 10.3 Image SOP Instance Reference Macro) with its purpose."""
    item = Dataset()
    item.ReferencedSOPClassUID = src.SOPClassUID
    item.ReferencedSOPInstanceUID = src.SOPInstanceUID
    item.PurposeOfReferenceCodeSequence = DicomSequence([_code(purpose)])
    if spatial:
        item.SpatialLocationsPreserved = "YES"  # PS3.3 C.7.6.1.1.4: the voxels are where the source's are
    return item


def _instance_numbers(source: SourceSeries) -> list[int]:
    """The source slices' Instance Numbers when they are distinct numbers
    (a derived slice is numbered as the slice it lies on), else 1..N in
    position order."""
    try:
        numbers = [int(ds.InstanceNumber) for ds in source.slices]
    except (AttributeError, TypeError, ValueError):
        numbers = []
    if len(set(numbers)) == len(source.slices) and all(n >= 0 for n in numbers):
        return numbers
    return list(range(1, len(source.slices) + 1))


class DerivedSeriesMaker(SeriesMaker):
    """:class:`SeriesMaker` on a source series' grid, one source slice per output slice."""

    def __init__(self, volume: Volume, source: SourceSeries, profile: Profile, *,
                 template: Template | None = None, transfer_syntax: str | None = None,
                 started: datetime | None = None, notes: Iterable[str] = ()) -> None:
        self.source = source
        self.given_template = template
        self.transfer_syntax = transfer_syntax
        self.uid_map = KeptUidMap(source.uids(), profile.uids.root, profile.uids.key)
        self.profile = reference_profile(profile)
        super().__init__(volume, self.template_for(0), self.profile, source.geometry,
                         transfer_syntax=transfer_syntax, started=started, uid_map=self.uid_map)
        self.numbers = _instance_numbers(source)
        self.align_notes = list(notes)
        first = source.slices[0]
        try:
            self.series_number: int | None = int(first.SeriesNumber) + DERIVED_SERIES_OFFSET
        except (AttributeError, TypeError, ValueError):
            self.series_number = None
        desc = str(first.get("SeriesDescription", "") or "").strip()
        self.series_description = (f"{self.stem} on {desc}" if desc else f"{self.stem} (derived)")[:64]

    def template_for(self, k: int) -> Template:
        src = Template.from_dataset(self.source.slices[k], self.source.files[k])
        return src if self.given_template is None else _composite(self.given_template, src)

    def number(self, k: int) -> int:
        return self.numbers[k]

    def notes(self) -> list[str]:
        out = [n for n in super().notes() if "left-handed" not in n]
        out.append(f"on the grid of source {self.source.name}: {len(self.source.slices)} slice(s), "
                   "each with its source slice's geometry")
        return out + self.align_notes

    def _converter(self, k: int) -> Converter:
        if k == 0:
            return self.converter
        return Converter(self.template_for(k), self.profile, transfer_syntax=self.transfer_syntax,
                         started=self.converter.started, uid_map=self.uid_map)

    def _adjust(self, k: int) -> Callable[[Dataset, PixelPlan], list[Change]]:
        encode = super()._adjust(k)  # geometry of the mean grid, rescale, window
        src = self.source.slices[k]
        even = self.source.evenly_spaced

        def adjust(ds: Dataset, plan: PixelPlan) -> list[Change]:
            changes = encode(ds, plan)
            put = _Setter(ds, changes)
            for kw in SOURCE_GEOMETRY:
                if kw in src:  # PS3.3 C.7.6.2: the source slice's own plane, as it is
                    put(kw, copy.deepcopy(src[kw].value), "reference: source slice geometry")
                elif kw in ds and (kw == "SliceThickness" or not even):
                    del ds[kw]  # not a fact we know: the source did not say it
            put("InstanceNumber", self.number(k), "reference: source slice number")
            # PS3.3 C.7.6.1: the image this one was derived from, and the anatomy it is drawn on
            put("SourceImageSequence", DicomSequence([_reference(src, SOURCE_PURPOSE, spatial=True)]),
                "reference: source image")
            put("ReferencedImageSequence",
                DicomSequence([_reference(src, REFERENCED_PURPOSE, spatial=False)]),
                "reference: referenced image")
            put("DerivationDescription",
                f"{self.name} on the grid of source series {self.source.series_instance_uid}, "
                "written by dicom-rewrite series --reference"[:1024], "reference: derivation")
            put("SeriesDescription", self.series_description, "reference: series description")
            if self.series_number is not None:
                put("SeriesNumber", self.series_number, "reference: series number")
            return changes

        return adjust

    def outputs(self) -> Iterator[Output]:
        for k, raster in self._rasters():
            yield self._converter(k).convert(raster, index=self.number(k), stem=self.stem,
                                             name=self.name, adjust=self._adjust(k))

    def rendered(self, encoder: DatasetWriter) -> Iterator[Rendered]:
        # one template per slice: every output is built the ordinary way
        for out in self.outputs():
            ds = out.dataset
            yield Rendered([encoder.encode(ds)], out.plan, out.notes, ds,
                           (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)))


class _Setter:
    def __init__(self, ds: Dataset, changes: list[Change]) -> None:
        self.ds, self.changes = ds, changes

    def __call__(self, kw: str, value: Any, rule: str) -> None:
        setattr(self.ds, kw, value)
        self.changes.append(Change(int(tag_for_keyword(kw) or 0), "set", rule))


def prepare_derived(volume: str | Path | np.ndarray | Volume,
                    reference: str | Path | Iterable[str | Path],
                    profile: str | Path | Profile | None = None, *,
                    series_uid: str | None = None,
                    template: str | Path | Dataset | Template | None = None,
                    key: str | None = None, volume_index: int | None = None,
                    transfer_syntax: str | None = None,
                    started: datetime | None = None) -> DerivedSeriesMaker:
    """Read the source series, align the volume with it and check everything
    (raises before any output exists)."""
    prof = as_profile(profile)
    tpl = as_template(template) if template is not None else None
    source = load_reference(reference, series_uid)
    vol = as_volume(volume, key, volume_index)
    aligned, notes = align(vol, source)
    maker = DerivedSeriesMaker(aligned, source, prof, template=tpl, transfer_syntax=transfer_syntax,
                               started=started, notes=notes)
    if volume_index is not None:
        maker.stem = f"{maker.stem}_v{volume_index:04d}"
    return maker


def write_derived_series(volume: str | Path | np.ndarray | Volume,
                         reference: str | Path | Iterable[str | Path],
                         out_dir: str | Path | None,
                         profile: str | Path | Profile | None = None, *,
                         series_uid: str | None = None,
                         template: str | Path | Dataset | Template | None = None,
                         key: str | None = None, volume_index: int | None = None,
                         transfer_syntax: str | None = None, overwrite: bool = False,
                         progress: Callable[[Iterator[Rendered], int], Iterator[Rendered]] | None = None,
                         durable: bool = True, send_to: Sequence[Sink] = (), dicomdir: bool = False,
                         name: str | None = None) -> SeriesResult:
    """Write ``volume`` as a derived series on the grid of the source series
    ``reference`` (a folder, a DICOMDIR or files), in its patient, study and
    Frame of Reference: ``<stem>_NNNN.dcm``, NNNN the Instance Number of the
    source slice each lies on. ``send_to``, ``dicomdir``, ``name``: as
    :func:`~dicom_rewrite.series.writer.write_series`'s."""
    maker = prepare_derived(volume, reference, profile, series_uid=series_uid, template=template,
                            key=key, volume_index=volume_index, transfer_syntax=transfer_syntax)
    result = write_slices(maker, out_dir, overwrite=overwrite, progress=progress, durable=durable,
                          send_to=send_to, dicomdir=dicomdir, name=name)
    result.reference_series_uid = maker.source.series_instance_uid
    return result
