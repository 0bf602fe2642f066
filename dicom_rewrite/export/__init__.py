"""Export DICOM files, folders and DICOMDIR media to PNG/JPEG.

The library side of ``dicom-rewrite export``. :func:`render_frame` turns one
frame of a Dataset into the uint8 image a viewer shows (see
:mod:`dicom_rewrite.render.windowing` for the pipeline); :func:`export` walks inputs
and writes images under an output folder, yielding one report entry per input.

Inputs are never modified and nothing is written outside ``out_dir``: every
path component built from a tag value goes through
:func:`~dicom_rewrite.io.files.sanitise_component`, names are claimed through a
:class:`~dicom_rewrite.io.files.NameAllocator` (collisions get ``_2``, ``_3``
... and never overwrite) and each file is written with
:func:`~dicom_rewrite.io.files.atomic_write`.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import MediaStorageDirectoryStorage

from dicom_rewrite.errors import (
    DicomRewriteError,
    PixelDataError,
    UsageError,
    one_line,
)
from dicom_rewrite.io.dicom_in import check_decoder as _check_decoder  # noqa: F401
from dicom_rewrite.io.dicom_in import decode_frame
from dicom_rewrite.io.dicom_in import frame_count as _frame_count
from dicom_rewrite.io.files import NameAllocator, atomic_write, iter_input_files, sanitise_component
from dicom_rewrite.render import windowing

__all__ = [
    "DEFAULT_NAME",
    "FORMATS",
    "NameTemplate",
    "decode_frame",
    "export",
    "first_error",
    "parse_frames",
    "render_frame",
    "render_frame_with_info",
    "stored_values_16",
]

log = logging.getLogger(__name__)

#: Default output name template (a frame suffix is added for multi-frame files).
DEFAULT_NAME = "{PatientID}/{StudyDate}/{SeriesNumber}/{InstanceNumber}"
#: Output formats and their file extensions.
FORMATS = {"png": ".png", "png16": ".png", "jpeg": ".jpg"}
#: Fields of the name template that are not DICOM keywords.
SPECIAL_FIELDS = ("stem", "frame")
PLACEHOLDER = "unknown"
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


# ---------------------------------------------------------------------------
# Decoding and rendering
# ---------------------------------------------------------------------------


def render_frame(ds: Dataset, frame: int = 0, **voi_options: Any) -> np.ndarray:
    """Return frame ``frame`` (0-based) of ``ds`` rendered to uint8, as a viewer shows it.

    ``voi_options`` are passed to :func:`dicom_rewrite.render.windowing.render`:
    ``window``, ``window_index``, ``voi``, ``voi_function``,
    ``apply_presentation``, ``overlays``.
    """
    return render_frame_with_info(ds, frame, **voi_options)[0]


def render_frame_with_info(
    ds: Dataset, frame: int = 0, **voi_options: Any
) -> tuple[np.ndarray, windowing.RenderInfo]:
    """Like :func:`render_frame`, also returning what was applied."""
    arr = decode_frame(ds, frame)
    return windowing.render_with_info(ds, arr, frame=frame, **voi_options)


def stored_values_16(ds: Dataset, frame: int = 0) -> np.ndarray:
    """The stored values of a grayscale frame as uint16, for ``png16``.

    Signed images (Pixel Representation 1) keep their 16-bit two's complement
    bit pattern, so the values are unchanged bit for bit.
    """
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if spp != 1:
        raise PixelDataError(
            f"png16 holds grayscale stored values; (0028,0002) Samples per Pixel is {spp} (use --format png)"
        )
    if "PixelData" not in ds:
        raise PixelDataError("png16 needs integer (7FE0,0010) Pixel Data; this image has float pixel data")
    bits = int(ds.get("BitsStored", 0) or 0)
    if bits > 16:
        raise PixelDataError(f"png16 holds at most 16 bits; (0028,0101) Bits Stored is {bits} (use --format png)")
    arr = decode_frame(ds, frame, raw=True)
    if arr.dtype.kind == "i":
        return arr.astype(np.int16).view(np.uint16)
    return arr.astype(np.uint16)


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NameTemplate:
    """A ``--name`` template: ``/``-separated components over DICOM keywords.

    Fields are DICOM keywords (``{PatientID}``), ``{stem}`` (input file name
    without extension) and ``{frame}`` (1-based frame number; format specs
    work: ``{frame:03d}``). Each substituted value and then each whole
    component is sanitised, so no tag value can add a separator, ``..`` or an
    absolute path. Empty components (``a//b``, a leading ``/``) are dropped.
    """

    text: str
    components: tuple[tuple[tuple[str, str | None, str], ...], ...]
    has_frame: bool

    @classmethod
    def parse(cls, text: str | None) -> NameTemplate:
        text = DEFAULT_NAME if text is None else text
        formatter = string.Formatter()
        comps = []
        has_frame = False
        for raw in text.replace("\\", "/").split("/"):
            if not raw:
                continue
            parts: list[tuple[str, str | None, str]] = []
            try:
                parsed = list(formatter.parse(raw))
            except ValueError as exc:
                raise UsageError(f"--name {text!r}: {one_line(exc)}") from None
            for literal, field_name, spec, conversion in parsed:
                if field_name is None:
                    parts.append((literal, None, ""))
                    continue
                if conversion or not field_name or not field_name.isidentifier():
                    raise UsageError(
                        f"--name {text!r}: field {{{field_name}}} must be a DICOM keyword, {{stem}} or {{frame}}"
                    )
                if field_name not in SPECIAL_FIELDS and tag_for_keyword(field_name) is None:
                    raise UsageError(f"--name {text!r}: {field_name!r} is not a DICOM keyword")
                has_frame = has_frame or field_name == "frame"
                parts.append((literal, field_name, spec or ""))
            comps.append(tuple(parts))
        if not comps:
            raise UsageError(f"--name {text!r}: the template is empty")
        return cls(text, tuple(comps), has_frame)

    def render(self, ds: Dataset, *, stem: str, frame: int | None, suffix_frame: bool, ext: str) -> str:
        """Return the relative output path (with ``ext``), every component sanitised."""
        out = []
        for parts in self.components:
            pieces = []
            for literal, field_name, spec in parts:
                pieces.append(literal)
                if field_name is not None:
                    pieces.append(self._value(ds, field_name, spec, stem, frame))
            out.append(sanitise_component("".join(pieces), PLACEHOLDER))
        if suffix_frame and frame is not None and not self.has_frame:
            out[-1] = sanitise_component(f"{out[-1]}_f{frame:04d}", PLACEHOLDER)
        out[-1] += ext
        return "/".join(out)

    def _value(self, ds: Dataset, field_name: str, spec: str, stem: str, frame: int | None) -> str:
        if field_name == "frame":
            value: Any = frame if frame is not None else 1
        elif field_name == "stem":
            value = stem
        else:
            elem = ds.get(field_name)
            value = None if elem is None else elem
            if isinstance(value, MultiValue | list | tuple):
                value = "_".join(str(v) for v in value)
            elif value is not None and not isinstance(value, int | float | str):
                value = str(value)
        if value is None or value == "":
            return PLACEHOLDER
        try:
            text = format(value, spec) if spec else str(value)
        except (TypeError, ValueError):
            text = str(value)
        return sanitise_component(text, PLACEHOLDER)


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    path: Path
    explicit: bool  # named on the command line or in a DICOMDIR (not found by a folder walk)
    dicomdir: Path | None = None


def _is_dicomdir(path: Path) -> bool:
    if path.name.upper() == "DICOMDIR":
        return True
    try:
        meta = dcmread(path, stop_before_pixels=True, specific_tags=["MediaStorageSOPClassUID"]).file_meta
    except Exception:
        return False
    return meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage


def _iter_sources(inputs: Iterable[str | Path], entries: list[dict[str, Any]]) -> Iterator[_Source]:
    """Expand inputs; unreadable inputs become error entries appended to ``entries``."""
    from pydicom.fileset import FileSet

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for sub in iter_input_files([p]):
                yield _Source(sub, explicit=False)
            continue
        if not p.exists():
            entries.append(_entry(p, status="error", error="no such file or folder"))
            continue
        if not _is_dicomdir(p):
            yield _Source(p, explicit=True)
            continue
        try:
            fs = FileSet(dcmread(p))
        except Exception as exc:
            entries.append(_entry(p, status="error", error=f"cannot read the DICOMDIR: {one_line(exc)}"))
            continue
        for instance in fs:
            yield _Source(Path(instance.path), explicit=True, dicomdir=p)


def _entry(path: Path, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"input": str(path), "outputs": [], "status": "ok", "error": None}
    entry.update(fields)
    return entry


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------


def parse_frames(text: str | int | Sequence[int] | None) -> str | tuple[int, ...]:
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
    frames: list[int] = []
    for item in items:
        try:
            if "-" in item[1:]:
                lo, hi = (int(v) for v in item.split("-", 1))
            else:
                lo = hi = int(item)
        except ValueError:
            raise UsageError(f"--frames {text!r}: expected 'all' or frame numbers like 1,3,5-7") from None
        if lo < 1 or hi < lo:
            raise UsageError(f"--frames {text!r}: frame numbers start at 1 and ranges go upwards")
        frames.extend(range(lo - 1, hi))
    return tuple(dict.fromkeys(frames))


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def png16_text(ds: Dataset, frame: int = 0) -> dict[str, str]:
    """PNG text chunks that let ``convert`` read a png16 export back exactly:
    Pixel Representation, Bits Stored and the Modality LUT (rescale)."""
    from dicom_rewrite.io.images import PNG16_KEYS

    text = {
        PNG16_KEYS["pixel_representation"]: str(int(ds.get("PixelRepresentation", 0) or 0)),
        PNG16_KEYS["bits_stored"]: str(int(ds.get("BitsStored", 16) or 16)),
        PNG16_KEYS["photometric_interpretation"]: str(ds.get("PhotometricInterpretation", "")),
    }
    view = windowing.frame_view(ds, frame)  # per-frame rescale of enhanced images
    slope, intercept = view.get("RescaleSlope"), view.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        text[PNG16_KEYS["rescale_slope"]] = f"{float(slope):.10g}"
        text[PNG16_KEYS["rescale_intercept"]] = f"{float(intercept):.10g}"
    return text


def _save_image(arr: np.ndarray, path: Path, fmt: str, jpeg_quality: int,
                text: dict[str, str] | None = None) -> None:
    if fmt == "png16":
        from PIL.PngImagePlugin import PngInfo

        image = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint16))
        info = PngInfo()
        for key, value in (text or {}).items():
            info.add_text(key, value)
        atomic_write(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))
    elif fmt == "png":
        image = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
        atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    else:
        image = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
        # subsampling=0: 4:4:4, no chroma loss on colour images
        atomic_write(path, lambda tmp: image.save(tmp, format="JPEG", quality=jpeg_quality, subsampling=0))


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


class _Writer:
    """Claims output names (image + optional sidecar) without collisions."""

    def __init__(self, out_dir: Path, sidecar: bool) -> None:
        self.alloc = NameAllocator(out_dir)
        self.sidecar = sidecar
        self.taken: set[Path] = set()

    def claim(self, relative: str) -> Path:
        while True:
            path = self.alloc.claim(relative)
            if not self.sidecar:
                return path
            side = path.with_suffix(".json")
            if side not in self.taken and not side.exists():
                self.taken.add(side)
                return path


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
) -> Iterator[dict[str, Any]]:
    """Export every image found in ``inputs`` under ``out_dir``.

    Yields one report entry per input file: ``{"input", "outputs", "status",
    "error", ...}`` with ``status`` one of ``ok``, ``error`` (``error`` holds
    one line) or ``skipped`` (``reason`` says why: not DICOM, no pixel data,
    already exported). ``frames`` is ``"all"``, 1-based text (``"1,3-5"``) or
    a sequence of 0-based indices; ``window_index`` is 0-based.

    Usage errors (bad format, window, template) raise
    :class:`~dicom_rewrite.errors.UsageError` before anything is written.
    """
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
    template = NameTemplate.parse(name)
    selected = parse_frames(frames)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    voi_options = {
        "window": window,
        "window_index": window_index,
        "voi": voi,
        "voi_function": voi_function,
        "overlays": overlays,
    }
    # validated: the batch itself is lazy, one entry per input
    return _export_batch(
        inputs, _Writer(out, sidecar), template, selected, format, voi_options, sidecar, int(jpeg_quality)
    )


def _export_batch(
    inputs: Iterable[str | Path],
    writer: _Writer,
    template: NameTemplate,
    selected: str | tuple[int, ...],
    format: str,
    voi_options: dict[str, Any],
    sidecar: bool,
    jpeg_quality: int,
) -> Iterator[dict[str, Any]]:
    done: set[Path] = set()
    pending: list[dict[str, Any]] = []
    for source in _iter_sources(inputs, pending):
        yield from pending
        pending.clear()
        key = source.path.resolve()
        if key in done:
            yield _entry(source.path, status="skipped", reason="already exported in this run")
            continue
        done.add(key)
        yield _export_one(source, writer, template, selected, format, voi_options, sidecar, jpeg_quality)
    yield from pending


def _export_one(
    source: _Source,
    writer: _Writer,
    template: NameTemplate,
    selected: str | tuple[int, ...],
    fmt: str,
    voi_options: dict[str, Any],
    sidecar: bool,
    jpeg_quality: int,
) -> dict[str, Any]:
    entry = _entry(source.path)
    if source.dicomdir is not None:
        entry["dicomdir"] = str(source.dicomdir)
    try:
        ds = dcmread(source.path)
    except InvalidDicomError:
        if not source.explicit:
            return _entry(source.path, status="skipped", reason="not a DICOM file")
        return _entry(source.path, status="error", error="not a DICOM file (no 'DICM' prefix at byte 128)")
    except Exception as exc:
        entry.update(status="error", error=f"cannot read the file: {one_line(exc)}")
        return entry
    if ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
        return _entry(source.path, status="skipped", reason="DICOMDIR (give it as an input to walk its file-set)")
    if not any(kw in ds for kw in _PIXEL_KEYWORDS):
        sop = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
        what = str(getattr(sop, "name", "") or sop or "unknown SOP class")
        if len(ds) == 0 or "Image" in what or "Rows" in ds:
            # an image object without its pixels: cut short, not a non-image object
            entry.update(status="error", error=f"no (7FE0,0010) Pixel Data in this {what} object: the file is truncated or incomplete")
            return entry
        return _entry(source.path, status="skipped", reason=f"no pixel data ({what})")
    entry["sop_instance_uid"] = str(ds.get("SOPInstanceUID", "")) or None
    try:
        n_frames = _frame_count(ds)
        # parse_frames: "all" is the only string selection
        indices = list(range(n_frames)) if isinstance(selected, str) else list(selected)
        missing = [i + 1 for i in indices if i >= n_frames]
        if missing:
            raise PixelDataError(
                f"frame {missing[0]} does not exist: (0028,0008) Number of Frames is {n_frames}"
            )
        entry["frames"] = [i + 1 for i in indices]
        transforms = []
        for index in indices:
            if fmt == "png16":
                arr = stored_values_16(ds, index)
                info: dict[str, Any] = {
                    "format": "png16",
                    "frame": index,
                    "stored_values": True,
                    "bits_stored": int(ds.get("BitsStored", 0) or 0),
                    "pixel_representation": int(ds.get("PixelRepresentation", 0) or 0),
                }
            else:
                arr, render_info = render_frame_with_info(ds, index, **voi_options)
                info = render_info.as_dict()
            info["frame"] = index + 1  # 1-based in reports, like DICOM frame numbers
            relative = template.render(
                ds, stem=source.path.stem, frame=index + 1, suffix_frame=n_frames > 1, ext=FORMATS[fmt]
            )
            path = writer.claim(relative)
            _save_image(arr, path, fmt, jpeg_quality,
                        png16_text(ds, index) if fmt == "png16" else None)
            entry["outputs"].append(str(path))
            if sidecar:
                _write_json(
                    path.with_suffix(".json"),
                    {"input": str(source.path), "output": str(path), **info},
                )
            transforms.append(info)
        entry["transforms"] = transforms
    except (DicomRewriteError, ValueError, OSError) as exc:
        entry.update(status="error", error=one_line(exc))
    except Exception as exc:
        log.debug("unexpected error on %s", source.path, exc_info=True)
        entry.update(status="error", error=f"{type(exc).__name__}: {one_line(exc)}")
    return entry


def first_error(entries: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The first entry whose status is ``error`` (for callers and tests)."""
    return next((e for e in entries if e.get("status") == "error"), None)

