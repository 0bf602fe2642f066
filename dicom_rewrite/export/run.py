"""The export batch: inputs walked once (files, folders, DICOMDIR media),
each image's frames rendered and written through a
:class:`~dicom_rewrite.batch.FolderSink`, one report entry per input.

Inputs are never modified and nothing is written outside ``out_dir``: names
come from a :class:`~dicom_rewrite.io.names.NameTemplate` (every
component sanitised), are claimed through the sink (collisions get ``_2``,
``_3`` ... and never overwrite; a sidecar's name is claimed with its image)
and every file is written atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicom_rewrite.batch import FolderSink, ReportEntry, Source, run_batch, walk
from dicom_rewrite.errors import DicomRewriteError, InputError, PixelDataError, UsageError, one_line
from dicom_rewrite.export.render import png16_text, render_frame_decoded, stored_values_16
from dicom_rewrite.io.dicom_in import (
    dicomdir_members,
    frame_count,
    has_pixel_data,
    is_dicomdir_dataset,
    read_dicom,
)
from dicom_rewrite.io.images import EXPORT_FORMATS as FORMATS
from dicom_rewrite.io.images import image_writer
from dicom_rewrite.io.names import NameTemplate
from dicom_rewrite.render import windowing

__all__ = ["export", "parse_frames"]

log = logging.getLogger(__name__)

#: a frame selection: "all" or 0-based frame indices
Frames = str | tuple[int, ...]

#: ``--frames`` selects at most this many frames by number (``all`` has no limit)
MAX_SELECTED_FRAMES = 1_000_000


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


def parse_frames(text: str | int | Sequence[int] | None) -> Frames:
    """Parse ``--frames``: ``all`` or 1-based numbers and ranges (``1,3,5-7``).

    Returns ``"all"`` or a tuple of **0-based** frame indices.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() == "all"):
        return "all"
    if isinstance(text, int):
        items = [str(text)]
    elif isinstance(text, str):
        items = [t.strip() for t in text.split(",")]
    else:
        return tuple(int(i) for i in text)
    ranges = [_frame_range(item, text) for item in items]
    selected = sum(hi - lo + 1 for lo, hi in ranges)
    if selected > MAX_SELECTED_FRAMES:
        raise UsageError(f"--frames {text!r}: selects {selected} frames; at most {MAX_SELECTED_FRAMES} "
                         "by number (use 'all' for every frame)")
    frames: list[int] = []
    for lo, hi in ranges:
        frames.extend(range(lo - 1, hi))
    return tuple(dict.fromkeys(frames))


def _frame_range(item: str, text: str | int) -> tuple[int, int]:
    """``N`` or ``N-M`` (1-based, inclusive) of the selection ``text``."""
    try:
        if "-" in item[1:]:
            lo, hi = (int(v) for v in item.split("-", 1))
        else:
            lo = hi = int(item)
    except ValueError:
        raise UsageError(f"--frames {text!r}: expected 'all' or frame numbers like 1,3,5-7") from None
    if lo < 1 or hi < lo:
        raise UsageError(f"--frames {text!r}: frame numbers start at 1 and ranges go upwards")
    return lo, hi


def _check_options(format: str, window: tuple[float, float] | None, window_index: int | None,
                   voi: str | None, voi_function: str | None, jpeg_quality: int) -> None:
    """Refuse bad options before anything is read or written."""
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if window is not None and window_index is not None:
        raise UsageError("--window and --window-index cannot be used together")
    if not 1 <= int(jpeg_quality) <= 100:
        raise UsageError(f"--jpeg-quality {jpeg_quality}: expected 1..100")
    if window is not None:
        # validate the window now, not once per file
        windowing.linear_window(np.zeros(1), window[0], window[1], function=voi_function or "LINEAR")
    if voi not in (None, "minmax", "none"):
        raise UsageError(f"--voi {voi!r}: expected 'minmax' or 'none'")
    if voi_function is not None and str(voi_function).upper() not in windowing.VOI_FUNCTIONS:
        raise UsageError(f"--voi-function {voi_function!r}: expected one of {', '.join(windowing.VOI_FUNCTIONS)}")


# ---------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------


def export(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    format: str = "png",
    window: tuple[float, float] | None = None,
    window_index: int | None = None,
    voi: str | None = None,
    voi_function: str | None = None,
    frames: str | int | Sequence[int] | None = "all",
    overlays: bool = False,
    name: str | None = None,
    sidecar: bool = False,
    jpeg_quality: int = 90,
    durable: bool = True,
) -> Iterator[dict[str, Any]]:
    """Export every image found in ``inputs`` under ``out_dir``.

    Yields one report entry per input file: ``{"input", "outputs", "status",
    "error", ...}`` with ``status`` one of ``ok``, ``error`` (``error`` holds
    one line) or ``skipped`` (``reason`` says why: not DICOM, no pixel data,
    already exported). ``frames`` is ``"all"``, 1-based text (``"1,3-5"``) or
    a sequence of 0-based indices; ``window_index`` is 0-based. ``durable``:
    fsync files, and folders when the batch ends.

    Usage errors (bad format, window, template) raise
    :class:`~dicom_rewrite.errors.UsageError` before anything is written.
    """
    _check_options(format, window, window_index, voi, voi_function, jpeg_quality)
    template = NameTemplate.parse(name)
    selected = parse_frames(frames)
    sink = FolderSink(out_dir, companions=(".json",) if sidecar else (), durable=durable)
    voi_options = {
        "window": window,
        "window_index": window_index,
        "voi": voi,
        "voi_function": voi_function,
        "overlays": overlays,
    }
    # validated: the batch itself is lazy, one entry per input
    job = _Export(sink, template, selected, format, voi_options, sidecar, int(jpeg_quality))
    return _export_batch(inputs, job)


def _export_batch(inputs: Iterable[str | Path], job: _Export) -> Iterator[dict[str, Any]]:
    done: set[Path] = set()

    def make(source: Source) -> ReportEntry:
        if not source.path.exists():
            if source.dicomdir is not None:  # PS3.10 8.5: a file-set lists only files it holds
                raise InputError(f"listed in {source.dicomdir} but not found")
            raise InputError("no such file or folder")
        key = source.path.resolve()
        if key in done:
            return ReportEntry.skipped(str(source.path), "already exported in this run")
        done.add(key)
        return job.one(source)

    try:
        for entry in run_batch(walk(inputs, dicomdir=dicomdir_members), make):
            yield entry.as_dict()
    finally:
        job.sink.close()


@dataclass(frozen=True)
class _Export:
    """What every input of one batch is exported with."""

    sink: FolderSink
    template: NameTemplate
    selected: Frames
    fmt: str
    voi_options: dict[str, Any]
    sidecar: bool
    jpeg_quality: int
    #: outputs named so far (``{index}`` in --name)
    count: list[int] = field(default_factory=lambda: [0])

    def one(self, source: Source) -> ReportEntry:
        """The report entry of one input (its outputs written)."""
        entry = ReportEntry(str(source.path))
        if source.dicomdir is not None:
            entry.fields["dicomdir"] = str(source.dicomdir)
        try:
            ds = read_dicom(source.path)
        except InvalidDicomError:
            if not source.explicit:
                return ReportEntry.skipped(str(source.path), "not a DICOM file")
            raise InputError("not a DICOM file (no 'DICM' prefix at byte 128)") from None
        except Exception as exc:
            entry.fail(f"cannot read the file: {one_line(exc)}")
            return entry
        not_an_image = _not_an_image(ds, entry)
        if not_an_image is not None:
            return not_an_image
        entry.fields["sop_instance_uid"] = str(ds.get("SOPInstanceUID", "")) or None
        try:
            self._frames(source, ds, entry)
        except (DicomRewriteError, ValueError, OSError) as exc:
            entry.fail(one_line(exc))  # the frames written so far stay listed
        except Exception as exc:
            log.debug("unexpected error on %s", source.path, exc_info=True)
            entry.fail(f"{type(exc).__name__}: {one_line(exc)}")
        return entry

    def _frames(self, source: Source, ds: Dataset, entry: ReportEntry) -> None:
        n_frames = frame_count(ds)
        # parse_frames: "all" is the only string selection
        indices = list(range(n_frames)) if isinstance(self.selected, str) else list(self.selected)
        missing = [i + 1 for i in indices if i >= n_frames]
        if missing:
            raise PixelDataError(f"frame {missing[0]} does not exist: (0028,0008) Number of Frames is {n_frames}")
        entry.fields["frames"] = [i + 1 for i in indices]
        transforms = []
        for index in indices:
            arr, info, decoder = self._frame(ds, index)
            info["frame"] = index + 1  # 1-based in reports, like DICOM frame numbers
            self.count[0] += 1
            relative = self.template.render(
                ds, stem=source.path.stem, frame=index + 1, suffix_frame=n_frames > 1, ext=FORMATS[self.fmt],
                index=self.count[0],
            )
            path = self.sink.claim(relative)
            image, dump = image_writer(arr, self.fmt, self.jpeg_quality,
                                       png16_text(ds, index) if self.fmt == "png16" else None)
            entry.outputs.append(self.sink.put(path, [image], dump=dump))
            if self.sidecar:
                extra = {"decoder": decoder} if decoder is not None else {}
                self._write_sidecar(path, {"input": str(source.path), "output": str(path), **info, **extra})
            transforms.append(info)
        entry.fields["transforms"] = transforms

    def _frame(self, ds: Dataset, index: int) -> tuple[np.ndarray, dict[str, Any], str | None]:
        """Frame ``index`` as written, what was applied to it and the decoder
        plugin that decoded it (None for native pixel data and png16)."""
        if self.fmt == "png16":
            return stored_values_16(ds, index), {
                "format": "png16",
                "frame": index,
                "stored_values": True,
                "bits_stored": int(ds.get("BitsStored", 0) or 0),
                "pixel_representation": int(ds.get("PixelRepresentation", 0) or 0),
            }, None
        arr, render_info, decoder = render_frame_decoded(ds, index, **self.voi_options)
        return arr, render_info.as_dict(), decoder

    def _write_sidecar(self, image: Path, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        self.sink.put(image.with_suffix(".json"), [text.encode("utf-8")])


def _not_an_image(ds: Dataset, entry: ReportEntry) -> ReportEntry | None:
    """The entry of a file that is not an image to export (a DICOMDIR, an
    object without pixel data, a file cut short); None for an image.

    An object with Rows and Columns but no Pixel Data (as some character set
    samples are) is skipped like any object without pixel data; only an
    empty data set is an error (the file is cut short)."""
    if is_dicomdir_dataset(ds):
        return ReportEntry.skipped(entry.input, "DICOMDIR (give it as an input to walk its file-set)")
    if has_pixel_data(ds):
        return None
    sop = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
    what = str(getattr(sop, "name", "") or sop or "unknown SOP class")
    if len(ds) == 0:
        entry.fail(f"no (7FE0,0010) Pixel Data in this {what} object: the file is truncated or incomplete")
        return entry
    return ReportEntry.skipped(entry.input, f"no pixel data ({what})")
