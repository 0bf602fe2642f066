"""``convert``: images -> DICOM in a template's dialect, one batch.

Each input is read once (every page of a multi-page file is one output),
made by the one :class:`~dicom_rewrite.engine.converter.Converter` of the
batch (template parsed and scrubbed once), and written through the batch
pipeline's sink.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.batch import FolderSink, ReportEntry, Sink, Source, run_batch, walk
from dicom_rewrite.batch.journal import Journal
from dicom_rewrite.batch.metadata import Metadata, MetadataLike, plan_metadata
from dicom_rewrite.batch.parallel import Processes, auto_workers
from dicom_rewrite.batch.pipeline import Executor, Serial
from dicom_rewrite.batch.resume import OpenBatch, batch_identity, digest_of, open_batch, outputs_hold
from dicom_rewrite.batch.state import digest_bytes
from dicom_rewrite.core import uids
from dicom_rewrite.core.diff import DiffRow, diff
from dicom_rewrite.core.uids import UidMap
from dicom_rewrite.encode.syntax import Options
from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Output, Rendered
from dicom_rewrite.engine.template import Template, as_profile, as_template
from dicom_rewrite.errors import InputError, UsageError, one_line
from dicom_rewrite.io import jpeg
from dicom_rewrite.io.files import atomic_write_bytes, sanitise_component
from dicom_rewrite.io.images import (
    Raster,
    from_array,
    is_image_file,
    iter_pages,
    page_count,
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


@dataclass(frozen=True)
class _Plan:
    """What the batch decided for one input before making it: the first
    index (``{index}``, Instance Number) of its pages, the name of each page's
    output and the place claimed for it."""

    index: int
    names: tuple[str, ...]
    targets: tuple[Path, ...] = ()


class _Planner:
    """Numbers and names the outputs in input order (the parent of a
    parallel batch runs it): ``index`` runs 1, 2, ... over every page of the
    batch, each input taking as many as its header declares pages (an input
    that cannot be opened takes none); a name is claimed for every page of
    every input, whether or not it converts."""

    def __init__(self, keep_tree: bool, folder: FolderSink | None = None,
                 journal: Journal | None = None, multiframe: str | None = None) -> None:
        self.keep_tree = keep_tree
        self.multiframe = multiframe
        self.folder = folder
        self.journal = journal
        self.index = 0

    def __call__(self, source: Source) -> Source:
        path = source.path
        pages = page_count(path) if path.is_file() else 0
        if self.multiframe == "pages":
            pages = min(pages, 1)  # a multi-page file is one multi-frame output
        folder = source.folder if self.keep_tree else PurePath(".")
        prefix = "".join(f"{sanitise_component(part, '_')}/" for part in folder.parts)
        stems = [path.stem] if pages == 1 else [f"{path.stem}_p{i + 1:04d}" for i in range(pages)]
        names = tuple(f"{prefix}{sanitise_component(stem, 'image')}.dcm" for stem in stems)
        targets: tuple[Path, ...] = ()
        if self.folder is not None:
            targets = tuple(self.folder.claim(n) for n in names)
            if self.journal is not None:
                self.journal.claim(list(targets))
        plan = _Plan(self.index + 1, names, targets)
        self.index += pages
        return replace(source, plan=plan)


@dataclass(frozen=True)
class _Reading:
    """How the pages of a file are read."""

    keep_color: bool = False
    keep_jpeg: jpeg.Keep | None = None
    multiframe: str | None = None
    frame_time: float | None = None

    def rasters(self, path: Path) -> Iterator[Raster]:
        """The pages of one file; with ``multiframe="pages"``, a multi-page
        file's pages as one multi-frame raster (:func:`stack`)."""
        found = iter_pages(path, keep_color=self.keep_color, keep_jpeg=self.keep_jpeg)
        if self.multiframe != "pages":
            return found
        pages = list(found)
        return iter([stack(pages, self.frame_time)] if len(pages) > 1 else pages)


def _pages(source: Source, reading: _Reading) -> Iterator[tuple[int, Raster, str]]:
    """Each page of a planned source: (its index, its raster, its name)."""
    plan: _Plan = source.plan
    path = source.path
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    for k, raster in enumerate(reading.rasters(path)):
        if k >= len(plan.names):
            raise InputError(f"{path}: has more pages than its header declared")
        yield plan.index + k, raster, plan.names[k]


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
    # new UIDs as convert_files makes them (a batch seed; see core.uids.UidMap)
    conv = Converter(as_template(template), prof, transfer_syntax=transfer_syntax, started=started,
                     uid_map=UidMap(prof.uids.root, prof.uids.key, seed=uids.batch_seed()),
                     encoding=encoding, passthrough_only=passthrough_only)
    sources, meta = _with_metadata(inputs, prof, metadata, metadata_key, metadata_optional)
    made: dict[str, ConversionResult] = {}

    def make(source: Source) -> ReportEntry:
        stem, name = source.path.stem, source.path.name
        done = [(conv.convert(r, index=i, stem=stem, name=name, ctx=meta.context(conv, source, i, stem, name)), n)
                for i, r, n in _pages(source, _Reading(keep_jpeg=conv.keep_jpeg))]
        made[str(source.path)] = ConversionResult(str(source.path), [o for o, _ in done], [n for _, n in done])
        return ReportEntry(str(source.path))

    for entry in run_batch(sources, make, plan=_Planner(keep_tree=False)):
        result = made.pop(entry.input) if entry.input in made else None
        yield result or ConversionResult(entry.input, error=entry.error)


@dataclass
class _ConvertWork:
    """``make`` of :func:`convert_files`: one input's outputs, written to the
    places its plan claimed. Picklable (worker processes get it once); the
    engine is built once per process, on first use."""

    template: Template
    profile: Profile
    transfer_syntax: str | None
    started: datetime
    seed: bytes
    keep_color: bool
    durable: bool
    encoding: Options | None = None
    passthrough_only: bool = False
    meta: Metadata = field(default_factory=Metadata)
    multiframe: str | None = None
    frame_time: float | None = None
    #: more destinations (this process only: a batch with them is not parallel)
    sinks: Sequence[Sink] = ()
    _engine: tuple[Converter, DatasetWriter] | None = field(default=None, repr=False)
    _made_dirs: set[Path] = field(default_factory=set, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        if self.sinks:
            raise UsageError("convert: a batch that sends to a PACS runs in one process (--workers 1)")
        return {**self.__dict__, "_engine": None, "_made_dirs": set()}

    def engine(self) -> tuple[Converter, DatasetWriter]:
        if self._engine is None:
            uid_map = UidMap(self.profile.uids.root, self.profile.uids.key, seed=self.seed)
            self._engine = (Converter(self.template, self.profile, transfer_syntax=self.transfer_syntax,
                                      started=self.started, uid_map=uid_map, encoding=self.encoding,
                                      passthrough_only=self.passthrough_only), DatasetWriter())
        return self._engine

    def __call__(self, source: Source) -> ReportEntry:
        conv, writer = self.engine()
        plan: _Plan = source.plan
        entry = ReportEntry(str(source.path))
        summary = _Summary()
        try:
            stem, file_name = source.path.stem, source.path.name
            reading = _Reading(self.keep_color, conv.keep_jpeg, self.multiframe, self.frame_time)
            for index, raster, name in _pages(source, reading):
                out = conv.render(raster, writer, index=index, stem=stem, name=file_name,
                                  ctx=self.meta.context(conv, source, index, stem, file_name))
                summary.add(out)  # not the output itself: its pixels go once written
                target = plan.targets[index - plan.index] if plan.targets else None
                if not self._deliver(entry, source, out, name, target):
                    break
        except BaseException:
            _discard(entry.outputs)  # a page that cannot be read: the input has no outputs
            raise
        summary.describe(entry, len(entry.outputs))
        missing = self.meta.note(source)
        if missing:
            entry.fields["notes"] = [*entry.fields.get("notes", []), missing]
        return entry

    def _deliver(self, entry: ReportEntry, source: Source, out: Rendered, name: str, target: Path | None) -> bool:
        """Write one output and put it into every other sink; False when the
        local write failed (the input's later pages are not made). A PACS
        that refuses an output fails the entry but not the other destinations."""
        listed = bool(self.sinks)
        sent: list[str] = entry.fields.setdefault("destinations", []) if listed else []
        if target is not None:
            try:
                atomic_write_bytes(target, out.parts, made_dirs=self._made_dirs, durable=self.durable)
            except (OSError, ValueError) as exc:
                entry.fail(f"{source.path}: cannot write output ({one_line(exc)})")
                return False
            entry.outputs.append(str(target))
            if listed:
                sent.append(str(target))
        for sink in self.sinks:
            try:
                sent.append(sink.put(sink.claim(name), out.parts))
            except (OSError, ValueError) as exc:
                entry.fail(f"{source.path}: {one_line(exc)}")
                sent.append(one_line(exc))
        return True


def _discard(paths: Sequence[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


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
    workers: int | None = 1,
    resume: bool = False,
    executor: Executor | None = None,
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
    every output went, with the PACS's status. ``keep_color``: a colour
    image whose channels are equal everywhere stays RGB (default: it is
    stored as MONOCHROME2, values unchanged, so it stays in the template's class).
    ``encoding``: quality / NEAR / ratio of a lossy ``transfer_syntax``;
    with ``jpeg-baseline``/``jpeg-extended`` a JPEG input DICOM can hold is
    stored as its own bitstream, others are encoded (``passthrough_only``:
    refused instead). ``multiframe``: ``"pages"``, each multi-page file
    (TIFF, GIF) is one multi-frame instance; ``"batch"``, all inputs' pages
    are one instance, ``OUT/multiframe.dcm``, in input order (an input whose
    frames differ in size or kind from the first is that input's error;
    one process, no ``resume``); ``frame_time`` (ms) sets Frame Time instead
    of GIF durations.

    ``metadata``: a manifest (CSV, TSV, JSON list, JSON Lines; path or
    :class:`~dicom_rewrite.io.manifest.Manifest`) whose rows the profile
    renders as ``{meta[Column]}``; each row matches an input by the
    ``metadata_key`` column (default: the first column whose values name the
    inputs). Every input needs a row and every row an input, unless
    ``metadata_optional``. A manifest that does not fit raises
    :class:`~dicom_rewrite.errors.ManifestError` before anything is written.

    ``workers``: processes making the outputs (None: the CPUs available,
    :func:`~dicom_rewrite.batch.parallel.auto_workers`; a batch that also
    sends to a PACS runs in one); the outputs, their names and UIDs and the
    report are the same whatever the number. ``executor``: another place to
    make them (e.g. :class:`dicom_rewrite.distributed.DaskExecutor`).
    ``resume``: finish the batch an interrupted run left in ``out_dir`` (see
    docs/batch.md): same study, series, UIDs and names, complete outputs kept."""
    _check_destination(out_dir is not None, bool(send_to), resume, multiframe)
    tpl, prof = as_template(template), as_profile(profile)
    found, meta = _with_metadata(inputs, prof, metadata, metadata_key, metadata_optional)
    sources = list(found)
    options = {"transfer_syntax": transfer_syntax, "keep_tree": keep_tree, "keep_color": keep_color,
               "overwrite": overwrite, "encoding": repr(encoding), "passthrough_only": passthrough_only,
               "metadata": digest_of(metadata), "metadata_key": metadata_key, "metadata_optional": metadata_optional,
               "multiframe": multiframe, "frame_time": frame_time}
    counted = _counted(prof, resume)
    # what stops a batch before its first input (transfer syntax, codec) stops it before its record
    Converter(tpl, prof, transfer_syntax=transfer_syntax, encoding=encoding, passthrough_only=passthrough_only)
    batch = _open_batch(out_dir, "convert", tpl, prof, options, sources, started, resume, overwrite, durable)
    work = _ConvertWork(tpl, prof, transfer_syntax, batch.started, batch.seed, keep_color, durable,
                        encoding, passthrough_only, meta, multiframe, frame_time, tuple(send_to))
    if multiframe == "batch":
        yield from _one_instance(sources, work, batch, send_to)
        return
    executor = _executor(executor, workers, len(sources), parallel=not send_to and not counted)
    completed = False
    try:
        for entry in run_batch(sources, work, plan=_Planner(keep_tree, batch.folder, batch.journal, multiframe),
                               executor=executor, journal=batch.journal, reuse=outputs_hold):
            yield entry.as_dict()
        completed = True
    finally:
        batch.close(send_to, completed=completed)


def _one_instance(sources: list[Source], work: _ConvertWork, batch: OpenBatch,
                  send_to: Sequence[Sink]) -> Iterator[dict[str, Any]]:
    """``--multiframe batch``: every input's pages, in input order, as the
    frames of one instance; each input's entry names that one output."""
    conv, writer = work.engine()
    reading = _Reading(work.keep_color, conv.keep_jpeg, "pages", work.frame_time)
    frames: list[Raster] = []

    def make(source: Source) -> ReportEntry:
        if not source.path.is_file():
            raise InputError(f"{source.path}: no such file")
        found = list(iter_pages(source.path, keep_color=reading.keep_color, keep_jpeg=reading.keep_jpeg))
        stack([*frames[:1], *found])  # the same size and kind as the first frame, or this input fails
        frames.extend(found)
        return ReportEntry(str(source.path))

    completed = False
    try:
        entries = list(run_batch(sources, make))
        done = [e for e in entries if e.status == "ok"]
        if frames and done:
            _render_one(frames, work, conv, writer, batch, done)
        yield from (e.as_dict() for e in entries)
        completed = True
    finally:
        batch.close(send_to, completed=completed)


def _render_one(frames: list[Raster], work: _ConvertWork, conv: Converter, writer: DatasetWriter,
                batch: OpenBatch, done: list[ReportEntry]) -> None:
    raster = stack(frames, work.frame_time) if len(frames) > 1 else frames[0]
    made = ReportEntry(raster.source)
    summary = _Summary()
    try:
        out = conv.render(raster, writer, index=1, stem="multiframe", name="multiframe")
    except InputError as exc:
        for entry in done:
            entry.fail(one_line(exc))
        return
    summary.add(out)
    target = batch.folder.claim("multiframe.dcm") if batch.folder is not None else None
    work._deliver(made, Source(Path(raster.source), PurePath(".")), out, "multiframe.dcm", target)
    summary.describe(made, len(made.outputs))
    made.fields["frames"] = len(frames)
    for entry in done:
        entry.outputs, entry.error, entry.status = list(made.outputs), made.error, made.status
        entry.fields.update(made.fields)


class _Summary:
    """What the report says of one input's outputs, kept without their pixels."""

    def __init__(self) -> None:
        self.notes: set[str] = set()
        self.first: tuple[Any, tuple[str, str, str]] | None = None  # (pixel plan, UIDs)
        self.instance_uids: list[str] = []

    def add(self, out: Rendered) -> None:
        self.notes.update(out.notes)
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



def _open_batch(out_dir: str | Path | None, command: str, tpl: Template, prof: Profile,
                options: dict[str, Any], sources: Sequence[Source], started: datetime | None,
                resume: bool, overwrite: bool, durable: bool) -> OpenBatch:
    identity = {**batch_identity(tpl, prof), "options": digest_bytes(json.dumps(options, sort_keys=True).encode())}
    return open_batch(out_dir, command, identity, [s.path for s in sources], started=started,
                      resume=resume, overwrite=overwrite, durable=durable)


def _check_destination(folder: bool, send: bool, resume: bool, multiframe: str | None) -> None:
    if not folder and not send:
        raise UsageError("convert: no destination (give an output folder, or a PACS to send to)")
    if not folder and resume:
        raise UsageError("convert: --resume needs the output folder of the batch")
    if multiframe not in (None, "pages", "batch"):
        raise UsageError(f"--multiframe {multiframe}: choose pages or batch")
    if multiframe == "batch" and resume:
        raise UsageError("convert: --resume does not work with --multiframe batch (one output)")


def _counted(prof: Profile, resume: bool) -> bool:
    """Keyed studies and series number their instances as the batch goes
    (engine.placement): such a batch runs in one process and cannot resume."""
    counted = prof.uids.study_key is not None or prof.uids.series_key is not None
    if counted and resume:
        raise UsageError("convert: --resume does not work with uids.study_key/series_key yet "
                         "(their Instance Numbers are counted as the batch goes)")
    return counted


def _executor(given: Executor | None, workers: int | None, inputs: int, *, parallel: bool) -> Executor:
    """Where the batch's inputs are made: ``given``, else ``workers``
    processes here (None: auto), one when the batch cannot run in parallel."""
    if not parallel:
        return Serial()
    if given is not None:
        return given
    n = auto_workers(inputs) if workers is None else workers
    return Processes(n) if n > 1 else Serial()


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
        return result.input, diff(tpl.dataset, out.dataset, out.changes)
    raise UsageError("no input images found")
