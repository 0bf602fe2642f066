"""Value templates: ``"ANON^{stem}"``, ``"{index:04d}"``, ``"{template.Modality}"``,
``"{meta[Patient ID]}"`` (a column of the metadata manifest), ``"{parent}"``
and ``"{path[-2]}"`` (components of the input's path).

A template is parsed once, with :class:`string.Formatter`, into literal
text and fields from a closed set of variables; rendering formats each
field's value with its spec and never calls ``str.format``, so no
attribute or item traversal is possible.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from pydicom.datadict import keyword_dict
from pydicom.dataset import Dataset

from dicom_rewrite.profile.model import Context
from dicom_rewrite.profile.paths import suggest_keyword
from dicom_rewrite.profile.vr import python_kind, tag_vr

VARIABLES = ("stem", "name", "index", "date", "time", "parent")
#: the variables whose value differs between the outputs of one batch
PER_OUTPUT_VARIABLES = frozenset({"stem", "name", "index", "parent"})
_TEMPLATE_FIELD = re.compile(r"^template\.([A-Za-z][A-Za-z0-9]*)$")
#: ``meta[Column Name]``: any column name but an empty one
_META_FIELD = re.compile(r"^meta\[(.+)\]$", re.S)
#: ``path[N]``: a component of the input's path relative to its input folder
_PATH_FIELD = re.compile(r"^path\[(-?[0-9]{1,3})\]$")
_SAMPLES = {"stem": "sample", "name": "sample.png", "date": "20000101", "time": "000000",
            "parent": "folder"}


class MetaValue(str):
    """A manifest value: text, which formats as a number when the format
    spec is numeric (``{meta[Patient Age]:03d}`` of ``58`` is ``058``)."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        try:
            return str.__format__(self, spec)
        except ValueError:
            pass
        text = self.strip()
        for kind in (int, float):
            try:
                number = kind(text)
            except ValueError:
                continue
            return format(number, spec)
        raise ValueError(f"{str(self)!r} is not a number, for format {spec!r}")


@functools.lru_cache(maxsize=4096)
def meta_column(name: str) -> str | None:
    """``Patient ID`` for the field ``meta[Patient ID]``, else None."""
    m = _META_FIELD.match(name)
    return m[1] if m else None


@functools.lru_cache(maxsize=4096)
def path_component(name: str) -> int | None:
    """``-2`` for the field ``path[-2]``, else None."""
    m = _PATH_FIELD.match(name)
    return int(m[1]) if m else None


def is_per_output(name: str) -> bool:
    """Does the field's value differ between the outputs of one batch?"""
    return name in PER_OUTPUT_VARIABLES or meta_column(name) is not None or path_component(name) is not None

Piece: TypeAlias = tuple[str, str | None, str]  # (literal, field or None, spec)


@dataclass(frozen=True)
class Template:
    """A parsed value template: literal text and ``(field, spec)`` pieces."""

    pieces: tuple[Piece, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for _lit, f, _spec in self.pieces if f is not None)

    @property
    def is_literal(self) -> bool:
        return not self.fields

    def render(self, values: dict[str, Any]) -> str:
        out = []
        for literal, name, spec in self.pieces:
            out.append(literal)
            if name is not None:
                out.append(format(values[name], spec))
        return "".join(out)


@functools.lru_cache(maxsize=4096)
def template_keyword(name: str) -> str | None:
    """``Modality`` for the field ``template.Modality``, else None."""
    m = _TEMPLATE_FIELD.match(name)
    return m[1] if m else None


def parse_template(text: str) -> Template:
    """Parse ``text`` with :class:`string.Formatter` and accept only the
    closed set of variables; raise ``ValueError`` otherwise."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    return Template(tuple(_piece(*p) for p in parsed))


#: the widest field and the longest precision a format spec may ask for (no
#: DICOM text value is longer than 10240 characters, PS3.5 Table 6.2-1 LT)
MAX_SPEC_SIZE = 10240
_SPEC_SIZES = re.compile(r"(?:^|[^0-9.])(\d+)|\.(\d+)")


def _check_sizes(name: str, spec: str) -> None:
    """Refuse a width or precision that would build a huge string (a 47-byte
    ``{stem:>2000000000}`` must not allocate 2 GB)."""
    for width, precision in _SPEC_SIZES.findall(spec):
        size = int(width or precision or 0)
        if size > MAX_SPEC_SIZE:
            raise ValueError(f"{{{name}:{spec}}}: width or precision {size} is over {MAX_SPEC_SIZE}")


def _piece(literal: str, name: str | None, spec: str | None, conversion: str | None) -> Piece:
    if name is None:
        return (literal, None, "")
    assert spec is not None  # a replacement field always has a spec, "" if none was given
    if conversion is not None:
        raise ValueError(f"{{{name}!{conversion}}}: conversions (!r, !s, !a) are not allowed")
    if spec and ("{" in spec or "}" in spec):
        raise ValueError(f"{{{name}:{spec}}}: nested fields in a format spec are not allowed")
    _check_variable(name)
    _check_sizes(name, spec)
    try:
        format(sample_value(name), spec)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{{{name}:{spec}}}: bad format spec ({exc})") from None
    return (literal, name, spec)


def _check_variable(name: str) -> None:
    if name in VARIABLES or meta_column(name) is not None or path_component(name) is not None:
        return
    keyword = template_keyword(name)
    if keyword is None:
        raise ValueError(
            f"{{{name}}} is not a variable; use {{stem}}, {{name}}, {{index}}, "
            "{date}, {time}, {parent}, {path[N]}, {meta[Column]} or {template.Keyword}"
        )
    if keyword not in keyword_dict:
        raise ValueError(f"{{{name}}}: unknown keyword {keyword!r}{suggest_keyword(keyword)}")


def sample_value(name: str) -> Any:
    """A value of the variable's type, to check format specs and values at
    load time."""
    if name == "index":
        return 1
    if meta_column(name) is not None:
        return MetaValue("1")
    if path_component(name) is not None:
        return "part"
    keyword = template_keyword(name)
    if keyword is not None:
        return python_kind(tag_vr(int(keyword_dict[keyword])))()
    return _SAMPLES[name]


def sample_values(fields: Iterable[str]) -> dict[str, Any]:
    return {f: sample_value(f) for f in fields}


def template_variables(ctx: Context, fields: Iterable[str]) -> dict[str, Any]:
    """The values of ``fields`` for one output."""
    values: dict[str, Any] = {}
    for name in fields:
        if name in VARIABLES:
            values[name] = getattr(ctx, name)  # date and time are formatted on demand
            continue
        column = meta_column(name)
        if column is not None:
            values[name] = MetaValue(ctx.meta.get(column, "") if ctx.meta is not None else "")
            continue
        n = path_component(name)
        if n is not None:
            if not -len(ctx.parts) <= n < len(ctx.parts):
                raise ValueError(f"{{{name}}}: the input's path {'/'.join(ctx.parts)!r} has "
                                 f"{len(ctx.parts)} component(s)")
            values[name] = ctx.parts[n]
            continue
        keyword = template_keyword(name)
        if keyword is not None:
            values[name] = _template_value(ctx.template, int(keyword_dict[keyword]))
    return values


def _template_value(template: Dataset, tag: int) -> Any:
    """The template's value of ``tag``: text, or a number for numeric VRs
    (so that ``{template.SeriesNumber:03d}`` formats); multiple values
    joined with backslash."""
    elem = template.get(tag)
    raw = None if elem is None else elem.value
    if raw is None or raw == "":
        return ""
    if isinstance(raw, (list, tuple)) or getattr(elem, "VM", 1) > 1:
        return "\\".join(str(v) for v in raw)
    kind = python_kind(tag_vr(tag))
    if kind is str:
        return str(raw)
    try:
        return kind(raw)
    except (TypeError, ValueError):
        return str(raw)
