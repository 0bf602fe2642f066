"""Making and writing the series: each slice goes through the engine
(:class:`dicom_rewrite.engine.converter.Converter`), so the template's
dialect, identity handling and UIDs are exactly those of ``convert``; the
slice geometry and the stored-value encoding are set on each slice.

Slices are converted and written one at a time from the memory-mapped array
(or the NIfTI array proxy), releasing the pages read as it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.batch import ReportEntry, Sink
from dicom_rewrite.batch.delivery import Delivery, local_sink
from dicom_rewrite.core import iod
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.core.uids import UidMap
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Output, Rendered
from dicom_rewrite.engine.pixels import PixelPlan, plan_pixels
from dicom_rewrite.engine.template import Template, as_profile, as_template
from dicom_rewrite.errors import PixelDataError, ProfileError, TemplateError
from dicom_rewrite.io import volumes
from dicom_rewrite.io.files import sanitise_component
from dicom_rewrite.io.images import Raster, from_array
from dicom_rewrite.io.volumes import CHUNK_BYTES, VOLUME_SUFFIXES, Volume
from dicom_rewrite.profile import Profile, SopClassMode
from dicom_rewrite.series.encoding import Encoding, decimal_string, plan_encoding
from dicom_rewrite.series.geometry import Geometry, volume_geometry

__all__ = ["ADJUST_TAGS", "SeriesMaker", "SeriesResult", "iter_series", "open_volume", "prepare_series",
           "resolve_geometry", "write_series", "write_slices"]

#: a rescaled data range below this many output units shows as few gray levels in
#: readers that round the Modality LUT output to whole numbers (dcmtk)
DISPLAY_LEVELS = 256

#: every top-level attribute SeriesMaker._adjust reads or writes (see
#: Converter.render: the hook is run on just these for filled slices)
ADJUST_TAGS = frozenset(int(iod.tag(kw)) for kw in (
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
    "SpacingBetweenSlices", "SliceLocation", "RescaleSlope", "RescaleIntercept",
    "WindowCenter", "WindowWidth", "VOILUTFunction",
))


@dataclass
class SeriesResult:
    """What :func:`write_series` wrote."""

    input: str
    outputs: list[str] = field(default_factory=list)
    sop_class: str = ""
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    geometry: Geometry | None = None
    encoding: Encoding | None = None
    notes: list[str] = field(default_factory=list)
    #: the source series the volume was put on (``--reference``)
    reference_series_uid: str = ""
    #: where each slice went (files, PACS and DICOMweb statuses)
    destinations: list[str] = field(default_factory=list)
    #: why a destination refused slices (the files are kept)
    error: str | None = None
    #: slices made and delivered (also without a local folder)
    slices: int = 0

    def describe_first(self, out: Rendered) -> None:
        """Take the series' identity from its first slice."""
        first = out.dataset  # the first of its kind: built the ordinary way
        assert first is not None
        self.sop_class = out.plan.sop_class.name
        self.series_instance_uid = str(first.SeriesInstanceUID)
        self.frame_of_reference_uid = str(first.get("FrameOfReferenceUID", ""))

    def as_entry(self) -> dict[str, object]:
        """The JSON report entry (as ``convert``'s, plus series fields; no
        ``error`` key: the byte-identity matrix records the report as it is)."""
        entry: dict[str, object] = {
            "input": self.input, "status": "ok", "outputs": self.outputs,
            "sop_class": self.sop_class, "slices": self.slices or len(self.outputs),
            "series_instance_uid": self.series_instance_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
        }
        if self.reference_series_uid:
            entry["reference_series_uid"] = self.reference_series_uid
        if self.geometry is not None:
            entry["geometry"] = self.geometry.as_dict()
        if self.encoding is not None:
            entry["encoding"] = self.encoding.as_dict()
        if self.notes:
            entry["notes"] = self.notes
        entry["destinations"] = self.destinations
        if self.error is not None:
            entry["status"], entry["error"] = "error", self.error
        return entry


def resolve_geometry(volume: Volume, template: Template, *,
                     spacing: tuple[float, float, float] | None = None,
                     origin: tuple[float, float, float] | None = None,
                     orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                     | None = None) -> Geometry:
    """Options first, then the NIfTI affine, then the template's geometry."""
    base = volume_geometry(volume) or Geometry.from_template(template.dataset)
    return base.with_options(spacing=spacing, origin=origin, orientation=orientation)


class SeriesMaker:
    """Validates everything up front (template class, geometry, data range),
    then makes the slices one by one (:func:`write_series` writes them)."""

    def __init__(self, volume: Volume, template: Template, profile: Profile, geometry: Geometry,
                 *, transfer_syntax: str | None = None, started: datetime | None = None,
                 name: str | None = None, uid_map: UidMap | None = None) -> None:
        self.volume = volume
        self.geometry = geometry
        self.name = name or (Path(volume.source.split("[")[0]).name
                             if not volume.source.startswith("<") else "volume")
        self.stem = _stem(self.name)
        if min(volume.shape) < 1:
            raise PixelDataError(f"{volume.source}: volume shape {volume.shape} is empty")
        if max(volume.shape[1:]) > 0xFFFF:
            raise PixelDataError(f"{volume.source}: slices of {volume.shape[1:]} exceed 65535 rows/columns")
        self.converter = Converter(template, profile, transfer_syntax=transfer_syntax, started=started,
                                   uid_map=uid_map)
        self.plan = self._check_class(template, profile)
        self.encoding = plan_encoding(volume)

    def _check_class(self, template: Template, profile: Profile) -> PixelPlan:
        probe = from_array(np.zeros((1, 1), np.uint16), self.volume.source)
        plan = plan_pixels(template.sop_class, probe, profile.pixel.sop_class.value)
        if ("image-plane", "M") not in iod.iod_modules(plan.sop_class):
            tpl = template.sop_class
            if plan.sop_class != tpl and profile.pixel.sop_class == SopClassMode.SECONDARY_CAPTURE:
                raise ProfileError(
                    f"{profile.source or 'the profile'}: pixel.sop_class: secondary-capture makes every "
                    "slice a Secondary Capture image, which has no Image Plane module (PS3.3 A.8.1), so "
                    "viewers could not stack the slices; for a series use a profile without it (with "
                    "--reference no profile is needed: identity, study and frame of reference come "
                    "from the source series)")
            what = tpl.name if tpl.is_valid else str(tpl)
            because = (f"the output would be {plan.sop_class.name}" if plan.sop_class != tpl
                       else f"it is {what}")
            raise TemplateError(
                f"{template.path or '<template>'}: a series needs a template whose IOD has the Image "
                f"Plane module (CT, MR), to carry slice position and orientation; {because}, which "
                "has none, so viewers could not stack the slices"
            )
        return plan

    def notes(self) -> list[str]:
        enc = self.encoding
        out = []
        if enc.rescaled:
            out.append(
                f"{self.volume.dtype} data [{enc.minimum:g}, {enc.maximum:g}] stored as "
                f"{enc.stored_dtype.name} with Rescale Slope {enc.slope}, Intercept {enc.intercept}"
            )
            if self.plan.rules.rescale != "required":
                out.append(f"Rescale Slope/Intercept are not part of the {self.plan.sop_class.name} "
                           "IOD; ITK, GDCM, dcmtk and most viewers apply them")
            if enc.maximum - enc.minimum < DISPLAY_LEVELS:
                out.append(f"the data range {enc.maximum - enc.minimum:g} is narrow: dcmtk (3.6.7) rounds "
                           "rescaled values to whole numbers before windowing, so it shows few gray "
                           "levels; scale the data (e.g. x1000) or write a probability map with "
                           "--reference --as seg --fractional")
        elif self.volume.dtype not in (np.dtype("<i2"), np.dtype("<u2"), np.dtype(">i2"),
                                       np.dtype(">u2")):
            out.append(f"{self.volume.dtype} data stored exactly as {enc.stored_dtype.name}")
        if self.geometry.slice_sign < 0:
            out.append("slices step against the row x column normal (left-handed voxel grid); "
                       "positions are exact, readers sort them by position")
        return out

    def _adjust(self, k: int) -> Callable[[Dataset, PixelPlan], list[Change]]:
        g, enc = self.geometry, self.encoding
        ipp = g.position(k)

        def adjust(ds: Dataset, plan: PixelPlan) -> list[Change]:
            # PS3.3 C.7.6.2.1.1: position of the first voxel; row, then column cosines
            ds.ImagePositionPatient = [decimal_string(round(v, 6)) for v in ipp]
            ds.ImageOrientationPatient = [decimal_string(v) for v in (*g.row_direction, *g.column_direction)]
            ds.PixelSpacing = [decimal_string(g.spacing[1]), decimal_string(g.spacing[2])]  # row, column spacing
            ds.SliceThickness = decimal_string(g.spacing[0])  # contiguous slices: thickness = spacing
            ds.SpacingBetweenSlices = decimal_string(g.spacing[0])
            ds.SliceLocation = decimal_string(round(float(np.dot(ipp, g.normal)), 6))
            changes = [Change(int(iod.tag(kw)), "set", "series geometry") for kw in (
                "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                "SliceThickness", "SpacingBetweenSlices", "SliceLocation")]
            if enc.rescaled:
                # PS3.3 C.11.1: output units = stored * slope + intercept
                ds.RescaleSlope = enc.slope
                ds.RescaleIntercept = enc.intercept
                changes += [Change(int(iod.tag("RescaleSlope")), "set", "series rescale"),
                            Change(int(iod.tag("RescaleIntercept")), "set", "series rescale")]
            center, width, function = enc.window
            ds.WindowCenter = center  # one window for the whole series
            ds.WindowWidth = width
            if function:
                ds.VOILUTFunction = function
            elif "VOILUTFunction" in ds:
                del ds.VOILUTFunction
            return changes

        return adjust

    def number(self, k: int) -> int:
        """The Instance Number (and file number) of slice ``k``."""
        return k + 1

    def outputs(self) -> Iterator[Output]:
        """Convert slice by slice (slice ``k`` -> Instance Number ``k + 1``)."""
        for k, raster in self._rasters():
            yield self.converter.convert(raster, index=self.number(k), stem=self.stem, name=self.name,
                                         adjust=self._adjust(k))

    def rendered(self, encoder: DatasetWriter) -> Iterator[Rendered]:
        """The files of :meth:`outputs`, byte for byte, as parts to write:
        slices after the first two are filled into the first one's encoding
        (see :meth:`Converter.render`)."""
        for k, raster in self._rasters():
            yield self.converter.render(raster, encoder, index=self.number(k), stem=self.stem,
                                        name=self.name, adjust=self._adjust(k),
                                        adjust_tags=ADJUST_TAGS)

    def _rasters(self) -> Iterator[tuple[int, Raster]]:
        """Each slice as stored, releasing the memory map's pages as it goes."""
        n = self.volume.shape[0]
        released = 0
        for k in range(n):
            stored = self.encoding.encode(self.volume.slice(k))
            yield k, from_array(stored, f"{self.volume.source}[{k}]")
            del stored
            released += self.volume.slice_bytes
            if released >= CHUNK_BYTES:
                self.volume.release()
                released = 0
        self.volume.release()


def _stem(name: str) -> str:
    low = name.lower()
    for suffix in VOLUME_SUFFIXES:
        if low.endswith(suffix):
            return name[: -len(suffix)] or "volume"
    return Path(name).stem or "volume"


def open_volume(path: str | Path, key: str | None = None,
                volume_index: int | None = None) -> Volume:
    """:func:`dicom_rewrite.io.volumes.open_volume`, with the file's
    geometry (a NIfTI affine) checked at once."""
    vol = volumes.open_volume(path, key, volume_index)
    volume_geometry(vol)
    return vol


def as_volume(volume: str | Path | np.ndarray | Volume, key: str | None = None,
              volume_index: int | None = None) -> Volume:
    """A :class:`Volume` as given, an array wrapped as one, or a file opened
    by :func:`open_volume`."""
    if isinstance(volume, Volume):
        return volume
    if isinstance(volume, np.ndarray):
        return Volume.from_array(volume)
    return open_volume(volume, key, volume_index)


def prepare_series(volume: str | Path | np.ndarray | Volume,
                   template: str | Path | Dataset | Template,
                   profile: str | Path | Profile | None = None, *,
                   geometry: Geometry | None = None,
                   spacing: tuple[float, float, float] | None = None,
                   origin: tuple[float, float, float] | None = None,
                   orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                   | None = None,
                   key: str | None = None, transfer_syntax: str | None = None,
                   started: datetime | None = None,
                   volume_index: int | None = None) -> SeriesMaker:
    """Open and check everything (raises before any output exists).
    ``volume_index``: which 3-D volume of a 4-D NIfTI file (0-based)."""
    prof = as_profile(profile)
    tpl = as_template(template)
    vol = as_volume(volume, key, volume_index)
    geom = geometry or resolve_geometry(vol, tpl)
    geom = geom.with_options(spacing=spacing, origin=origin, orientation=orientation)
    writer = SeriesMaker(vol, tpl, prof, geom, transfer_syntax=transfer_syntax, started=started)
    if volume_index is not None:
        writer.stem = f"{writer.stem}_v{volume_index:04d}"  # file names and {stem}
    return writer


def iter_series(volume: str | Path | np.ndarray | Volume,
                template: str | Path | Dataset | Template,
                geometry: Geometry | None = None,
                profile: str | Path | Profile | None = None, *,
                spacing: tuple[float, float, float] | None = None,
                origin: tuple[float, float, float] | None = None,
                orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                | None = None,
                key: str | None = None, transfer_syntax: str | None = None,
                volume_index: int | None = None) -> Iterator[Dataset]:
    """Yield one Dataset per slice (Instance Number 1..N), all in one new
    series and Frame of Reference.

    ``volume``: a ``(slice, row, column)`` array (or a path); ``geometry``:
    a :class:`Geometry` (default: the NIfTI affine or the template's), each
    part of which ``spacing``/``origin``/``orientation`` may override;
    ``volume_index``: which 3-D volume of a 4-D NIfTI file.
    Everything is checked before the first dataset is yielded.
    """
    writer = prepare_series(volume, template, profile, geometry=geometry, spacing=spacing,
                            origin=origin, orientation=orientation, key=key,
                            transfer_syntax=transfer_syntax, volume_index=volume_index)
    for out in writer.outputs():
        yield out.dataset


def write_series(volume: str | Path | np.ndarray | Volume,
                 template: str | Path | Dataset | Template,
                 out_dir: str | Path,
                 profile: str | Path | Profile | None = None, *,
                 geometry: Geometry | None = None,
                 spacing: tuple[float, float, float] | None = None,
                 origin: tuple[float, float, float] | None = None,
                 orientation: tuple[tuple[float, float, float], tuple[float, float, float]]
                 | None = None,
                 key: str | None = None, transfer_syntax: str | None = None,
                 overwrite: bool = False,
                 progress: Callable[[Iterator[Rendered], int], Iterator[Rendered]] | None = None,
                 volume_index: int | None = None,
                 durable: bool = True,
                 send_to: Sequence[Sink] = (),
                 dicomdir: bool = False,
                 name: str | None = None,
                 ) -> SeriesResult:
    """Write the series into ``out_dir`` as ``<stem>_NNNN.dcm`` (one per
    slice, atomically; ``<stem>_vNNNN_NNNN.dcm`` for a volume of a 4-D NIfTI
    file). If a write fails, the files of this run are removed and the error
    is raised: a series is never left half-written. ``durable``: fsync each
    file, and the folder at the end. ``send_to``: more destinations (a PACS,
    a DICOMweb server; ``out_dir`` may then be None); a slice they refuse is
    reported in ``error`` and ``destinations``. ``dicomdir``: ``out_dir`` is
    a DICOM file-set. ``name``: the output path template (as ``convert``'s;
    ``{index}`` is the slice number)."""
    writer = prepare_series(volume, template, profile, geometry=geometry, spacing=spacing,
                            origin=origin, orientation=orientation, key=key,
                            transfer_syntax=transfer_syntax, volume_index=volume_index)
    return write_slices(writer, out_dir, overwrite=overwrite, progress=progress, durable=durable,
                        send_to=send_to, dicomdir=dicomdir, name=name)


def write_slices(writer: SeriesMaker, out_dir: str | Path | None, *, overwrite: bool = False,
                 progress: Callable[[Iterator[Rendered], int], Iterator[Rendered]] | None = None,
                 durable: bool = True, send_to: Sequence[Sink] = (), dicomdir: bool = False,
                 name: str | None = None) -> SeriesResult:
    """Write a prepared series through the batch's destinations (the local
    folder or file-set all or nothing)."""
    n = writer.volume.shape[0]
    width = max(4, len(str(max(writer.number(k) for k in range(n)))))
    sink = Delivery(local_sink(out_dir, dicomdir=dicomdir, overwrite=overwrite, durable=durable), send_to,
                    command="series", name=name)
    entry = ReportEntry(writer.volume.source)
    stem = sanitise_component(writer.stem, "volume")
    result = SeriesResult(writer.volume.source, geometry=writer.geometry, encoding=writer.encoding,
                          notes=writer.notes())
    notes: list[str] = []
    outputs = writer.rendered(DatasetWriter())
    if progress is not None:
        outputs = progress(outputs, n)
    try:
        for k, out in enumerate(outputs):
            if k == 0:
                result.describe_first(out)
            target = sink.name(f"{stem}_{writer.number(k):0{width}d}.dcm", out.parts, out.dataset,
                               stem=writer.stem)
            if not sink.put(entry, target, out.parts, label=writer.volume.source):
                raise OSError(entry.error)
            result.slices += 1
            notes.extend(n_ for n_ in out.notes if n_ not in notes)
        sink.flush()
        sink.finish(entry)
    except BaseException:
        sink.discard(entry)  # a series is never left half-written
        sink.close()
        raise
    sink.close()
    result.outputs, result.destinations, result.error = entry.outputs, entry.fields["destinations"], entry.error
    result.notes.extend(notes)
    result.notes.extend(n_ for n_ in entry.fields.get("notes", []) if n_ not in result.notes)
    return result
