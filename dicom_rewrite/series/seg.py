"""A label map, binary mask or probability map on a source series -> one
DICOM Segmentation instance (PS3.3 A.51), made by highdicom
(``highdicom.seg.Segmentation``): in the source's patient, study and Frame of
Reference, referencing every source slice, one segment per label, empty
frames omitted (PS3.3 C.8.20.2).

The segments are described by a YAML file (``--segments``; read as a profile
is, by :func:`dicom_rewrite.profile.load_text_yaml`)::

    algorithm: {name: lesion-net, version: "2.1"}
    segments:
      - label: 1                      # the value in the label map
        name: liver lesion            # Segment Label
        category: MorphologicallyAbnormalStructure   # SCT/DCM keyword, or [scheme, value, meaning]
        type: Lesion
        color: "#ff0000"              # or [255, 0, 0]

The only module of the package that uses highdicom.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from dicom_rewrite import __version__
from dicom_rewrite.batch import ReportEntry, Sink
from dicom_rewrite.batch.delivery import Delivery, local_sink
from dicom_rewrite.core.uids import UidMap
from dicom_rewrite.engine.template import as_profile
from dicom_rewrite.errors import InputError, PixelDataError, ProfileError
from dicom_rewrite.io.files import sanitise_component
from dicom_rewrite.io.volumes import Volume
from dicom_rewrite.profile import Profile, load_text_yaml
from dicom_rewrite.series.align import align
from dicom_rewrite.series.derived import DERIVED_SERIES_OFFSET, reference_profile
from dicom_rewrite.series.source import SourceSeries, load_reference
from dicom_rewrite.series.writer import SeriesResult, as_volume

__all__ = ["DEFAULT_CATEGORY", "DEFAULT_TYPE", "Segment", "Segments", "load_segments", "write_segmentation"]

log = logging.getLogger(__name__)

#: CID 7150 Segmentation Property Category, when the YAML gives none
DEFAULT_CATEGORY = Code("49755003", "SCT", "Morphologically Abnormal Structure")
#: CID 7151 Segmentation Property Type, when the YAML gives none
DEFAULT_TYPE = Code("52988006", "SCT", "Lesion")
#: CID 7162 Surface Processing Algorithm Family (highdicom's default family for a model)
AI_FAMILY = Code("130564", "DCM", "Artificial Intelligence")
#: colours of segments the YAML gives none for (RGB)
PALETTE = ((255, 0, 0), (0, 200, 0), (0, 90, 255), (255, 200, 0), (0, 220, 220), (230, 0, 230),
           (255, 120, 0), (140, 70, 255))
MANUFACTURER = "dicom-rewrite"
MODEL_NAME = "dicom-rewrite series"

_SEGMENT_KEYS = ("label", "name", "category", "type", "color", "algorithm_type")


@dataclass(frozen=True)
class Segment:
    """One segment: the label value it is in the volume and its description."""

    label: int
    name: str
    category: Code = DEFAULT_CATEGORY
    type: Code = DEFAULT_TYPE
    color: tuple[int, int, int] | None = None
    algorithm_type: str = "AUTOMATIC"


@dataclass(frozen=True)
class Segments:
    """The segment descriptions and the algorithm that made them."""

    segments: tuple[Segment, ...] = ()
    algorithm_name: str = ""
    algorithm_version: str = "unspecified"
    algorithm_family: Code = AI_FAMILY
    source: str = "<defaults>"

    def for_labels(self, labels: Iterable[int]) -> tuple[Segment, ...]:
        """The segments of these labels: the described ones, in file order;
        without a file, one default segment per label."""
        found = sorted(set(labels))
        if not self.segments:  # an empty map (nothing found) still has its one segment
            return tuple(Segment(v, f"segment {v}") for v in found or [1])
        described = {s.label for s in self.segments}
        missing = [v for v in found if v not in described]
        if missing:
            raise ProfileError(f"{self.source}: label(s) {', '.join(map(str, missing))} of the volume have "
                               f"no segment (it describes {', '.join(str(s.label) for s in self.segments)})")
        return self.segments


def _code(value: object, where: str) -> Code:
    from pydicom.sr.codedict import codes

    if isinstance(value, str):
        for scheme in ("SCT", "DCM"):
            try:
                found = getattr(getattr(codes, scheme), value)
            except AttributeError:
                continue
            return Code(found.value, found.scheme_designator, found.meaning)
        raise ProfileError(f"{where}: {value!r} is not an SCT or DCM code keyword (e.g. Liver, Lesion); "
                           "or give [scheme, value, meaning]")
    if isinstance(value, dict):
        value = [value.get("scheme"), value.get("value"), value.get("meaning")]
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) and v for v in value):
        return Code(value[1], value[0], value[2])
    raise ProfileError(f"{where}: a code is a keyword or [scheme, value, meaning], not {value!r}")


def _color(value: object, where: str) -> tuple[int, int, int]:
    try:
        if isinstance(value, str) and value.startswith("#") and len(value) == 7:
            rgb = tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))
        elif isinstance(value, list) and len(value) == 3:
            rgb = tuple(int(v) for v in value)
        else:
            raise ValueError
    except ValueError:
        raise ProfileError(f"{where}: color {value!r} is not '#rrggbb' or [r, g, b]") from None
    if not all(0 <= v <= 255 for v in rgb):
        raise ProfileError(f"{where}: color {value!r}: values are 0..255")
    return rgb  # type: ignore[return-value]


def _segment(item: object, where: str) -> Segment:
    if not isinstance(item, dict):
        raise ProfileError(f"{where}: a segment is a mapping (label, name, category, type, color)")
    unknown = sorted(set(item) - set(_SEGMENT_KEYS))
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_SEGMENT_KEYS)})")
    try:
        label = int(str(item.get("label", "")))
    except ValueError:
        raise ProfileError(f"{where}: label {item.get('label')!r} is not a whole number") from None
    if not 1 <= label <= 0xFFFF:
        raise ProfileError(f"{where}: label {label} is not 1..65535 (0 is the background)")
    kind = str(item.get("algorithm_type", "AUTOMATIC")).upper()
    if kind not in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
        raise ProfileError(f"{where}: algorithm_type {kind!r} is not AUTOMATIC, SEMIAUTOMATIC or MANUAL")
    return Segment(
        label, str(item.get("name") or f"segment {label}")[:64],
        _code(item["category"], f"{where} category") if "category" in item else DEFAULT_CATEGORY,
        _code(item["type"], f"{where} type") if "type" in item else DEFAULT_TYPE,
        _color(item["color"], where) if "color" in item else None, kind)


def load_segments(path: str | Path) -> Segments:
    """Read a ``--segments`` YAML file."""
    name = str(path)
    data = load_text_yaml(path, "segments file")
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list) or not data["segments"]:
        raise ProfileError(f"{name}: expected a mapping with a non-empty 'segments' list")
    unknown = sorted(set(data) - {"segments", "algorithm"})
    if unknown:
        raise ProfileError(f"{name}: unknown key(s) {', '.join(unknown)} (known: algorithm, segments)")
    segments = tuple(_segment(item, f"{name}: segment {i}") for i, item in enumerate(data["segments"], 1))
    labels = [s.label for s in segments]
    if len(set(labels)) != len(labels):
        raise ProfileError(f"{name}: a label is described twice ({labels})")
    algo = data.get("algorithm") or {}
    if not isinstance(algo, dict):
        raise ProfileError(f"{name}: algorithm is a mapping (name, version, family)")
    family = _code(algo["family"], f"{name}: algorithm family") if "family" in algo else AI_FAMILY
    return Segments(segments, str(algo.get("name", "")), str(algo.get("version", "unspecified")), family, name)


# ---------------------------------------------------------------------------
# The Segmentation
# ---------------------------------------------------------------------------


def _labels(volume: Volume) -> np.ndarray:
    """The volume as a label map (whole: a label map is small)."""
    if volume.dtype.kind not in "biuf":
        raise PixelDataError(f"{volume.source}: data type {volume.dtype} is not a label map")
    arr = np.stack([np.asarray(volume.slice(k)) for k in range(volume.shape[0])])
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
            raise PixelDataError(f"{volume.source}: a label map holds whole numbers; this one has fractions "
                                 "or NaN (a probability map? use --fractional)")
    if arr.size and (float(arr.min()) < 0 or float(arr.max()) > 0xFFFF):
        raise PixelDataError(f"{volume.source}: labels are 0 (background) to 65535; found "
                             f"{float(arr.min()):g}..{float(arr.max()):g}")
    return arr.astype(np.uint16)


def _fractions(volume: Volume) -> np.ndarray:
    arr = np.stack([np.asarray(volume.slice(k), dtype=np.float32) for k in range(volume.shape[0])])
    if not np.all(np.isfinite(arr)) or (arr.size and (float(arr.min()) < 0 or float(arr.max()) > 1)):
        raise PixelDataError(f"{volume.source}: --fractional takes probabilities 0..1 (no NaN); found "
                             f"{float(np.nanmin(arr)):g}..{float(np.nanmax(arr)):g}")
    return arr


@dataclass
class _Plan:
    source: SourceSeries
    pixels: np.ndarray  # (frames, rows, columns): segment numbers, or fractions of segment 1
    segments: tuple[Segment, ...]
    described: Segments
    fractional: bool
    stem: str
    notes: list[str] = field(default_factory=list)


def _descriptions(plan: _Plan) -> list[Any]:
    import highdicom as hd

    algo = hd.AlgorithmIdentificationSequence(
        name=plan.described.algorithm_name or plan.stem, family=plan.described.algorithm_family,
        version=plan.described.algorithm_version)
    out = []
    for n, seg in enumerate(plan.segments, 1):
        rgb = seg.color or PALETTE[(n - 1) % len(PALETTE)]
        manual = seg.algorithm_type == "MANUAL"
        out.append(hd.seg.SegmentDescription(  # PS3.3 C.8.20.2 Segment Sequence
            segment_number=n, segment_label=seg.name, segmented_property_category=seg.category,
            segmented_property_type=seg.type, algorithm_type=seg.algorithm_type,
            algorithm_identification=None if manual else algo,
            display_color=hd.color.CIELabColor.from_rgb(*rgb)))
    return out


def _build(plan: _Plan, uid_map: UidMap, profile: Profile) -> Dataset:
    import highdicom as hd

    src = plan.source
    first = src.slices[0]
    series_uid = uid_map.level("series", profile.uids.series.value, f"seg:{src.series_instance_uid}",
                               str(first.get("PatientID", "")), plan.stem)
    sop_uid = uid_map.level("instance", profile.uids.instance.value, f"seg:{src.series_instance_uid}",
                            str(first.get("PatientID", "")), f"{plan.stem}\x00seg")
    try:
        number = int(first.SeriesNumber) + DERIVED_SERIES_OFFSET
    except (AttributeError, TypeError, ValueError):
        number = DERIVED_SERIES_OFFSET
    # Content Label is a CS that starts with a letter (PS3.3 C.10.9)
    label = "".join(c if c.isascii() and c.isalnum() else "_" for c in plan.stem.upper()).lstrip("_0123456789")
    label = label[:16] or "SEGMENTATION"
    with _quiet("highdicom"):
        return hd.seg.Segmentation(
            source_images=list(src.slices), pixel_array=plan.pixels,
            segmentation_type="FRACTIONAL" if plan.fractional else "BINARY",
            segment_descriptions=_descriptions(plan), series_instance_uid=series_uid, series_number=number,
            sop_instance_uid=sop_uid, instance_number=1, manufacturer=MANUFACTURER,
            manufacturer_model_name=MODEL_NAME, software_versions=__version__, device_serial_number="none",
            content_label=label, content_description=f"{plan.stem} by dicom-rewrite series --as seg"[:64],
            omit_empty_frames=True)  # PS3.3 C.8.20.2: frames with no segment voxel are left out


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """A library's log records below errors are not ours to print (one line per problem)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _plan(volume: Volume, source: SourceSeries, described: Segments, fractional: bool,
          stem: str) -> _Plan:
    if fractional:
        pixels = _fractions(volume)
        segments = described.segments[:1] or (Segment(1, "probability"),)
        return _Plan(source, pixels, segments, described, True, stem)
    labels = _labels(volume)
    present = [int(v) for v in np.unique(labels) if v]
    segments = described.for_labels(present)
    lut = np.zeros(int(labels.max(initial=0)) + 1 if labels.size else 1, np.uint16)
    for n, seg in enumerate(segments, 1):
        if seg.label < lut.size:
            lut[seg.label] = n
    plan = _Plan(source, lut[labels], segments, described, False, stem)
    absent = [s.label for s in segments if s.label not in present]
    if absent:
        plan.notes.append(f"segment label(s) {', '.join(map(str, absent))} are empty in the volume")
    return plan


def write_segmentation(volume: str | Path | np.ndarray | Volume,
                       reference: str | Path | Iterable[str | Path],
                       out_dir: str | Path | None,
                       segments: str | Path | Segments | None = None,
                       profile: str | Path | Profile | None = None, *,
                       fractional: bool = False, series_uid: str | None = None,
                       key: str | None = None, volume_index: int | None = None,
                       overwrite: bool = False, durable: bool = True,
                       progress: Callable[[Iterator[Any], int], Iterator[Any]] | None = None,
                       send_to: Sequence[Sink] = (), dicomdir: bool = False, name: str | None = None,
                       ) -> SeriesResult:
    """Write ``volume`` (on the grid of the source series ``reference``) as one
    Segmentation instance ``<stem>_seg.dcm`` in ``out_dir``. ``profile``: only
    its ``uids`` (root, key, new/hash) apply; identity, study and Frame of
    Reference are the source's. ``send_to``, ``dicomdir``, ``name``: as
    :func:`~dicom_rewrite.series.writer.write_series`'s."""
    del progress  # one instance: nothing to show
    prof = reference_profile(as_profile(profile))
    described = segments if isinstance(segments, Segments) else (
        load_segments(segments) if segments is not None else Segments())
    source = load_reference(reference, series_uid)
    vol = as_volume(volume, key, volume_index)
    aligned, notes = align(vol, source)
    stem = sanitise_component(_stem(vol.source), "volume")
    plan = _plan(aligned, source, described, fractional, stem)
    try:
        ds = _build(plan, UidMap(prof.uids.root, prof.uids.key), prof)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:  # highdicom's refusals
        raise InputError(f"{vol.source}: no Segmentation could be made ({exc})") from None
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    sink = Delivery(local_sink(out_dir, dicomdir=dicomdir, overwrite=overwrite, durable=durable), send_to,
                    command="series", name=name)
    entry = ReportEntry(vol.source)
    parts = [buf.getvalue()]
    try:
        if not sink.put(entry, sink.name(f"{stem}_seg.dcm", parts, ds, stem=stem), parts, label=vol.source):
            raise OSError(entry.error)
        sink.flush()
        sink.finish(entry)
    finally:
        sink.close()
    result = SeriesResult(vol.source, entry.outputs, "Segmentation Storage", str(ds.SeriesInstanceUID),
                          str(ds.FrameOfReferenceUID), source.geometry, None,
                          [*notes, *plan.notes,
                           f"{len(plan.segments)} segment(s), {int(ds.NumberOfFrames)} frame(s) of "
                           f"{source.shape[0] * len(plan.segments)} (empty frames omitted)"],
                          source.series_instance_uid)
    result.destinations, result.error, result.slices = entry.fields["destinations"], entry.error, 1
    return result


def _stem(source: str) -> str:
    if source.startswith("<"):
        return "volume"
    name = Path(source.split("[")[0]).name
    for suffix in (".nii.gz", ".nii", ".npy", ".npz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem or "volume"
