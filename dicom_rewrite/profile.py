"""Site profiles: the rules applied to every output of a batch.

This module holds the in-memory profile the engine consumes. The YAML
language that builds it (``load_profile``) is specified in README.md.

The engine uses exactly this interface:

* ``identity`` (``strip``/``keep``) and ``keep_tags`` (tags that survive a
  strip);
* ``keep_private``: tags of private elements to keep (default none);
* ``uids``: a :class:`UidPolicy`;
* ``pixel``: a :class:`PixelPolicy`;
* ``apply(ds, ctx) -> list[Change]``: the set/default/remove/blank rules,
  called after the engine has built the output and before it is validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path

from pydicom.dataset import Dataset

from dicom_rewrite.scrub import Change


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


@dataclass(frozen=True)
class UidPolicy:
    root: str | None = None
    key: bytes | None = None
    study: UidMode = UidMode.NEW
    series: UidMode = UidMode.NEW
    instance: UidMode = UidMode.NEW
    frame_of_reference: UidMode = UidMode.NEW


@dataclass(frozen=True)
class PixelPolicy:
    transfer_syntax: str = "explicit-vr-little-endian"
    sop_class: SopClassMode = SopClassMode.AUTO


@dataclass(frozen=True)
class Context:
    """What value templates in a profile may refer to, for one output."""

    stem: str
    name: str
    index: int
    started: datetime
    template: Dataset

    @property
    def date(self) -> str:
        return self.started.strftime("%Y%m%d")

    @property
    def time(self) -> str:
        return self.started.strftime("%H%M%S")


@dataclass(frozen=True)
class Profile:
    identity: Identity = Identity.STRIP
    keep_tags: frozenset[int] = frozenset()
    keep_private: frozenset[int] = frozenset()
    uids: UidPolicy = field(default_factory=UidPolicy)
    pixel: PixelPolicy = field(default_factory=PixelPolicy)
    source: Path | None = None

    def apply(self, ds: Dataset, ctx: Context) -> list[Change]:
        """Apply the profile's tag rules to ``ds``; the default has none."""
        return []


DEFAULT_PROFILE = Profile()
