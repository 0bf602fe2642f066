"""``convert``: images -> DICOM in a template's dialect, one batch.

Each input is read once (every page of a multi-page file is one output),
made by the one :class:`~dicom_rewrite.engine.converter.Converter` of the
batch (template parsed and scrubbed once), and written through the batch
pipeline's sink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.batch import ReportEntry, Sink, Source, run_batch, walk
from dicom_rewrite.batch.delivery import Delivery, local_sink
from dicom_rewrite.batch.metadata import Metadata, MetadataLike, plan_metadata
from dicom_rewrite.core.diff import DiffRow, diff
from dicom_rewrite.encode.syntax import Options
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Output, Rendered
from dicom_rewrite.engine.template import Template, as_profile, as_template
from dicom_rewrite.errors import InputError, UsageError, one_line
from dicom_rewrite.io import jpeg
from dicom_rewrite.io.files import sanitise_component
from dicom_rewrite.io.images import (
    Raster,
    from_array,
    is_image_file,
    iter_pages,
    read_image,
    stack,
)
from dicom_rewrite.profile import Profile

TemplateLike = str | Path | Dataset | Template
ProfileLike = str | Path | Profile | None


def _rasters(image: str | Path | np.ndarray | Raster, keep_jpeg: jpeg.Keep | None) -> list[Raster]:
    if isinstance(image, Raster):
        return [image]
    if isinstance(image, np.ndarray):
        return [from_array(image)]
    return read_image(image, keep_jpeg=keep_jpeg)


def convert_image(
    image: str | Path | np.ndarray | Raster,
    template: TemplateLike,
    profile: ProfileLike = None,
    *,
    page: int = 0,
    transfer_syntax: str | None = None,
    encoding: Options | None = None,
    passthrough_only: bool = False,
) -> Dataset:
    """Convert one image (file, array or raster) into a dataset in the
    template's dialect. Multi-page files: ``page`` selects the page."""
    conv = Converter(as_template(template), as_profile(profile), transfer_syntax=transfer_syntax,
                     encoding=encoding, passthrough_only=passthrough_only)
    rasters = _rasters(image, conv.keep_jpeg)
    if not 0 <= page < len(rasters):
        raise UsageError(f"{image}: page {page} does not exist ({len(rasters)} page(s))")
    stem = Path(str(image)).stem if not isinstance(image, (np.ndarray, Raster)) else "image"
    return conv.convert(rasters[page], index=1, stem=stem, name=stem).dataset


@dataclass
class ConversionResult:
    """The outcome for one input of a batch (in memory, nothing written)."""

    input: str
    outputs: list[Output] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def datasets(self) -> list[Dataset]:
        return [o.dataset for o in self.outputs]


def image_sources(inputs: Iterable[str | Path]) -> Iterator[Source]:
    """The images of ``inputs``: files as given, folders walked (image suffixes)."""
    return walk(inputs, is_image_file)


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files and folders (recursive, image suffixes only) -> sorted files.

    The order is deterministic (explicit files in the given order, each
    folder's images sorted), and ``{index}`` in profiles follows it."""
    return [s.path for s in image_sources(inputs)]


_T = TypeVar("_T")


class _Pages:
    """Reads each source's pages and names their outputs; ``index`` runs
    1, 2, ... over the whole batch (``{index}`` in profiles)."""

    def __init__(self, keep_tree: bool, keep_color: bool = False,
                 keep_jpeg: jpeg.Keep | None = None, multiframe: str | None = None,
                 frame_time: float | None = None) -> None:
        self.keep_tree = keep_tree
        self.keep_color = keep_color
        self.keep_jpeg = keep_jpeg
        self.multiframe = multiframe
        self.frame_time = frame_time
        self.index = 0

    def rasters(self, path: Path) -> Iterator[Raster]:
        """The pages of one file; with ``multiframe="pages"``, a multi-page
        file's pages as one multi-frame raster (:func:`stack`)."""
        found = iter_pages(path, keep_color=self.keep_color, keep_jpeg=self.keep_jpeg)
        if self.multiframe != "pages":
            return found
        pages = list(found)
        return iter([stack(pages, self.frame_time)] if len(pages) > 1 else pages)

    def prefix(self, source: Source) -> str:
        """The sub-folder of ``source``'s outputs (``keep_tree``), ending in ``/``, or ``""``."""
        folder = source.folder if self.keep_tree else PurePath(".")
        return "".join(f"{sanitise_component(part, '_')}/" for part in folder.parts)

    def make(self, source: Source, make: Callable[[Raster, int, Path], _T]) -> Iterator[tuple[_T, str]]:
        """Each page's output and name, one page decoded at a time."""
        path = source.path
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        prefix = self.prefix(source)
        for raster in self.rasters(path):
            self.index += 1
            stem = path.stem if raster.pages == 1 else f"{path.stem}_p{raster.page + 1:04d}"
            yield make(raster, self.index, path), f"{prefix}{sanitise_component(stem, 'image')}.dcm"


def _with_metadata(inputs: Iterable[str | Path], profile: Profile, metadata: MetadataLike,
                   key: str | None, optional: bool) -> tuple[Iterable[Source], Metadata]:
    """The batch's sources and their metadata rows (the sources are listed
    first only when a manifest must be matched to them)."""
    if metadata is None and key is None and not optional:
        plan_metadata((), profile, None)  # a profile that uses {meta[...]} needs a manifest
        return image_sources(inputs), Metadata()
    sources = list(image_sources(inputs))
    return sources, plan_metadata(sources, profile, metadata, key=key, optional=optional)


def convert_batch(
    inputs: Iterable[str | Path],
    template: TemplateLike,
    profile: ProfileLike = None,
    *,
    transfer_syntax: str | None = None,
    started: datetime | None = None,
    encoding: Options | None = None,
    passthrough_only: bool = False,
    metadata: MetadataLike = None,
    metadata_key: str | None = None,
    metadata_optional: bool = False,
) -> Iterator[ConversionResult]:
    """Convert many images with one template (parsed once); yield one result
    per input. A bad input yields a result with ``error`` set; the batch goes
    on. Template and profile errors raise before anything is yielded.
    ``metadata``: a manifest (CSV, TSV, JSON, JSON Lines) with a row per
    input, for the profile's ``{meta[Column]}`` values (see
    :func:`convert_files`)."""
    prof = as_profile(profile)
    conv = Converter(as_template(template), prof, transfer_syntax=transfer_syntax,
                     started=started, encoding=encoding, passthrough_only=passthrough_only)
    sources, meta = _with_metadata(inputs, prof, metadata, metadata_key, metadata_optional)
    pages = _Pages(keep_tree=False, keep_jpeg=conv.keep_jpeg)
    made: dict[str, ConversionResult] = {}

    def make(source: Source) -> ReportEntry:
        done = list(pages.make(source, lambda r, i, p: conv.convert(
            r, index=i, stem=p.stem, name=p.name, ctx=meta.context(conv, source, i, p.stem, p.name))))
        made[str(source.path)] = ConversionResult(str(source.path), [o for o, _ in done], [n for _, n in done])
        return ReportEntry(str(source.path))

    for entry in run_batch(sources, make):
        result = made.pop(entry.input) if entry.input in made else None
        yield result or ConversionResult(entry.input, error=entry.error)


def convert_files(
    inputs: Iterable[str | Path],
    template: TemplateLike,
    out_dir: str | Path | None,
    profile: ProfileLike = None,
    *,
    transfer_syntax: str | None = None,
    overwrite: bool = False,
    started: datetime | None = None,
    keep_tree: bool = False,
    durable: bool = True,
    send_to: Sequence[Sink] = (),
    keep_color: bool = False,
    encoding: Options | None = None,
    passthrough_only: bool = False,
    metadata: MetadataLike = None,
    metadata_key: str | None = None,
    metadata_optional: bool = False,
    multiframe: str | None = None,
    frame_time: float | None = None,
    dicomdir: bool = False,
    name: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Convert and write: yields one report entry per input.

    Each output is ``OUT/<input stem>.dcm`` (multi-page: ``<stem>_pNNNN.dcm``);
    a name already taken in this run or on disk gets ``_2``, ``_3``... (never
    a silent overwrite), written atomically. ``overwrite``: replace files
    from earlier runs instead (never one written in this run). ``keep_tree``:
    files found in a folder go to the same sub-folder below ``out_dir``
    (``OUT/<sub>/<stem>.dcm``). ``started``: the batch clock (dates the
    outputs need and nothing else gave; default now). The files are byte for
    byte what :func:`convert_batch`'s datasets save as; outputs after the
    first of each kind of image are filled into its encoding
    (:meth:`Converter.render`). ``durable``: each file is fsynced before its
    rename and the folders when the batch ends (off: scratch output).
    ``send_to``: more destinations of every output (e.g. a
    :class:`~dicom_rewrite.batch.pacs.DimseSink`); ``out_dir`` may then be
    None (nothing kept locally). Each entry's ``destinations`` lists where
    every output went, with the PACS's status. ``dicomdir``: ``out_dir`` is
    a DICOM file-set (PS3.10), written when the batch ends; an existing one
    is added to. ``name``: the output path template (as ``export``'s
    ``--name``: DICOM keywords of the output, ``{stem}``, ``{index}``;
    every component sanitised, never outside ``out_dir``). ``keep_color``: a colour
    image whose channels are equal everywhere stays RGB (default: it is
    stored as MONOCHROME2, values unchanged, so it stays in the template's class).
    ``encoding``: quality / NEAR / ratio of a lossy ``transfer_syntax``;
    with ``jpeg-baseline``/``jpeg-extended`` a JPEG input DICOM can hold is
    stored as its own bitstream, others are encoded (``passthrough_only``:
    refused instead). ``multiframe``: ``"pages"``, each multi-page file
    (TIFF, GIF) is one multi-frame instance; ``"batch"``, all inputs' pages
    are one instance, ``OUT/multiframe.dcm``, in input order (an input whose
    frames differ in size or kind from the first is that input's error);
    ``frame_time`` (ms) sets Frame Time instead of GIF durations.

    ``metadata``: a manifest (CSV, TSV, JSON list, JSON Lines; path or
    :class:`~dicom_rewrite.io.manifest.Manifest`) whose rows the profile
    renders as ``{meta[Column]}``; each row matches an input by the
    ``metadata_key`` column (default: the first column whose values name the
    inputs). Every input needs a row and every row an input, unless
    ``metadata_optional``. A manifest that does not fit raises
    :class:`~dicom_rewrite.errors.ManifestError` before anything is written."""
    if multiframe not in (None, "pages", "batch"):
        raise UsageError(f"--multiframe {multiframe}: choose pages or batch")
    writer = DatasetWriter()
    prof = as_profile(profile)
    conv = Converter(as_template(template), prof, transfer_syntax=transfer_syntax,
                     started=started, encoding=encoding, passthrough_only=passthrough_only)
    sources, meta = _with_metadata(inputs, prof, metadata, metadata_key, metadata_optional)
    delivery = Delivery(local_sink(out_dir, dicomdir=dicomdir, overwrite=overwrite, durable=durable),
                        send_to, command="convert", name=name)
    pages = _Pages(keep_tree, keep_color, conv.keep_jpeg, multiframe, frame_time)
    if multiframe == "batch":
        try:
            yield from (e.as_dict() for e in _one_instance(sources, conv, writer, pages, delivery))
        finally:
            delivery.close()
        return

    def make(source: Source) -> ReportEntry:
        entry = ReportEntry(str(source.path))
        summary = _Summary()
        label = str(source.path)
        try:
            for out, default in pages.make(source, lambda r, i, p: conv.render(
                    r, writer, index=i, stem=p.stem, name=p.name,
                    ctx=meta.context(conv, source, i, p.stem, p.name))):
                summary.add(out)  # not the output itself: its pixels go once written
                target = delivery.name(default, out.parts, out.dataset, stem=source.path.stem,
                                       prefix=pages.prefix(source))
                if not delivery.put(entry, target, out.parts, label=label):
                    break
                summary.delivered += 1
        except BaseException:
            delivery.discard(entry)  # a page that cannot be read: the input has no outputs
            raise
        summary.describe(entry, summary.delivered)
        missing = meta.note(source)
        if missing:
            entry.fields["notes"] = [*entry.fields.get("notes", []), missing]
        delivery.finish(entry)
        return entry

    try:
        for entry in delivery.settle(run_batch(sources, make)):
            yield entry.as_dict()
    finally:
        delivery.close()


def _one_instance(sources: Iterable[Source], conv: Converter, writer: DatasetWriter,
                  pages: _Pages, delivery: Delivery) -> list[ReportEntry]:
    """``--multiframe batch``: every input's pages, in input order, as the
    frames of one instance; each input's entry names that one output."""
    frames: list[Raster] = []

    def make(source: Source) -> ReportEntry:
        if not source.path.is_file():
            raise InputError(f"{source.path}: no such file")
        found = list(pages.rasters(source.path))
        stack([*frames[:1], *found])  # the same size and kind as the first frame, or this input fails
        frames.extend(found)
        return ReportEntry(str(source.path))

    entries = list(run_batch(sources, make))
    done = [e for e in entries if e.status == "ok"]
    if not frames or not done:
        return entries
    raster = stack(frames, pages.frame_time) if len(frames) > 1 else frames[0]
    first = Source(Path(raster.source), PurePath("."))
    made = ReportEntry(raster.source)
    summary = _Summary()
    try:
        out = conv.render(raster, writer, index=1, stem="multiframe", name="multiframe")
    except InputError as exc:
        for entry in done:
            entry.fail(one_line(exc))
        return entries
    summary.add(out)
    delivered = delivery.put(made, delivery.name("multiframe.dcm", out.parts, out.dataset, stem="multiframe"),
                             out.parts, label=str(first.path))
    delivery.flush()
    summary.describe(made, int(delivered))
    delivery.finish(made)
    made.fields["frames"] = len(frames)
    for entry in done:
        entry.outputs, entry.error, entry.status = list(made.outputs), made.error, made.status
        entry.fields.update(made.fields)
    return entries


class _Summary:
    """What the report says of one input's outputs, kept without their pixels."""

    def __init__(self) -> None:
        self.notes: set[str] = set()
        self.first: tuple[Any, tuple[str, str, str]] | None = None  # (pixel plan, UIDs)
        self.instance_uids: list[str] = []
        self.kept_facts: dict[str, dict[str, str]] = {}
        self.delivered = 0  # outputs the local sink (or, without one, the network) took

    def add(self, out: Rendered) -> None:
        self.notes.update(out.notes)
        for fact in out.kept_facts:
            self.kept_facts.setdefault(fact.keyword, fact.as_dict())
        if self.first is None:
            self.first = (out.plan, out.uids)
        self.instance_uids.append(out.uids[2])

    def describe(self, entry: ReportEntry, written: int) -> None:
        if self.notes:
            entry.fields["notes"] = sorted(self.notes)
        if self.first is None:
            return
        plan, uids = self.first
        entry.fields["sop_class"] = plan.sop_class.name
        if plan.switched_from is not None:
            entry.fields["sop_class_switched_from"] = plan.switched_from.name
        entry.fields["study_instance_uid"], entry.fields["series_instance_uid"] = uids[:2]
        entry.fields["sop_instance_uids"] = self.instance_uids[:written]
        # the template's facts that reached the outputs, and why they hold (engine.facts)
        entry.fields["kept_facts"] = list(self.kept_facts.values())


def dry_run(
    inputs: Iterable[str | Path],
    template: TemplateLike,
    profile: ProfileLike = None,
    *,
    transfer_syntax: str | None = None,
    encoding: Options | None = None,
    passthrough_only: bool = False,
    metadata: MetadataLike = None,
    metadata_key: str | None = None,
    metadata_optional: bool = False,
) -> tuple[str, list[DiffRow]]:
    """Convert the first input in memory and return ``(input, diff rows)``
    between the template and the output; nothing is written."""
    tpl = as_template(template)
    for result in convert_batch(inputs, tpl, profile, transfer_syntax=transfer_syntax,
                                encoding=encoding, passthrough_only=passthrough_only, metadata=metadata,
                                metadata_key=metadata_key, metadata_optional=metadata_optional):
        if result.error:
            raise InputError(result.error)
        out = result.outputs[0]
        return result.input, diff(tpl.dataset, out.dataset, out.changes,
                                  {k.tag: k.why for k in out.kept_facts})
    raise UsageError("no input images found")
