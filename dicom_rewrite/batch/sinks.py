"""Where outputs go. A sink takes one named output at a time; the batch loop
does not know where files end up.

:class:`FolderSink` writes under a folder: names never collide (``_2``,
``_3``... within a run and against files already there, unless
``overwrite``), nothing is written outside the folder, and every file is
written atomically (temporary file in the same folder, then rename). With
``durable`` (the default) each file is fsynced before its rename and every
folder written to is fsynced when the sink closes, so that a batch that has
returned survives a power loss; temporary files left by a killed run are
removed when the next sink opens the folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from dicom_rewrite.errors import UsageError
from dicom_rewrite.io.files import (
    NameAllocator,
    atomic_write_bytes,
    remove_own_temporaries,
    remove_stale_temporaries,
    sync_folders,
)


class Sink(Protocol):
    """A destination of outputs (a folder today; a file-set, a PACS or a
    DICOMweb server are further sinks)."""

    def claim(self, name: str) -> Path:
        """Reserve the place of the output called ``name`` (relative path)."""
        ...

    def put(self, target: Path, parts: Sequence[Any], *,
            dump: Callable[[Any, BinaryIO], None] | None = None) -> str:
        """Store ``parts`` (bytes or C-contiguous arrays, in order) at a
        claimed place; return where it went (for the report)."""
        ...

    def discard(self, targets: Sequence[str]) -> None:
        """Remove outputs already stored (a series that failed half-way)."""
        ...

    def close(self) -> None:
        """Make everything stored so far durable (the end of a batch)."""
        ...


class FolderSink:
    """Outputs as files below ``out_dir``."""

    def __init__(self, out_dir: str | Path, *, overwrite: bool = False,
                 companions: Sequence[str] = (), durable: bool = True, own: Iterable[Path] = ()) -> None:
        """``companions``: suffixes of files written beside each output (e.g.
        ``.json`` sidecars); a name is only handed out when they are free too.
        ``durable``: fsync files and folders (off: scratch output, faster).
        ``own``: files an interrupted run of this batch claimed (a resumed
        batch replaces them rather than naming its outputs ``_2``)."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise UsageError(f"output folder {out}: exists and is not a folder")
        self.out_dir = out
        self.durable = durable
        self.removed_stale = remove_stale_temporaries(out)
        self.names = NameAllocator(out, overwrite=overwrite, own=own)
        self.companions = tuple(companions)
        self._taken: set[Path] = set()
        self._made_dirs: set[Path] = set()
        self._written_dirs: set[Path] = set()

    def claim(self, name: str) -> Path:
        while True:
            path = self.names.claim(name)
            sides = [path.with_suffix(s) for s in self.companions]
            if all(s not in self._taken and not s.exists() for s in sides):
                self._taken.update(sides)
                # written here or by a worker process: synced, swept when the sink closes
                self._written_dirs.add(path.parent)
                return path

    def put(self, target: Path, parts: Sequence[Any], *,
            dump: Callable[[Any, BinaryIO], None] | None = None) -> str:
        atomic_write_bytes(target, parts, made_dirs=self._made_dirs, dump=dump, durable=self.durable)
        self._written_dirs.add(target.parent)
        return str(target)

    def discard(self, targets: Sequence[str]) -> None:
        for t in targets:
            try:
                os.unlink(t)
            except FileNotFoundError:
                pass

    def close(self) -> None:
        folders = sorted(self._written_dirs)
        # what worker processes stopped mid-write left (their files carry our pid)
        remove_own_temporaries(folders)
        if self.durable:
            sync_folders(folders)
        self._written_dirs.clear()
