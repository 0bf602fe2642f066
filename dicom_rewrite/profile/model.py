"""The settings of a profile: enums, small frozen policies, and what value
templates may refer to (:class:`Context`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from pydicom.dataset import Dataset

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
    SET = "set"


#: order of application of :meth:`Profile.apply`
APPLY_ORDER = (Action.REMOVE, Action.BLANK, Action.DEFAULT, Action.SET)

#: the UID levels of the ``uids`` section, in the order they are shown
UID_LEVELS = ("study", "series", "instance", "frame_of_reference")


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
class Origin:
    """Where a setting or rule comes from: ``file:line``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"
