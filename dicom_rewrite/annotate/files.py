"""The command line's batch: DICOM files and folders, shapes from the
command line, shape files and label maps, through the batch pipeline
(:func:`annotate_files`).

Two passes: every shape of every input is validated first (a bad shape
input writes nothing), then the frames are rendered and written, then the
presentation states and structured reports.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from dicom_rewrite.annotate.boxfile import load_boxes
from dicom_rewrite.annotate.derive import (
    SERIES_NUMBER_OFFSET,
    Planned,
    frame_count,
    kept_header,
    series_number,
)
from dicom_rewrite.annotate.layout import DEFAULT_LABEL_FORMAT, PlacedBox
from dicom_rewrite.annotate.masks import load_masks
from dicom_rewrite.annotate.run import Annotator
from dicom_rewrite.annotate.shapes import DEFAULT_COLOR, DEFAULT_THICKNESS, RGB, BoxError, Shape
from dicom_rewrite.batch import ReportEntry, Sink, Source, run_batch, walk
from dicom_rewrite.batch.delivery import Delivery, local_sink
from dicom_rewrite.errors import DicomRewriteError, InputError, UsageError, one_line
from dicom_rewrite.io import dicom_in
from dicom_rewrite.io.files import sanitise_component
from dicom_rewrite.profile import Profile

__all__ = ["ShapeInputs", "annotate_files"]




@dataclass
class _Input:
    """One source of the batch, as the two passes see it."""

    source: Source
    header: Dataset | None = None
    error: str | None = None
    skipped: str | None = None  # why a file met in a folder walk is not annotated
    plans: list[Planned] | None = None
    missing: bool = False  # neither a file nor a folder

    @property
    def keys(self) -> tuple[str, ...]:
        """Names a box file may use for it."""
        if self.skipped:
            return ()
        if self.missing:
            return self.source.keys[:2]  # (name, as given): there is no path to it
        return self.source.keys


#: values longer than this are read when first used (the pixel data: in pass 2 only)
_DEFER_BYTES = 4096
#: a batch of up to this many inputs keeps each parsed file from pass 1 for
#: pass 2 (one parse per file); a larger one keeps only what pass 2 needs and
#: reads each file again, so that memory stays flat however long the batch
KEEP_PARSED = 1000


def _read_header(path: Path) -> Dataset:
    """The file parsed once for both passes: its pixel data (and other long
    values) read from the file only when used (:func:`_with_pixels`)."""
    try:
        return dcmread(path, defer_size=_DEFER_BYTES)
    except InvalidDicomError:
        raise InputError(f"{path}: not a DICOM file") from None
    except (OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: cannot read ({one_line(exc)})") from None


def _read_file(path: Path) -> Dataset:
    """Pass 2 of a long batch: the file read again, whole."""
    try:
        return dcmread(path)
    except InvalidDicomError:
        raise InputError(f"{path}: not a DICOM file") from None
    except (EOFError, KeyError) as exc:
        raise InputError(f"{path}: cannot read ({one_line(exc)})") from None


def _with_pixels(header: Dataset) -> Dataset:
    """A view of the pass-1 dataset whose deferred values (the pixels) load
    into the view only, so they go when the input is done."""
    full = copy.copy(header)
    full._dict = dict(header._dict)
    return full


def _not_dicomdir(path: Path) -> bool:
    return path.name.upper() != "DICOMDIR"


def _collect_inputs(inputs: Iterable[str | Path]) -> list[_Input]:
    """Every input (folders walked) with its header, or why there is none."""
    out: list[_Input] = []
    for source in walk(inputs, _not_dicomdir):
        item = _Input(source)
        if source.explicit and not source.path.is_file():
            item.missing = True
            item.error = f"{source.path}: no such file or folder"
        else:
            try:
                item.header = _read_header(source.path)
            except InputError as exc:
                # folders may hold other files: skipped, and listed in the report
                if source.explicit:
                    item.error = one_line(exc)
                else:
                    item.skipped = one_line(exc)
        out.append(item)
    return out


def _key_tiers(inp: _Input) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The names a shape file may use for an input, strongest first: its file
    name, path (as given, under a folder) or SOP Instance UID; its file stem;
    its Instance Number (COCO ``image_id``\\ s)."""
    h = inp.header
    exact = inp.keys + ((str(h.get("SOPInstanceUID", "")),) if h is not None else ())
    stem = (inp.source.path.stem,) if inp.keys else ()
    number = h.get("InstanceNumber") if h is not None else None
    return exact, stem, ((str(int(number)),) if number not in (None, "") else ())


def _match_keys(box_map: Mapping[str, list[Shape]], inputs: list[_Input],
                source: str) -> dict[int, list[Shape]]:
    """Assign each key of the shape file to exactly one input: by file name,
    path as given, path under a folder or SOP Instance UID; else by file
    stem; else by Instance Number."""
    assigned: dict[int, list[Shape]] = defaultdict(list)
    tiers = [_key_tiers(inp) for inp in inputs]
    for key, boxes in box_map.items():
        hits: list[int] = []
        for level in range(3):
            hits = [i for i, t in enumerate(tiers) if key in t[level]]
            if hits:
                break
        if not hits:
            raise BoxError(
                f"{source}: key {key!r} matches no input (use an input file name, its path or stem, "
                "its SOPInstanceUID or Instance Number)"
            )
        if len(hits) > 1:
            names = ", ".join(str(inputs[i].source.path) for i in hits[:3])
            raise BoxError(f"{source}: key {key!r} matches {len(hits)} inputs ({names}); use the path "
                           "or the SOPInstanceUID")
        assigned[hits[0]].extend(boxes)
    return assigned


def _series_numbers(items: list[_Input]) -> dict[str, int]:
    """One annotation series number per study, past every source series of the run."""
    numbers: dict[str, int] = {}
    for inp in items:
        if inp.header is not None:
            study = str(inp.header.get("StudyInstanceUID", ""))
            n = series_number(inp.header.get("SeriesNumber")) + SERIES_NUMBER_OFFSET
            numbers[study] = max(numbers.get(study, 0), n)
    return numbers


def _plan_all(run: Annotator, items: list[_Input], per_input: Mapping[int, list[Shape]],
              all_slices: bool) -> None:
    """Pass 1: validate every box of every input (nothing is written on a box error)."""
    for i, inp in enumerate(items):
        if inp.header is None:
            continue
        mine = per_input.get(i, [])
        if not mine and not all_slices:
            continue
        try:
            # --all: the declared count, checked against the file (io.dicom_in's budget)
            frames = range(1, dicom_in.frame_count(inp.header) + 1) if all_slices else None
            # None: nothing to write (every shape was below --min-score)
            inp.plans = run.plan(inp.header, mine, frames=frames, where=str(inp.source.path)) or None
        except InputError as exc:
            inp.error = one_line(exc)


@dataclass(frozen=True)
class ShapeInputs:
    """Where a batch's shapes come from: ``boxes`` on every input, shape
    files (``--boxes``, ``--polygons``: any format of :mod:`.boxfile`) and
    label maps (``--masks``, :mod:`.masks`, with ``mask_labels``)."""

    boxes: Sequence[Shape] = ()
    files: Sequence[str | Path] = ()
    masks: str | Path | None = None
    mask_labels: Mapping[int, str] | None = None

    def check(self) -> None:
        if not self.boxes and not self.files and self.masks is None:
            raise UsageError("annotate: give boxes with --box X0,Y0,X1,Y1, --boxes FILE, --polygons FILE "
                             "or --masks FILE")
        if self.boxes and self.files:
            raise UsageError("annotate: give boxes with --box X0,Y0,X1,Y1 or --boxes FILE (one of them)")


def _boxes_per_input(items: list[_Input], shapes: ShapeInputs) -> dict[int, list[Shape]]:
    """The shapes of each input (by index): those of the shape files and
    label maps, and ``shapes.boxes`` on every readable input."""
    out: dict[int, list[Shape]] = defaultdict(list)
    for i, inp in enumerate(items):
        if inp.header is not None and shapes.boxes:
            out[i].extend(shapes.boxes)
    for f in shapes.files:
        for i, found in _match_keys(load_boxes(f), items, str(f)).items():
            out[i].extend(found)
    if shapes.masks is not None:
        headers = [(i, inp.header, inp.source.path.stem) for i, inp in enumerate(items)
                   if inp.header is not None]
        for i, found in load_masks(shapes.masks, headers, shapes.mask_labels).items():
            out[i].extend(found)
    return out


def _make(run: Annotator, inp: _Input, sink: Delivery) -> ReportEntry:
    """The pipeline's work for one input that has not failed yet."""
    path = str(inp.source.path)
    if inp.skipped:
        return ReportEntry.skipped(path, inp.skipped)
    if inp.plans is None:
        inp.header = None
        return ReportEntry.skipped(path, "no boxes (use --all to write it anyway)")
    try:
        return _write_annotations(run, inp, inp.plans, sink)
    finally:
        inp.header, inp.plans = None, None  # done: what it held goes


def _dicom_bytes(run: Annotator, ds: Dataset) -> bytes:
    """The Part 10 file of ``ds``, byte for byte as pydicom writes it
    (the run's batch writer: per-element encodings cached)."""
    return run.writer.encode(ds)


def _output_name(path: Path, frame: int, n_frames: int) -> str:
    stem = sanitise_component(path.stem, "image")
    return f"{stem}_annotated.dcm" if n_frames == 1 else f"{stem}_f{frame:04d}_annotated.dcm"


def _write_annotations(run: Annotator, inp: _Input, plans: list[Planned], sink: Delivery) -> ReportEntry:
    """Pass 2 for one input: render its planned frames and write them."""
    path = inp.source.path
    entry = ReportEntry(str(path))
    try:
        full = _with_pixels(inp.header) if inp.header is not None else _read_file(path)
        frames_info = []
        notes: set[str] = set()
        n_frames = frame_count(full)
        for planned in plans:
            ann = run.render(planned, full)
            parts = [_dicom_bytes(run, ann.dataset)]
            name = sink.name(_output_name(path, planned.frame, n_frames), parts, ann.dataset, stem=path.stem,
                             frame=planned.frame, suffix_frame=n_frames > 1)
            if not sink.put(entry, name, parts, label=str(path)):
                break
            notes.update(ann.notes)
            frames_info.append({
                "frame": planned.frame,
                "boxes": [list(p.box.corners) for p in planned.placed],
                **_shape_fields(planned.placed),
                "clipped": sum(p.clipped for p in planned.placed),
                "window": ann.window.as_dict(),
            })
        entry.fields["frames"] = frames_info
        entry.fields["sop_class"] = UID(str(ann.dataset.SOPClassUID)).name
        entry.fields["series_instance_uid"] = str(ann.dataset.SeriesInstanceUID)
        if notes:
            entry.fields["notes"] = sorted(notes)
        sink.finish(entry)
    except DicomRewriteError:
        raise  # InputError (PixelDataError too) is this input's; run_batch reports it
    except (OSError, ValueError, TypeError) as exc:
        entry = ReportEntry.failed(str(path), f"{path}: {one_line(exc)}")
    return entry


def _shape_fields(placed: Sequence[PlacedBox]) -> dict[str, Any]:
    """Report fields of the shapes that are not plain boxes: kinds, labels, scores."""
    if all(p.box.kind == "box" and p.box.score is None for p in placed):
        return {}
    return {"shapes": [{"kind": p.box.kind, "bounds": list(p.box.corners), "label": p.text}
                       for p in placed]}


def _state_entries(run: Annotator, sink: Delivery) -> Iterator[ReportEntry]:
    """One entry per presentation state, written after every image, under
    the batch pipeline's error policy (a failure is that state's entry)."""
    groups, skipped = run.state_groups()
    if skipped and not groups:
        logging.getLogger("dicom_rewrite.annotate").warning("no presentation state: %s", "; ".join(skipped))
    sources = [Source(Path(f"presentation state {k}")) for k in range(1, len(groups) + 1)]
    by_source = {id(s): (k, g) for k, (s, g) in enumerate(zip(sources, groups), 1)}

    def make(source: Source) -> ReportEntry:
        k, group = by_source[id(source)]
        state = run.build_state(group, k)
        entry = ReportEntry(f"presentation state {k}", fields={
            "references": [str(r.ReferencedSOPInstanceUID)
                           for s in state.ReferencedSeriesSequence
                           for r in s.ReferencedImageSequence]})
        if skipped and k == len(groups):
            entry.fields["notes"] = skipped
        parts = [_dicom_bytes(run, state)]
        name = sink.name(f"gsps_{k:03d}.dcm", parts, state, stem=f"gsps_{k:03d}")
        if sink.put(entry, name, parts, label=f"presentation state {k}"):
            sink.finish(entry)
        return entry

    yield from run_batch(sources, make, describe=lambda s, exc: f"{s.path}: {one_line(exc)}")


def _report_entries(run: Annotator, sink: Delivery) -> Iterator[ReportEntry]:
    """One entry per structured report (one per study), written after the
    presentation states, under the batch pipeline's error policy."""
    groups = run.report_groups()
    sources = [Source(Path(f"structured report {k}")) for k in range(1, len(groups) + 1)]
    by_source = {id(s): (k, g) for k, (s, g) in enumerate(zip(sources, groups), 1)}

    def make(source: Source) -> ReportEntry:
        k, group = by_source[id(source)]
        report = run.build_report(group, k)
        entry = ReportEntry(f"structured report {k}", fields={
            "findings": sum(len(d.placed) for d in group.drawn),
            "references": sorted({str(d.source.SOPInstanceUID) for d in group.drawn})})
        parts = [_dicom_bytes(run, report)]
        name = sink.name(f"sr_{k:03d}.dcm", parts, report, stem=f"sr_{k:03d}")
        if sink.put(entry, name, parts, label=f"structured report {k}"):
            sink.finish(entry)
        return entry

    yield from run_batch(sources, make, describe=lambda s, exc: f"{s.path}: {one_line(exc)}")


def annotate_files(
    inputs: Iterable[str | Path],
    out_dir: str | Path | None,
    *,
    boxes: Sequence[Shape] = (),
    box_file: str | Path | None = None,
    window: str | tuple[float, float] | None = None,
    color: RGB | str = DEFAULT_COLOR,
    thickness: int = DEFAULT_THICKNESS,
    clip: bool = False,
    all_slices: bool = False,
    gsps: bool = False,
    profile: Profile | None = None,
    durable: bool = True,
    polygon_file: str | Path | None = None,
    masks: str | Path | None = None,
    mask_labels: Mapping[int, str] | None = None,
    font_size: int | None = None,
    label_format: str = DEFAULT_LABEL_FORMAT,
    min_score: float | None = None,
    sr: bool = False,
    send_to: Sequence[Sink] = (),
    dicomdir: bool = False,
    name: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Annotate DICOM files (or folders) and write the results under ``out_dir``.

    ``boxes`` (the ``--box`` boxes) go on every input; ``box_file`` and
    ``polygon_file`` give shapes per input (any format of :mod:`.boxfile`:
    our JSON or CSV, COCO, COCO predictions), ``masks`` label maps
    (:mod:`.masks`). Shapes scored below ``min_score`` are left out.
    Everything is validated before the first file is written: bad box
    input raises :class:`BoxError` and writes nothing. Yields one report
    entry per input (and per presentation state, and for the SR: ``sr``).
    ``durable``: fsync files, and folders when the batch ends. ``send_to``:
    more destinations (a PACS, a DICOMweb server); ``out_dir`` may then be
    None. ``dicomdir``: ``out_dir`` is a DICOM file-set (as ``convert``'s).
    ``name``: the output path template (as ``convert``'s)."""
    shapes = ShapeInputs(boxes, [f for f in (box_file, polygon_file) if f], masks, mask_labels)
    shapes.check()
    run = Annotator(profile, window=window, color=color, thickness=thickness, clip=clip,
                    font_size=font_size, label_format=label_format, min_score=min_score)
    items = _collect_inputs(inputs)
    if all(inp.skipped for inp in items):
        raise UsageError("annotate: no DICOM files found in " + " ".join(map(str, inputs)))
    per_input = _boxes_per_input(items, shapes)
    run.series_numbers.update(_series_numbers(items))
    _plan_all(run, items, per_input, all_slices)
    if len(items) > KEEP_PARSED:
        _keep_little(items)
    run.keep_drawn = gsps or sr
    # pass 1 is done when this returns (a bad shape input raises here, before
    # any report or file exists); pass 2 runs as the entries are consumed
    sink = Delivery(local_sink(out_dir, dicomdir=dicomdir, durable=durable), send_to, command="annotate", name=name)
    return _write_all(run, items, sink, gsps=gsps, sr=sr)


def _keep_little(items: list[_Input]) -> None:
    """Drop the parsed files of pass 1, keeping what the plans read (pass 2
    reads each file again)."""
    for inp in items:
        if inp.header is None:
            continue
        if inp.plans:
            slim = kept_header(inp.header)
            inp.plans = [dataclasses.replace(p, source=slim) for p in inp.plans]
        inp.header = None


def _write_all(run: Annotator, items: list[_Input], sink: Delivery, *, gsps: bool,
               sr: bool) -> Iterator[dict[str, Any]]:
    """Pass 2: render and write, through the batch pipeline."""
    # an input that failed already is reported by the pipeline, with its error
    sources = [dataclasses.replace(inp.source, error=inp.error) if inp.error else inp.source for inp in items]
    by_source = {id(s): inp for s, inp in zip(sources, items)}

    def make(source: Source) -> ReportEntry:
        return _make(run, by_source[id(source)], sink)

    try:
        for entry in sink.settle(run_batch(sources, make)):
            yield entry.as_dict()
        if gsps:
            for entry in sink.settle(_state_entries(run, sink)):
                yield entry.as_dict()
        if sr:
            for entry in sink.settle(_report_entries(run, sink)):
                yield entry.as_dict()
    finally:
        sink.close()
