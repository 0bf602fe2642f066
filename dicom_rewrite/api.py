"""The library API: every command line action is one call here.

>>> from dicom_rewrite import convert_image
>>> ds = convert_image("sample_data/gray8.png", "templates/ct.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import TypeVar

import numpy as np
from pydicom.dataset import Dataset

from dicom_rewrite.encode.writer import DatasetWriter
from dicom_rewrite.engine.converter import Converter, Output, Rendered, Template
from dicom_rewrite.errors import DicomRewriteError, InputError, UsageError, one_line
from dicom_rewrite.io.files import NameAllocator, iter_input_files, sanitise_component
from dicom_rewrite.io.images import Raster, from_array, is_image_file, read_image
from dicom_rewrite.profile import DEFAULT_PROFILE, Profile


def _template(template: str | Path | Dataset | Template) -> Template:
    if isinstance(template, Template):
        return template
    if isinstance(template, Dataset):
        return Template.from_dataset(template)
    return Template.load(template)


def _profile(profile: str | Path | Profile | None) -> Profile:
    if profile is None:
        return DEFAULT_PROFILE
    if isinstance(profile, Profile):
        return profile
    from dicom_rewrite.profile import load_profile

    return load_profile(profile)


def _rasters(image: str | Path | np.ndarray | Raster) -> list[Raster]:
    if isinstance(image, Raster):
        return [image]
    if isinstance(image, np.ndarray):
        return [from_array(image)]
    return read_image(image)


def convert_image(
    image: str | Path | np.ndarray | Raster,
    template: str | Path | Dataset | Template,
    profile: str | Path | Profile | None = None,
    *,
    page: int = 0,
    transfer_syntax: str | None = None,
) -> Dataset:
    """Convert one image (file, array or raster) into a dataset in the
    template's dialect. Multi-page files: ``page`` selects the page."""
    rasters = _rasters(image)
    if not 0 <= page < len(rasters):
        raise UsageError(f"{image}: page {page} does not exist ({len(rasters)} page(s))")
    conv = Converter(_template(template), _profile(profile), transfer_syntax=transfer_syntax)
    stem = Path(str(image)).stem if not isinstance(image, (np.ndarray, Raster)) else "image"
    return conv.convert(rasters[page], index=1, stem=stem, name=stem).dataset


@dataclass
class ConversionResult:
    """The outcome for one input of a batch."""

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


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files and folders (recursive, image suffixes only) -> sorted files.

    The order is deterministic (explicit files in the given order, each
    folder's images sorted), and ``{index}`` in profiles follows it."""
    return [path for path, _folder in _expand(inputs)]


def _expand(inputs: Iterable[str | Path]) -> list[tuple[Path, PurePath]]:
    """:func:`expand_inputs`, each file with its folder relative to the
    input folder it was found in (``.`` for files given by name)."""
    files: list[tuple[Path, PurePath]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend((f, f.parent.relative_to(p)) for f in iter_input_files([p], is_image_file))
        else:
            files.append((p, PurePath(".")))  # a missing one is reported as an error entry
    return files


def convert_batch(
    inputs: Iterable[str | Path],
    template: str | Path | Dataset | Template,
    profile: str | Path | Profile | None = None,
    *,
    transfer_syntax: str | None = None,
    started: datetime | None = None,
) -> Iterator[ConversionResult]:
    """Convert many images with one template (parsed once); yield one result
    per input. A bad input yields a result with ``error`` set; the batch goes
    on. Template and profile errors raise before anything is yielded."""
    conv = Converter(_template(template), _profile(profile),
                     transfer_syntax=transfer_syntax, started=started)

    def make(raster: Raster, index: int, path: Path) -> Output:
        return conv.convert(raster, index=index, stem=path.stem, name=path.name)

    for path, outputs, names, error in _each_input(inputs, make):
        yield ConversionResult(str(path), outputs, names, error)


_T = TypeVar("_T")


def _each_input(inputs: Iterable[str | Path], make: Callable[[Raster, int, Path], _T],
                keep_tree: bool = False,
                ) -> Iterator[tuple[Path, list[_T], list[str], str | None]]:
    """For each input file: ``(path, outputs, output names, error)``, where
    ``make(raster, index, path)`` makes each page's output (index: 1, 2, ...
    over the whole batch). A bad input gives an error and no outputs; a
    template or profile error raises. ``keep_tree``: output names keep the
    file's folder below the input folder (each component sanitised)."""
    index = 0
    for path, folder in _expand(inputs):
        prefix = "".join(f"{sanitise_component(part, '_')}/" for part in folder.parts) \
            if keep_tree else ""
        outputs: list[_T] = []
        names: list[str] = []
        error = None
        try:
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            rasters = read_image(path)
            for raster in rasters:
                index += 1
                stem = path.stem if len(rasters) == 1 else f"{path.stem}_p{raster.page + 1:04d}"
                outputs.append(make(raster, index, path))
                names.append(f"{prefix}{sanitise_component(stem, 'image')}.dcm")
        except DicomRewriteError as exc:
            if exc.exit_code != InputError.exit_code and not isinstance(exc, InputError):
                raise
            outputs, names, error = [], [], one_line(exc)
        except Exception as exc:
            outputs, names, error = [], [], f"{path}: {type(exc).__name__}: {one_line(exc)}"
        yield path, outputs, names, error


def convert_files(
    inputs: Iterable[str | Path],
    template: str | Path | Dataset | Template,
    out_dir: str | Path,
    profile: str | Path | Profile | None = None,
    *,
    transfer_syntax: str | None = None,
    overwrite: bool = False,
    started: datetime | None = None,
    keep_tree: bool = False,
) -> Iterator[dict[str, object]]:
    """Convert and write: yields one report entry per input.

    Each output is ``OUT/<input stem>.dcm`` (multi-page: ``<stem>_pNNNN.dcm``);
    a name already taken in this run or on disk gets ``_2``, ``_3``... (never
    a silent overwrite), written atomically. ``overwrite``: replace files
    from earlier runs instead (never one written in this run). ``keep_tree``:
    files found in a folder go to the same sub-folder below ``out_dir``
    (``OUT/<sub>/<stem>.dcm``). ``started``: the batch clock
    (dates the outputs need and nothing else gave; default now). The files
    are byte for byte
    what :func:`convert_batch`'s datasets save as; outputs after the first of
    each kind of image are filled into its encoding
    (:meth:`Converter.render`)."""
    names = NameAllocator(Path(out_dir), overwrite=overwrite)
    writer = DatasetWriter()
    conv = Converter(_template(template), _profile(profile),
                     transfer_syntax=transfer_syntax, started=started)

    def make(raster: Raster, index: int, path: Path) -> Rendered:
        return conv.render(raster, writer, index=index, stem=path.stem, name=path.name)

    for path, outputs, out_names, error in _each_input(inputs, make, keep_tree):
        entry: dict[str, object] = {"input": str(path), "outputs": [], "status": "ok"}
        if error:
            entry.update(status="error", error=error)
            yield entry
            continue
        written: list[str] = []
        try:
            for out, name in zip(outputs, out_names):
                target = names.claim(name)
                writer.write_parts(out.parts, target)
                written.append(str(target))
        except (OSError, ValueError) as exc:
            entry.update(status="error", error=f"{path}: cannot write output ({one_line(exc)})")
        entry["outputs"] = written
        notes = sorted({n for o in outputs for n in o.notes})
        if notes:
            entry["notes"] = notes
        if outputs:
            first = outputs[0]
            entry["sop_class"] = first.plan.sop_class.name
            if first.plan.switched_from is not None:
                entry["sop_class_switched_from"] = first.plan.switched_from.name
            entry["study_instance_uid"], entry["series_instance_uid"] = first.uids[:2]
            entry["sop_instance_uids"] = [o.uids[2] for o in outputs[:len(written)]]
        yield entry


def dry_run(
    inputs: Iterable[str | Path],
    template: str | Path | Dataset | Template,
    profile: str | Path | Profile | None = None,
    *,
    transfer_syntax: str | None = None,
) -> tuple[str, list]:
    """Convert the first input in memory and return ``(input, diff rows)``
    between the template and the output; nothing is written."""
    from dicom_rewrite.core.diff import diff

    tpl = _template(template)
    for result in convert_batch(inputs, tpl, profile, transfer_syntax=transfer_syntax):
        if result.error:
            raise InputError(result.error)
        out = result.outputs[0]
        return result.input, diff(tpl.dataset, out.dataset, out.changes)
    raise UsageError("no input images found")
