"""An annotation run: the :class:`Annotator` and one dataset
(:func:`annotate_dataset`, :func:`annotate_with_gsps`); the command line's
batch is :mod:`.files`.

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
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from pydicom.dataset import Dataset

from dicom_rewrite.annotate.background import WindowUsed, render_background, resolve_window
from dicom_rewrite.annotate.derive import (
    SERIES_NUMBER_OFFSET,
    Annotation,
    Drawn,
    KeepingUidMap,
    Planned,
    annotation_profile,
    derive,
    frame_count,
    header,
    kept_header,
    series_number,
    traced,
)
from dicom_rewrite.annotate.draw import default_font_size, draw_shapes
from dicom_rewrite.annotate.engines import SeriesEngines
from dicom_rewrite.annotate.gsps import StateGroup, build_state, presentation_states, state_groups
from dicom_rewrite.annotate.layout import DEFAULT_LABEL_FORMAT, check_label_format, place_boxes, place_legend
from dicom_rewrite.annotate.repair import repair_source
from dicom_rewrite.annotate.shapes import (
    DEFAULT_COLOR,
    DEFAULT_THICKNESS,
    RGB,
    Box,
    BoxError,
    Shape,
    check_thickness,
    parse_color,
    rgb_tuple,
)
from dicom_rewrite.annotate.sr import ReportGroup, build_report, report_groups
from dicom_rewrite.core import clock
from dicom_rewrite.core.scrub import Change
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Output, Rendered
from dicom_rewrite.engine.pixels import PixelPlan
from dicom_rewrite.errors import InputError, UsageError
from dicom_rewrite.io.images import from_array
from dicom_rewrite.profile import Profile

__all__ = ["Annotator", "annotate_dataset", "annotate_with_gsps"]


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
        font_size: int | None = None,
        label_format: str = DEFAULT_LABEL_FORMAT,
        min_score: float | None = None,
    ) -> None:
        check_thickness(thickness)
        if font_size is not None and not (isinstance(font_size, int) and 4 <= font_size <= 512):
            raise UsageError(f"--font-size {font_size!r}: must be a whole number of pixels from 4 to 512")
        self.font_size = font_size
        self.label_format = check_label_format(label_format)
        self.min_score = min_score
        self.window = resolve_window(window)
        self.color: RGB = parse_color(color) if isinstance(color, str) else rgb_tuple(color)
        self.thickness = thickness
        self.clip = clip
        self.started = started or clock.now()
        self.profile = annotation_profile(profile)
        self.uid_map = KeepingUidMap(self.profile.uids.root, self.profile.uids.key)
        self.series_numbers: dict[str, int] = dict(series_numbers or {})
        self._engines = SeriesEngines(self.profile, self.uid_map, self.started)
        #: the run's batch writer (Part 10 bytes as pydicom writes them, encodings cached)
        self.writer = DatasetWriter()
        self._index: dict[str, int] = defaultdict(int)
        self._done: list[Drawn] = []
        self._seen_series: set[tuple[str, str]] = set()
        #: keep what :meth:`presentation_states` and :meth:`structured_reports` need
        #: (a batch that writes neither sets it False)
        self.keep_drawn = True
        self._last_repair: tuple[Dataset, Dataset, list[str]] | None = None

    # -------------------------------------------------------------- planning
    def plan(self, ds: Dataset, boxes: Iterable[Shape], *, frames: Iterable[int] | None = None,
             where: str = "") -> list[Planned]:
        """Validate ``boxes`` (any :class:`~.shapes.Shape`) against ``ds``
        (header only is enough); shapes scored below ``min_score`` are left out.

        Shapes go on their ``frame`` (1-based; None = frame 1). ``frames``
        adds frames to write even without boxes (``--all``)."""
        name = where or str(ds.get("SOPInstanceUID", "<dataset>"))
        for kw in ("Rows", "Columns", "SOPInstanceUID", "SOPClassUID"):
            if not ds.get(kw):
                raise InputError(f"{name}: no {kw}; not an image that can be annotated")
        rows, cols, n_frames = int(ds.Rows), int(ds.Columns), frame_count(ds)
        if self.min_score is not None:
            boxes = [b for b in boxes if b.score is None or b.score >= self.min_score]
        out = []
        for f, mine in sorted(_by_frame(boxes, frames, n_frames, name).items()):
            placed = place_boxes(mine, rows, cols, color=self.color, thickness=self.thickness,
                                 clip=self.clip, where=name if n_frames == 1 else f"{name} frame {f}",
                                 font_size=self.font_size, label_format=self.label_format)
            out.append(Planned(ds, f, placed))
        return out

    # ------------------------------------------------------------- rendering
    def annotate(self, ds: Dataset, boxes: Iterable[Shape], *, frames: Iterable[int] | None = None,
                 where: str = "") -> list[Annotation]:
        """Validate, then render every frame named by ``boxes`` (and ``frames``)."""
        return [self.render(p) for p in self.plan(ds, boxes, frames=frames, where=where)]

    def render(self, planned: Planned, pixels: Dataset | None = None) -> Annotation:
        """Render one planned frame; ``pixels`` is the full dataset when
        ``planned.source`` is only a header."""
        out, notes, used, source_header = self._convert(planned, pixels)
        assert isinstance(out, Output)
        return Annotation(out.dataset, source_header, planned.frame, planned.placed, used, notes)

    def _convert(self, planned: Planned,
                 pixels: Dataset | None) -> tuple[Output | Rendered, list[str], WindowUsed, Dataset]:
        src, repairs = self._repaired(pixels if pixels is not None else planned.source)
        background, used = render_background(src, planned.frame - 1, self.window)
        rows = int(src.Rows)
        legend = place_legend(planned.placed, rows, int(src.Columns), font_size=self.font_size)
        rgb = draw_shapes(background, planned.placed, self.thickness, legend=legend,
                          font_size=self.font_size or default_font_size(rows))
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
        if planned.placed and self.keep_drawn:  # what the presentation states and the SR need: no pixels
            series = (study, str(src.get("SeriesInstanceUID", "")))
            kept = kept_header(source_header) if series in self._seen_series else source_header
            self._seen_series.add(series)
            self._done.append(Drawn(kept, planned.frame, traced(planned.placed), used))
        return out, [*out.notes, *repairs], used, source_header

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

    # ------------------------------------------------------ structured reports
    def report_groups(self) -> list[ReportGroup]:
        """The findings of the run, one group (one SR) per study."""
        return report_groups(self._done)

    def build_report(self, group: ReportGroup, k: int) -> Dataset:
        """The ``k``-th Comprehensive 3D SR (TID 1500) of the run."""
        return build_report(group, k, uid_map=self.uid_map, series_numbers=self.series_numbers,
                            started=self.started)

    def structured_reports(self) -> list[Dataset]:
        """One SR per study with every finding drawn so far."""
        return [self.build_report(g, k) for k, g in enumerate(self.report_groups(), 1)]


def _by_frame(boxes: Iterable[Shape], frames: Iterable[int] | None, n_frames: int,
              name: str) -> dict[int, list[Shape]]:
    """The boxes of each frame to write (1-based), checked against ``n_frames``."""
    by_frame: dict[int, list[Shape]] = defaultdict(list)
    for b in boxes:
        f = b.frame or 1
        if f > n_frames:
            raise BoxError(f"{name}: {b.kind} {list(b.corners)} is on frame {f}, but the image has "
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
