"""What a loaded profile is: frozen settings and the rules, in order.

:class:`Profile` is what the engine uses (see the package docstring); the
settings are enums and small frozen policies, the rules come from
:mod:`dicom_rewrite.profile.rules`.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from dicom_rewrite.core.scrub import Change
from dicom_rewrite.profile.scrub import remove_private

if TYPE_CHECKING:
    from dicom_rewrite.profile.rules import Rule

SCHEMA_VERSION = "1"


class Identity(str, Enum):
    STRIP = "strip"
    KEEP = "keep"


class UidMode(str, Enum):
    NEW = "new"
    KEEP = "keep"
    HASH = "hash"


class SopClassMode(str, Enum):
    AUTO = "auto"
    KEEP = "keep"
    SECONDARY_CAPTURE = "secondary-capture"


class Action(str, Enum):
    """The tag rules, by their YAML key (``keep`` acts in the engine's
    identity strip, before all of them)."""

    KEEP = "keep"
    REMOVE = "remove"
    BLANK = "blank"
    DEFAULT = "default"
    METADATA = "metadata"
    SET = "set"


#: order of application of :meth:`Profile.apply`
APPLY_ORDER = (Action.REMOVE, Action.BLANK, Action.DEFAULT, Action.METADATA, Action.SET)

#: the UID levels of the ``uids`` section, in the order they are shown
UID_LEVELS = ("study", "series", "instance", "frame_of_reference")
#: the templates of the ``uids`` section that say which outputs share a study or series
UID_KEY_TEMPLATES = ("study_key", "series_key")


@dataclass(frozen=True)
class UidPolicy:
    root: str | None = None
    key: bytes | None = None
    study: UidMode = UidMode.NEW
    series: UidMode = UidMode.NEW
    instance: UidMode = UidMode.NEW
    frame_of_reference: UidMode = UidMode.NEW
    #: value templates whose rendering groups outputs into studies (None:
    #: the output's Patient ID) and series within a study (None: the study)
    study_key: str | None = None
    series_key: str | None = None

    @property
    def keyed(self) -> bool:
        return self.study_key is not None or self.series_key is not None


#: the words of ``pixel.spacing`` (any other value is a spacing in mm)
SPACING_MODES = ("auto", "keep", "drop")


def number_pair(text: str) -> tuple[float, float] | None:
    """``"A\\B"``: two finite decimal strings of at most 16 characters each
    (DS, PS3.5 6.2), as numbers; None for anything else."""
    parts = text.split("\\")
    if len(parts) != 2 or any(len(p.strip()) > 16 for p in parts):
        return None
    try:
        a, b = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return (a, b) if abs(a) < 1e15 and abs(b) < 1e15 else None


@dataclass(frozen=True)
class PixelPolicy:
    transfer_syntax: str = "explicit-vr-little-endian"
    sop_class: SopClassMode = SopClassMode.AUTO
    #: the template's pixel-matrix facts: ``auto`` (kept only for the
    #: template's own rows and columns), ``keep``, ``drop``, or a spacing
    #: ``"R\\C"`` in mm (row, column) that the new pixels have
    spacing: str = "auto"
    #: a Modality LUT for gray pixels: ``"SLOPE\\INTERCEPT"`` (e.g. ``"1\\-1024"``
    #: for a PNG that holds HU + 1024), or empty: none
    rescale: str = ""
    #: ``"ROWS\\COLUMNS"`` (a template) of the matrix a templated ``spacing``
    #: was measured on; the spacing is scaled to the output's (empty: its own)
    spacing_size: str = ""

    @property
    def rescale_values(self) -> tuple[float, float] | None:
        """(slope, intercept) of ``rescale``, or None."""
        return number_pair(self.rescale) if self.rescale else None

    @property
    def spacing_template(self) -> bool:
        """Is ``spacing`` a value template (``"{meta[Spacing]}"``), rendered
        per output?"""
        return "{" in self.spacing

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """The spacing the profile gives, or None for auto/keep/drop."""
        return None if self.spacing in SPACING_MODES else number_pair(self.spacing)


@dataclass(frozen=True)
class Context:
    """What value templates in a profile may refer to, for one output."""

    stem: str
    name: str
    index: int
    started: datetime
    template: Dataset
    #: the input's row of the metadata manifest (None: no manifest, or no row)
    meta: Mapping[str, str] | None = None
    #: the components of the input's path relative to its input folder
    #: (the file name last)
    parts: tuple[str, ...] = ()
    #: the name of the folder the input is in
    parent: str = ""

    @property
    def date(self) -> str:
        return self.started.strftime("%Y%m%d")

    @property
    def time(self) -> str:
        return self.started.strftime("%H%M%S")


@dataclass(frozen=True)
class Origin:
    """Where a setting or rule comes from: ``file:line``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Profile:
    identity: Identity = Identity.STRIP
    keep_tags: frozenset[int] = frozenset()
    keep_private: frozenset[int] = frozenset()
    uids: UidPolicy = field(default_factory=UidPolicy)
    pixel: PixelPolicy = field(default_factory=PixelPolicy)
    source: Path | None = None
    rules: tuple[Rule, ...] = ()
    keep_all_private: bool = False
    keep_private_creators: frozenset[tuple[int, str, int]] = frozenset()
    #: files the profile was resolved from (root first), for ``profile check``
    chain: tuple[str, ...] = ()
    #: where each setting came from (``uids.study`` -> file:line)
    origins: tuple[tuple[str, str], ...] = ()
    #: ``env:NAME`` or ``<literal>``: how the key was given (never the key)
    key_source: str | None = None
    description: str | None = None

    def scrub_private(self, ds: Dataset) -> list[Change]:
        """Remove the template's private elements the profile does not keep."""
        if self.keep_all_private:
            return []
        return remove_private(ds, self.keep_private, self.keep_private_creators)

    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        """Apply the tag rules to ``ds``: remove, blank, default, set (each in
        profile order). Returns one Change per tag, rule ``file:line``."""
        changes: list[Change] = []
        for rule in self._in_apply_order:
            changes += rule.apply(ds, ctx)
        return changes

    def per_output_tags(self, varying: Collection[int],
                        read_after: Collection[int]) -> frozenset[int] | None:
        """The top-level tags in which this profile makes the outputs of one
        batch differ: the targets of the rules that render a per-output
        variable (``{stem}``, ``{name}``, ``{index}``; ``{date}``,
        ``{time}`` and ``{template.X}`` are fixed per batch), when applying
        the profile to outputs that differ only in the top-level tags
        ``varying`` does the same to each but in those tags. None when it
        cannot be said so simply: a rule reads or writes a tag in
        ``varying``; a per-output rule targets a private tag, a tag in
        ``read_after`` (what the caller reads after applying the profile),
        or a tag another rule targets too. Word rules (``private``,
        ``overlays``, ``curves``) qualify as long as ``varying`` holds
        public, non-overlay tags."""
        tops = [r.top for r in self.rules if r.top is not None]
        if any(top in varying for top in tops):
            return None
        out: set[int] = set()
        for rule in self.rules:
            if not rule.per_output:
                continue
            top = rule.top
            if not isinstance(top, int) or top in read_after or tops.count(top) > 1:
                return None
            out.add(top)
        return frozenset(out)

    def apply_per_output(self, ds: Dataset, ctx: Context) -> None:
        """Apply only the rules that render a per-output variable (see
        :meth:`per_output_tags`), in :meth:`apply`'s order."""
        for rule in self._per_output_rules:
            rule.apply(ds, ctx)

    @functools.cached_property
    def _in_apply_order(self) -> tuple[Rule, ...]:
        return tuple(rule for action in APPLY_ORDER for rule in self.rules if rule.action is action)

    @functools.cached_property
    def _per_output_rules(self) -> tuple[Rule, ...]:
        """The rules that render a per-output variable, in apply order."""
        return tuple(rule for rule in self._in_apply_order if rule.per_output)

    def describe(self) -> str:
        """The resolved profile as YAML (with the origin of every rule)."""
        from dicom_rewrite.profile.resolved import describe  # resolved imports this module

        return describe(self)


DEFAULT_PROFILE = Profile()
