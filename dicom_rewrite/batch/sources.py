"""Inputs: files, folders (walked recursively, sorted, hidden names skipped)
and DICOMDIR media, expanded once into :class:`Source` records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from dicom_rewrite.errors import one_line


@dataclass(frozen=True, slots=True)
class Source:
    """One input of a batch."""

    path: Path
    #: the folder it was found in, relative to the input folder (``.`` for a file given by name)
    folder: PurePath = PurePath(".")
    #: named by the user or by a DICOMDIR (not met in a folder walk)
    explicit: bool = True
    #: the text the user gave for it (names a box file or manifest may use)
    given: str = ""
    #: the DICOMDIR that listed it
    dicomdir: Path | None = None
    #: why it cannot be used at all (e.g. an unreadable DICOMDIR); the pipeline reports it
    error: str | None = None
    #: names a box file or manifest may use for it
    keys: tuple[str, ...] = field(default=())
    #: what the batch decided for it before making it, in input order (e.g.
    #: its output names and first index; see ``run_batch(plan=...)``)
    plan: Any = None


def _walk_folder(root: Path, accept: Callable[[Path], bool] | None) -> Iterator[Path]:
    for sub in sorted(root.rglob("*")):
        rel = sub.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if sub.is_file() and (accept is None or accept(sub)):
            yield sub


def walk(
    inputs: Iterable[str | Path],
    accept: Callable[[Path], bool] | None = None,
    *,
    dicomdir: Callable[[Path], Iterator[Path] | None] | None = None,
) -> Iterator[Source]:
    """Expand ``inputs`` in a deterministic order: files in the given order,
    each folder's files (those ``accept`` takes) sorted by path.

    A path that does not exist is yielded as it is: the command's ``make``
    reports it, so each command words its own message. ``dicomdir``, when
    given, is asked to expand files that are DICOMDIRs (it returns None
    for files that are not, and raises for unreadable ones)."""
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for sub in _walk_folder(p, accept):
                rel = sub.relative_to(p)
                yield Source(sub, rel.parent, explicit=False, given=str(sub),
                             keys=(sub.name, rel.as_posix(), str(sub)))
            continue
        listed = None
        if dicomdir is not None and p.is_file():
            try:
                listed = dicomdir(p)
            except Exception as exc:  # an unreadable DICOMDIR is that input's error
                yield Source(p, given=str(item), error=f"cannot read the DICOMDIR: {one_line(exc)}")
                continue
        if listed is None:
            yield Source(p, given=str(item), keys=(p.name, str(item), str(p)))
            continue
        for member in listed:
            yield Source(member, given=str(member), dicomdir=p, keys=(member.name, str(member)))
