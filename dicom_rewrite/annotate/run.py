"""An annotation run: the :class:`Annotator`, one dataset
(:func:`annotate_dataset`, :func:`annotate_with_gsps`) and the command
line's batch (:func:`annotate_files`).

The pipeline for one frame of one source image:

1. Validate every box against the image (:func:`~.layout.place_boxes`),
   before anything is rendered or written.
2. The gray background (:func:`~.background.render_background`).
3. Gray -> RGB; labels, then outlines (:func:`~.draw.draw_boxes`).
4. The RGB frame goes through the series' engine (:mod:`.engines`) with the
   source as template; the ``adjust`` hook (:func:`~.derive.derive`) makes
   it a derived annotation.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from dicom_rewrite.annotate.background import render_background, resolve_window
from dicom_rewrite.annotate.boxfile import load_boxes
from dicom_rewrite.annotate.derive import (
    SERIES_NUMBER_OFFSET,
    Annotation,
    KeepingUidMap,
    Planned,
    annotation_profile,
    derive,
    frame_count,
    header,
    series_number,
)
from dicom_rewrite.annotate.draw import draw_boxes
from dicom_rewrite.annotate.engines import SeriesEngines
from dicom_rewrite.annotate.gsps import StateGroup, build_state, presentation_states, state_groups
from dicom_rewrite.annotate.layout import place_boxes
from dicom_rewrite.annotate.repair import repair_source
from dicom_rewrite.annotate.shapes import (
    DEFAULT_COLOR,
    DEFAULT_THICKNESS,
    RGB,
    Box,
    BoxError,
    check_thickness,
    parse_color,
    rgb_tuple,
)
from dicom_rewrite.batch import FolderSink, ReportEntry, Source, run_batch, walk
from dicom_rewrite.core import clock
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.engine.pixels import PixelPlan
from dicom_rewrite.errors import DicomRewriteError, InputError, UsageError, one_line
from dicom_rewrite.io.files import sanitise_component
from dicom_rewrite.io.images import from_array
from dicom_rewrite.profile import Profile

__all__ = ["Annotator", "annotate_dataset", "annotate_files", "annotate_with_gsps"]


class Annotator:
    """One annotation run: one new series per study for all annotated frames,
    one presentation state per source series.

    >>> run = Annotator(window="abdomen")                       # doctest: +SKIP
    >>> ann = run.annotate(ds, [Box(10, 10, 40, 30, "lesion")])  # doctest: +SKIP
    >>> gsps = run.presentation_states()                       # doctest: +SKIP
    """

    def __init__(
        self,
        profile: Profile | None = None,
        *,
        window: str | tuple[float, float] | None = None,
        color: RGB | str = DEFAULT_COLOR,
        thickness: int = DEFAULT_THICKNESS,
        clip: bool = False,
        started: datetime | None = None,
        series_numbers: Mapping[str, int] | None = None,
    ) -> None:
        check_thickness(thickness)
        self.window = resolve_window(window)
        self.color: RGB = parse_color(color) if isinstance(color, str) else rgb_tuple(color)
        self.thickness = thickness
        self.clip = clip
        self.started = started or clock.now()
        self.profile = annotation_profile(profile)
        self.uid_map = KeepingUidMap(self.profile.uids.root, self.profile.uids.key)
        self.series_numbers: dict[str, int] = dict(series_numbers or {})
        self._engines = SeriesEngines(self.profile, self.uid_map, self.started)
        self._index: dict[str, int] = defaultdict(int)
        self._done: list[Annotation] = []
        self._last_repair: tuple[Dataset, Dataset, list[str]] | None = None

    # -------------------------------------------------------------- planning
    def plan(self, ds: Dataset, boxes: Iterable[Box], *, frames: Iterable[int] | None = None,
             where: str = "") -> list[Planned]:
        """Validate ``boxes`` against ``ds`` (header only is enough).

        Boxes go on their ``frame`` (1-based; None = frame 1). ``frames``
        adds frames to write even without boxes (``--all``)."""
        name = where or str(ds.get("SOPInstanceUID", "<dataset>"))
        for kw in ("Rows", "Columns", "SOPInstanceUID", "SOPClassUID"):
            if not ds.get(kw):
                raise InputError(f"{name}: no {kw}; not an image that can be annotated")
        rows, cols, n_frames = int(ds.Rows), int(ds.Columns), frame_count(ds)
        out = []
        for f, mine in sorted(_by_frame(boxes, frames, n_frames, name).items()):
            placed = place_boxes(mine, rows, cols, color=self.color, thickness=self.thickness,
                                 clip=self.clip, where=name if n_frames == 1 else f"{name} frame {f}")
            out.append(Planned(ds, f, placed))
        return out

    # ------------------------------------------------------------- rendering
    def annotate(self, ds: Dataset, boxes: Iterable[Box], *, frames: Iterable[int] | None = None,
                 where: str = "") -> list[Annotation]:
        """Validate, then render every frame named by ``boxes`` (and ``frames``)."""
        return [self.render(p) for p in self.plan(ds, boxes, frames=frames, where=where)]

    def render(self, planned: Planned, pixels: Dataset | None = None) -> Annotation:
        """Render one planned frame; ``pixels`` is the full dataset when
        ``planned.source`` is only a header."""
        src, repairs = self._repaired(pixels if pixels is not None else planned.source)
        background, used = render_background(src, planned.frame - 1, self.window)
        rgb = draw_boxes(background, planned.placed, self.thickness)
        study = str(src.get("StudyInstanceUID", ""))
        patient = str(src.get("PatientID", "") or "")
        series_uid = self.uid_map.get(f"<annotation series:{study}>", patient)
        number = self._number(study, src)
        self._index[series_uid] += 1
        index = self._index[series_uid]
        source_header = header(src)
        multi = frame_count(src) > 1

        def adjust(ds: Dataset, plan: PixelPlan) -> list[Change]:
            return derive(ds, plan, source_header, planned, used, number, multi)

        out = self._engines.convert(src, source_header, series_uid, from_array(rgb), index=index,
                                    stem=f"annotation{index}",
                                    name=f"{src.SOPInstanceUID}:{planned.frame}", adjust=adjust)
        ann = Annotation(out.dataset, source_header, planned.frame, planned.placed, used,
                         [*out.notes, *repairs])
        self._done.append(ann)
        return ann

    def _repaired(self, src: Dataset) -> tuple[Dataset, list[str]]:
        """:func:`~.repair.repair_source` of ``src``, once for all its frames
        (the last source's result is kept)."""
        if self._last_repair is None or self._last_repair[0] is not src:
            self._last_repair = (src, *repair_source(src, self.uid_map))
        return self._last_repair[1], self._last_repair[2]

    def _number(self, study: str, src: Dataset) -> int:
        if study not in self.series_numbers:
            self.series_numbers[study] = series_number(src.get("SeriesNumber")) + SERIES_NUMBER_OFFSET
        return self.series_numbers[study]

    # ------------------------------------------------------ presentation states
    def presentation_states(self) -> list[tuple[Dataset, list[str]]]:
        """One Grayscale Softcopy Presentation State per source series (and
        image size / Modality LUT), referencing the untouched sources, for
        every annotated frame so far that has boxes. Returns ``(gsps, notes)``
        pairs; colour sources are left out with a note."""
        return presentation_states(self._done, uid_map=self.uid_map, series_numbers=self.series_numbers,
                                   started=self.started)

    def state_groups(self) -> tuple[list[StateGroup], list[str]]:
        """What :meth:`presentation_states` makes, one group per presentation
        state (built by :meth:`build_state`), and the notes on colour sources."""
        return state_groups(self._done)

    def build_state(self, group: StateGroup, k: int) -> Dataset:
        return build_state(group, k, uid_map=self.uid_map, series_numbers=self.series_numbers,
                           started=self.started)


def _by_frame(boxes: Iterable[Box], frames: Iterable[int] | None, n_frames: int,
              name: str) -> dict[int, list[Box]]:
    """The boxes of each frame to write (1-based), checked against ``n_frames``."""
    by_frame: dict[int, list[Box]] = defaultdict(list)
    for b in boxes:
        f = b.frame or 1
        if f > n_frames:
            raise BoxError(f"{name}: box {list(b.corners)} is on frame {f}, but the image has "
                           f"{n_frames} frame(s)")
        by_frame[f].append(b)
    for f in frames or ():
        if not 1 <= f <= n_frames:
            raise BoxError(f"{name}: frame {f} does not exist ({n_frames} frame(s))")
        by_frame.setdefault(f, [])
    return by_frame


# ---------------------------------------------------------------------------
# One dataset
# ---------------------------------------------------------------------------


def annotate_dataset(
    ds: Dataset,
    boxes: Iterable[Box],
    *,
    frame: int = 1,
    window: str | tuple[float, float] | None = None,
    color: RGB | str = DEFAULT_COLOR,
    thickness: int = DEFAULT_THICKNESS,
    clip: bool = False,
    profile: Profile | None = None,
) -> Dataset:
    """Return an RGB copy of frame ``frame`` (1-based) of ``ds`` with ``boxes``
    burned in: a new dataset in the source's patient and study, in a new
    series. ``ds`` is not modified. Boxes with another ``frame`` are ignored."""
    return annotate_with_gsps(ds, boxes, frame=frame, window=window, color=color,
                              thickness=thickness, clip=clip, profile=profile, gsps=False)[0]


def annotate_with_gsps(
    ds: Dataset,
    boxes: Iterable[Box],
    *,
    frame: int = 1,
    window: str | tuple[float, float] | None = None,
    color: RGB | str = DEFAULT_COLOR,
    thickness: int = DEFAULT_THICKNESS,
    clip: bool = False,
    profile: Profile | None = None,
    gsps: bool = True,
) -> tuple[Dataset, Dataset | None]:
    """Like :func:`annotate_dataset`, also returning the Grayscale Softcopy
    Presentation State that shows the same boxes on the untouched ``ds``
    (None for a colour source)."""
    run = Annotator(profile, window=window, color=color, thickness=thickness, clip=clip)
    mine = [dataclasses.replace(b, frame=frame) for b in boxes if (b.frame or 1) == frame]
    anns = run.annotate(ds, mine, frames=[frame])
    states = run.presentation_states() if gsps else []
    return anns[0].dataset, (states[0][0] if states else None)


# ---------------------------------------------------------------------------
# Files: the command line's batch
# ---------------------------------------------------------------------------


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


def _read_header(path: Path) -> Dataset:
    try:
        return dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        raise InputError(f"{path}: not a DICOM file") from None
    except (OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: cannot read ({one_line(exc)})") from None


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


def _match_keys(box_map: Mapping[str, list[Box]], inputs: list[_Input],
                source: str) -> dict[int, list[Box]]:
    """Assign each key of the box file to exactly one input (by file name,
    path as given, path under a folder, or SOP Instance UID)."""
    assigned: dict[int, list[Box]] = defaultdict(list)
    for key, boxes in box_map.items():
        hits = [i for i, inp in enumerate(inputs)
                if key in inp.keys
                or (inp.header is not None and str(inp.header.get("SOPInstanceUID", "")) == key)]
        if not hits:
            raise BoxError(
                f"{source}: key {key!r} matches no input (use an input file name, its path, "
                "or its SOPInstanceUID)"
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


def _plan_all(run: Annotator, items: list[_Input], per_input: Mapping[int, list[Box]],
              all_slices: bool) -> None:
    """Pass 1: validate every box of every input (nothing is written on a box error)."""
    for i, inp in enumerate(items):
        if inp.header is None:
            continue
        mine = per_input.get(i, [])
        if not mine and not all_slices:
            continue
        frames = range(1, frame_count(inp.header) + 1) if all_slices else None
        try:
            inp.plans = run.plan(inp.header, mine, frames=frames, where=str(inp.source.path))
        except InputError as exc:
            inp.error = one_line(exc)


def _boxes_per_input(items: list[_Input], boxes: Sequence[Box],
                     box_file: str | Path | None) -> dict[int, list[Box]]:
    """The boxes of each input (by index): the box file's, else ``boxes`` on every readable input."""
    if box_file:
        return _match_keys(load_boxes(box_file), items, str(box_file))
    return {i: list(boxes) for i, inp in enumerate(items) if inp.header is not None}


def _make(run: Annotator, inp: _Input, sink: FolderSink) -> ReportEntry:
    """The pipeline's work for one input that has not failed yet."""
    path = str(inp.source.path)
    if inp.skipped:
        return ReportEntry.skipped(path, inp.skipped)
    if inp.plans is None:
        return ReportEntry.skipped(path, "no boxes (use --all to write it anyway)")
    return _write_annotations(run, inp, inp.plans, sink)


def _dicom_bytes(ds: Dataset) -> bytes:
    """The Part 10 file of ``ds``, as pydicom writes it."""
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _output_name(path: Path, frame: int, n_frames: int) -> str:
    stem = sanitise_component(path.stem, "image")
    return f"{stem}_annotated.dcm" if n_frames == 1 else f"{stem}_f{frame:04d}_annotated.dcm"


def _write_annotations(run: Annotator, inp: _Input, plans: list[Planned], sink: FolderSink) -> ReportEntry:
    """Pass 2 for one input: render its planned frames and write them."""
    path = inp.source.path
    entry = ReportEntry(str(path))
    try:
        full = dcmread(path)
        frames_info = []
        written = []
        notes: set[str] = set()
        n_frames = frame_count(full)
        for planned in plans:
            ann = run.render(planned, full)
            written.append(sink.put(sink.claim(_output_name(path, planned.frame, n_frames)),
                                    [_dicom_bytes(ann.dataset)]))
            notes.update(ann.notes)
            frames_info.append({
                "frame": planned.frame,
                "boxes": [list(p.box.corners) for p in planned.placed],
                "clipped": sum(p.clipped for p in planned.placed),
                "window": ann.window.as_dict(),
            })
        entry.outputs = written
        entry.fields["frames"] = frames_info
        entry.fields["sop_class"] = UID(str(ann.dataset.SOPClassUID)).name
        entry.fields["series_instance_uid"] = str(ann.dataset.SeriesInstanceUID)
        if notes:
            entry.fields["notes"] = sorted(notes)
    except DicomRewriteError:
        raise  # InputError (PixelDataError too) is this input's; run_batch reports it
    except (OSError, ValueError, TypeError) as exc:
        entry = ReportEntry.failed(str(path), f"{path}: {one_line(exc)}")
    return entry


def _state_entries(run: Annotator, sink: FolderSink) -> Iterator[ReportEntry]:
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
        try:
            entry.outputs = [sink.put(sink.claim(f"gsps_{k:03d}.dcm"), [_dicom_bytes(state)])]
        except (OSError, ValueError) as exc:
            entry.fail(f"presentation state {k}: {one_line(exc)}")
        if skipped and k == len(groups):
            entry.fields["notes"] = skipped
        return entry

    yield from run_batch(sources, make, describe=lambda s, exc: f"{s.path}: {one_line(exc)}")


def annotate_files(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    boxes: Sequence[Box] = (),
    box_file: str | Path | None = None,
    window: str | tuple[float, float] | None = None,
    color: RGB | str = DEFAULT_COLOR,
    thickness: int = DEFAULT_THICKNESS,
    clip: bool = False,
    all_slices: bool = False,
    gsps: bool = False,
    profile: Profile | None = None,
    durable: bool = True,
) -> Iterator[dict[str, Any]]:
    """Annotate DICOM files (or folders) and write the results under ``out_dir``.

    ``boxes`` (the ``--box`` boxes) go on every input; ``box_file`` gives
    boxes per input. Everything is validated before the first file is
    written: bad box input raises :class:`BoxError` and writes nothing.
    Yields one report entry per input (and per presentation state).
    ``durable``: fsync files, and folders when the batch ends."""
    if bool(boxes) == bool(box_file):
        raise UsageError("annotate: give boxes with --box X0,Y0,X1,Y1 or --boxes FILE (one of them)")
    run = Annotator(profile, window=window, color=color, thickness=thickness, clip=clip)
    items = _collect_inputs(inputs)
    if all(inp.skipped for inp in items):
        raise UsageError("annotate: no DICOM files found in " + " ".join(map(str, inputs)))
    per_input = _boxes_per_input(items, boxes, box_file)
    run.series_numbers.update(_series_numbers(items))
    _plan_all(run, items, per_input, all_slices)

    # pass 2: render and write, through the batch pipeline
    sink = FolderSink(out_dir, durable=durable)
    # an input that failed already is reported by the pipeline, with its error
    sources = [dataclasses.replace(inp.source, error=inp.error) if inp.error else inp.source for inp in items]
    by_source = {id(s): inp for s, inp in zip(sources, items)}

    def make(source: Source) -> ReportEntry:
        return _make(run, by_source[id(source)], sink)

    try:
        for entry in run_batch(sources, make):
            yield entry.as_dict()
        if gsps:
            for entry in _state_entries(run, sink):
                yield entry.as_dict()
    finally:
        sink.close()
