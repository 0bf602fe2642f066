"""Where each output sits in the batch's studies and series, and its
per-image pixel spacing: the values that come from the data (the profile's
``uids.study_key``/``series_key`` and ``pixel.spacing`` templates, often of
manifest columns) rather than from the template.

* Outputs with the same Patient ID and rendered study key share a Study
  Instance UID; within a study, outputs with the same rendered series key
  share a Series Instance UID, a Series Number (the series' position in the
  study, PS3.3 C.7.3.1) and number their instances 1, 2, ... (C.7.6.1).
  Without keys: one study and series per Patient ID, Instance Number the
  batch index (the default behaviour).
* The UIDs are the batch's :class:`~dicom_rewrite.core.uids.UidMap` levels
  scoped by the place, so hashed UIDs give the same UIDs for the same row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from dicom_rewrite.core.uids import UidMap
from dicom_rewrite.errors import InputError
from dicom_rewrite.profile import Context
from dicom_rewrite.profile.model import UidPolicy, number_pair
from dicom_rewrite.profile.templating import Template, meta_column, parse_template, template_variables

#: ``(tag, VR, text)``
Value = tuple[int, str, str]

SERIES_NUMBER = 0x00200011  # (0020,0011) Series Number
INSTANCE_NUMBER = 0x00200013  # (0020,0013) Instance Number
#: the UID levels a place decides: (level, tag)
UID_LEVEL_TAGS = (("study", 0x0020000D), ("series", 0x0020000E), ("frame_of_reference", 0x00200052))
_KEYWORDS = {0x0020000D: "StudyInstanceUID", 0x0020000E: "SeriesInstanceUID",
             0x00200052: "FrameOfReferenceUID"}


@dataclass(frozen=True)
class Place:
    """One output's place: the scopes of its UIDs (Patient ID, and the
    rendered study and series keys), its Instance Number and, with a series
    key, its Series Number."""

    patient: str
    study_scope: str
    series_scope: str
    instance_number: int
    series_number: int | None = None


def row_where(ctx: Context, tpl: Template) -> str:
    """``meta.csv:12:9: column 'X': `` when ``tpl`` renders a manifest column."""
    where = getattr(ctx.meta, "where", None)
    columns = [c for c in map(meta_column, tpl.fields) if c is not None]
    return f"{where(columns[0])}: column {columns[0]!r}: " if where is not None and columns else ""


def _render(tpl: Template, ctx: Context, what: str) -> str:
    try:
        return tpl.render(template_variables(ctx, tpl.fields))
    except (ValueError, TypeError) as exc:
        raise InputError(f"{row_where(ctx, tpl)}{what}: cannot render ({exc})") from None


class Placement:
    """The studies and series of one batch (see the module)."""

    def __init__(self, policy: UidPolicy, uid_map: UidMap, template: Dataset) -> None:
        self.policy = policy
        self.uid_map = uid_map
        self.template = template
        self.study_key = parse_template(policy.study_key) if policy.study_key is not None else None
        self.series_key = parse_template(policy.series_key) if policy.series_key is not None else None
        #: per study scope: series scope -> Series Number; per series scope: instances so far
        self._series_numbers: dict[str, dict[str, int]] = {}
        self._instances: dict[str, int] = {}
        self._last: tuple[tuple[str, str, int], Place] | None = None

    @property
    def keyed(self) -> bool:
        return self.study_key is not None or self.series_key is not None

    def place(self, patient: str, ctx: Context) -> Place:
        """The output's place, counted once per output (asked again for the
        same output, the same answer)."""
        me = (patient, ctx.name, ctx.index)
        if self._last is not None and self._last[0] == me:
            return self._last[1]
        if not self.keyed:
            found = Place(patient, patient, patient, ctx.index)
        else:
            study = patient
            if self.study_key is not None:
                study = f"{patient}\x00{_render(self.study_key, ctx, 'uids.study_key')}"
            series = study
            if self.series_key is not None:
                series = f"{study}\x00{_render(self.series_key, ctx, 'uids.series_key')}"
            numbers = self._series_numbers.setdefault(study, {})
            series_number = numbers.setdefault(series, len(numbers) + 1)
            self._instances[series] = self._instances.get(series, 0) + 1
            found = Place(patient, study, series, self._instances[series],
                          series_number if self.series_key is not None else None)
        self._last = (me, found)
        return found

    def apply(self, ds: Dataset, place: Place, set_by_profile: Collection[int],
              frame_of_reference: bool) -> frozenset[int]:
        """Set the place's UIDs (Frame of Reference: where the output has
        the module), and with keys its Series Number in its study and
        Instance Number in its series (PS3.3 C.7.3.1, C.7.6.1); a value the
        profile set is left alone. Returns the tags set but Instance Number."""
        tags = {tag for level, tag in UID_LEVEL_TAGS if tag not in set_by_profile
                and (level != "frame_of_reference" or frame_of_reference)}
        if place.series_number is not None and SERIES_NUMBER not in set_by_profile:
            tags.add(SERIES_NUMBER)
        for tag, vr, text in self.values(place, tags):
            ds.add(DataElement(tag, vr, text))
        if self.keyed and INSTANCE_NUMBER not in set_by_profile:
            ds.add(DataElement(INSTANCE_NUMBER, "IS", str(place.instance_number)))
        return frozenset(tags)

    def values(self, place: Place, tags: Collection[int]) -> list[Value]:
        """The elements of ``tags`` set from the place: Study, Series and
        Frame of Reference UID, Series Number."""
        out: list[Value] = []
        for level, tag in UID_LEVEL_TAGS:
            if tag not in tags:
                continue
            # one per template and place, never per input file (hash: the
            # same on every run with the same key)
            scope = place.series_scope if level == "series" else place.study_scope
            out.append((tag, "UI", str(self.uid_map.level(
                level, getattr(self.policy, level).value, self.template.get(_KEYWORDS[tag]), scope, ""))))
        if SERIES_NUMBER in tags and place.series_number is not None:
            out.append((SERIES_NUMBER, "IS", str(place.series_number)))
        return out


class ImageSpacing:
    """``pixel.spacing`` as a template (``"{meta[Spacing]}\\\\{meta[Spacing]}"``):
    each image's own spacing in mm, row\\column (PS3.3 10.7.1.3), optionally
    measured on a matrix of ``pixel.spacing_size`` rows\\columns and scaled
    to the output's (a dataset resized after its spacing was recorded)."""

    def __init__(self, spacing: str, size: str) -> None:
        self.spacing = parse_template(spacing)
        self.size = parse_template(size) if size else None

    def known(self, ctx: Context) -> bool:
        """Can it render for this output (manifest columns need a row)?"""
        fields = [*self.spacing.fields, *(self.size.fields if self.size else ())]
        return ctx.meta is not None or not any(meta_column(f) for f in fields)

    def values(self, tags: Collection[int], ctx: Context, prototype: Dataset) -> list[Value]:
        """The spacing elements ``tags`` of one output (its matrix: ``prototype``'s)."""
        if not tags or not self.known(ctx):
            return []
        shape = (int(prototype.Rows), int(prototype.Columns))
        row, col = self._pair(self.spacing, ctx, "pixel.spacing")
        if self.size is not None:
            rows, cols = self._pair(self.size, ctx, "pixel.spacing_size")
            row, col = row * rows / shape[0], col * cols / shape[1]
        value = f"{row:.6g}\\{col:.6g}"
        return [(tag, "DS", value) for tag in tags]

    @staticmethod
    def _pair(tpl: Template, ctx: Context, what: str) -> tuple[float, float]:
        text = _render(tpl, ctx, what)
        pair = number_pair(text)
        if pair is None or not all(0 < v < 1e6 for v in pair):
            raise InputError(f"{row_where(ctx, tpl)}{what}: {text!r} is not two positive numbers "
                             "(ROW\\COLUMN)")
        return pair
