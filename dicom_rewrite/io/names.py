"""Output names: the ``--name`` template over DICOM keywords, one language
for every command (``export``'s images, the DICOM files of ``convert``,
``annotate`` and ``series``).

Every substituted value and then every whole component goes through
:func:`~dicom_rewrite.io.files.sanitise_component`, so no tag value can add a
separator, ``..`` or an absolute path.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicom_rewrite.errors import UsageError, one_line
from dicom_rewrite.io.files import joined_parts, sanitise_component

__all__ = ["DEFAULT_NAME", "PLACEHOLDER", "SPECIAL_FIELDS", "NameTemplate", "header_of"]

#: Default output name template (a frame suffix is added for multi-frame files).
DEFAULT_NAME = "{PatientID}/{StudyDate}/{SeriesNumber}/{InstanceNumber}"
#: Fields of the name template that are not DICOM keywords.
SPECIAL_FIELDS = ("stem", "frame", "index")
PLACEHOLDER = "unknown"

#: one piece of a component: (literal text, field name or None, format spec)
Piece = tuple[str, str | None, str]


@dataclass(frozen=True)
class NameTemplate:
    """A ``--name`` template: ``/``-separated components over DICOM keywords.

    Fields are DICOM keywords of the output (``{PatientID}``), ``{stem}``
    (input file name without extension), ``{frame}`` (1-based frame number)
    and ``{index}`` (1-based number of the output in the batch); format specs
    work: ``{frame:03d}``, ``{InstanceNumber:04d}``. Each substituted value and then each whole
    component is sanitised, so no tag value can add a separator, ``..`` or an
    absolute path. Empty components (``a//b``, a leading ``/``) are dropped.
    """

    text: str
    components: tuple[tuple[Piece, ...], ...]
    has_frame: bool

    @classmethod
    def parse(cls, text: str | None) -> NameTemplate:
        text = DEFAULT_NAME if text is None else text
        comps = [_parse_component(raw, text) for raw in text.replace("\\", "/").split("/") if raw]
        if not comps:
            raise UsageError(f"--name {text!r}: the template is empty")
        has_frame = any(name == "frame" for parts in comps for _, name, _ in parts)
        return cls(text, tuple(comps), has_frame)

    def render(self, ds: Dataset, *, stem: str, frame: int | None = None, suffix_frame: bool = False,
               ext: str = "", index: int | None = None) -> str:
        """Return the relative output path (with ``ext``), every component sanitised."""
        out = []
        for parts in self.components:
            pieces = []
            for literal, field_name, spec in parts:
                pieces.append(literal)
                if field_name is not None:
                    pieces.append(self._value(ds, field_name, spec, stem, frame, index))
            out.append(sanitise_component("".join(pieces), PLACEHOLDER))
        if suffix_frame and frame is not None and not self.has_frame:
            out[-1] = sanitise_component(f"{out[-1]}_f{frame:04d}", PLACEHOLDER)
        out[-1] += ext
        return "/".join(out)

    def _value(self, ds: Dataset, field_name: str, spec: str, stem: str, frame: int | None,
               index: int | None) -> str:
        if field_name == "frame":
            value: Any = frame if frame is not None else 1
        elif field_name == "index":
            value = index
        elif field_name == "stem":
            value = stem
        else:
            value = _tag_value(ds, field_name)
        if value is None or value == "":
            return PLACEHOLDER
        try:
            text = format(value, spec) if spec else str(value)
        except (TypeError, ValueError):
            text = str(value)
        return sanitise_component(text, PLACEHOLDER)


def _parse_component(raw: str, text: str) -> tuple[Piece, ...]:
    """One ``/``-separated component of the template ``text``."""
    try:
        parsed = list(string.Formatter().parse(raw))
    except ValueError as exc:
        raise UsageError(f"--name {text!r}: {one_line(exc)}") from None
    parts: list[Piece] = []
    for literal, field_name, spec, conversion in parsed:
        if field_name is None:
            parts.append((literal, None, ""))
            continue
        _check_field(text, field_name, conversion)
        parts.append((literal, field_name, spec or ""))
    return tuple(parts)


def _check_field(text: str, field_name: str, conversion: str | None) -> None:
    if conversion or not field_name or not field_name.isidentifier():
        raise UsageError(
            f"--name {text!r}: field {{{field_name}}} must be a DICOM keyword, {{stem}}, {{frame}} or {{index}}"
        )
    if field_name not in SPECIAL_FIELDS and tag_for_keyword(field_name) is None:
        raise UsageError(f"--name {text!r}: {field_name!r} is not a DICOM keyword")


def _tag_value(ds: Dataset, keyword: str) -> Any:
    """The value of ``keyword`` in ``ds`` as a name field: multi-values
    joined by ``_``, other types than numbers and text as text."""
    value = ds.get(keyword)
    if isinstance(value, MultiValue | list | tuple):
        return "_".join(str(v) for v in value)
    if value is not None and not isinstance(value, int | float | str):
        return str(value)
    return value


def header_of(parts: Sequence[Any], dataset: Dataset | None = None) -> Dataset:
    """The attributes a name can use of an output given as the parts of its
    file (bytes or arrays): ``dataset`` when the output has one, else the
    header read from the parts up to the pixel data (the first part holds it
    when outputs are filled into a stamp)."""
    if dataset is not None:
        return dataset
    first = parts[0] if parts and isinstance(parts[0], bytes) else b""
    try:
        return dcmread(BytesIO(first), stop_before_pixels=True)
    except (OSError, ValueError, EOFError):
        data = joined_parts(parts)
        return dcmread(BytesIO(data), stop_before_pixels=True)
