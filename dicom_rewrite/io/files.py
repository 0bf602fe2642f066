"""File-system helpers: finding inputs, safe output paths, atomic writes.

Nothing here knows about DICOM. Every file is written into a temporary file
in the destination folder and renamed into place, so a crash never leaves a
half-written file behind.
"""

from __future__ import annotations

import itertools
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from dicom_rewrite.errors import UsageError

#: Windows reserved device names; never used as a path component.
_RESERVED = {
    "CON", "PRN", "AUX", "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
MAX_COMPONENT = 100


def sanitise_component(value: object, placeholder: str = "unknown") -> str:
    """Turn any value (often a DICOM tag value) into one safe path component.

    Path separators, control characters and characters that are illegal on
    common file systems become ``_``; leading dots and trailing dots/spaces
    are removed (so ``..`` and hidden names cannot appear); reserved device
    names get a ``_`` suffix; the result is at most ``MAX_COMPONENT``
    characters. An empty result becomes ``placeholder``.
    """
    text = unicodedata.normalize("NFC", "" if value is None else str(value))
    text = _UNSAFE.sub("_", text).strip()
    text = text.lstrip(".").rstrip(". ")
    text = text[:MAX_COMPONENT].rstrip(". ")
    if not text:
        return placeholder
    if text.split(".")[0].upper() in _RESERVED:
        text = f"{text}_"
    return text


def safe_output_path(out_dir: Path, relative: str | Path) -> Path:
    """Join ``relative`` under ``out_dir`` and refuse anything that escapes it.

    ``relative`` is expected to be built from sanitised components already;
    this is the final guard.
    """
    root = Path(out_dir).resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise UsageError(f"{relative}: output path escapes the output folder {root}")
    return target


class NameAllocator:
    """Hands out output paths that never collide within a run or on disk.

    The first claim of ``name.ext`` gets it; later claims get ``name_2.ext``,
    ``name_3.ext`` and so on. Existing files are never overwritten unless
    ``overwrite`` is true (then only files not claimed in this run are
    replaced).
    """

    def __init__(self, out_dir: Path, *, overwrite: bool = False, own: Iterable[Path] = ()) -> None:
        """``own``: files this run may replace although they exist (those an
        interrupted run of the same batch claimed, being resumed)."""
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        self.own = set(own)
        self._claimed: set[Path] = set()
        self._root = self.out_dir.resolve()

    def claim(self, relative: str | Path) -> Path:
        text = str(relative)
        if text and "/" not in text and "\\" not in text and text not in (".", ".."):
            # one plain component: it cannot leave the folder (a rename
            # replaces a symlink of that name, it does not follow it)
            path = self._root / text
        else:
            path = safe_output_path(self.out_dir, relative)
        candidate, n = path, 1
        # lexists: a dangling symlink of that name is not replaced either
        while candidate in self._claimed or (not self.overwrite and candidate not in self.own
                                             and os.path.lexists(candidate)):
            n += 1
            candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        self._claimed.add(candidate)
        return candidate


def _atomically(path: Path, fill: Callable[[int, str], None],
                made_dirs: set[Path] | None = None) -> Path:
    """Create a temporary file beside ``path``, let ``fill(fd, tmp_path)``
    write it (and close ``fd``), then rename it onto ``path``; on any failure
    remove it.

    The temporary file lives in the destination folder (same file system, so
    the rename is atomic). ``made_dirs``: folders already known to exist
    (filled as they are made)."""
    path = Path(path)
    parent = path.parent
    if made_dirs is None or parent not in made_dirs:
        parent.mkdir(parents=True, exist_ok=True)
        if made_dirs is not None:
            made_dirs.add(parent)
    tmp = ""
    try:
        # the name is known before the file exists, so that an interruption
        # at any point (even between the open and its result) removes it
        for tmp in _temporary_names(parent, path.name):
            try:
                fd = os.open(tmp, _TEMP_FLAGS, 0o666)
                break
            except FileExistsError:  # left by a crashed run with the same pid
                continue
        fill(fd, tmp)
        os.replace(tmp, path)
    except BaseException:
        if tmp:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise
    return path


_TEMP_COUNTER = itertools.count()


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

#: the pid temporary files are named after (a batch's worker processes use
#: their parent's, so that the parent's death makes them stale)
_owner_pid: int | None = None


def set_temporary_owner(pid: int | None) -> None:
    """Name this process's temporary files after ``pid`` (None: its own)."""
    global _owner_pid
    _owner_pid = pid


def _temporary_names(folder: Path, name: str) -> Iterator[str]:
    """Names ``.<name>.<pid>.<n>.part`` in ``folder``, each new (the file is
    created with O_EXCL, with the permissions an ordinary new file gets:
    0666 less the umask, unlike ``mkstemp``'s 0600)."""
    owner = _owner_pid or os.getpid()
    mine = "" if owner == os.getpid() else f"{os.getpid()}x"
    while True:
        yield os.path.join(folder, f".{name}.{owner}.{mine}{next(_TEMP_COUNTER)}.part")


def atomic_write(path: Path, writer: Callable[[str], object], *, durable: bool = True) -> Path:
    """Call ``writer(tmp_path)`` (its result is ignored) then rename the
    temporary file onto ``path``. ``durable``: the file's data reach the disk
    (fsync) before the rename, and the folder's entry after it."""

    def fill(fd: int, tmp: str) -> None:
        os.close(fd)
        writer(tmp)
        if durable:
            _fsync_path(tmp, os.O_RDONLY)

    _atomically(path, fill)
    if durable:
        sync_folders([path.parent])
    return path


def atomic_write_bytes(path: Path, parts: Sequence[Any], *, made_dirs: set[Path] | None = None,
                       dump: Callable[[Any, BinaryIO], None] | None = None,
                       durable: bool = False) -> Path:
    """Write ``parts`` (bytes or C-contiguous arrays), one after the other,
    atomically to ``path`` through the temporary file's own descriptor (one
    open per file, no joining in memory). ``dump(part, file)`` writes one
    part (default ``file.write(part)``). ``durable``: fsync the file before
    the rename (the caller syncs the folders: :func:`sync_folders`, once per
    batch)."""

    def fill(fd: int, tmp: str) -> None:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                (dump or _write_all)(part, f)
            if durable:
                f.flush()
                os.fsync(f.fileno())

    return _atomically(path, fill, made_dirs)


def _fsync_path(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths: Iterable[Path]) -> None:
    """fsync each file (written by someone else's code, e.g. pydicom's file-set writer)."""
    for path in paths:
        _fsync_path(path, os.O_RDONLY)


def sync_folders(folders: Iterable[Path]) -> None:
    """fsync each folder, so that the renames into it survive a power loss."""
    for folder in folders:
        try:
            _fsync_path(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:  # a file system that cannot sync a folder (some network mounts)
            continue


_STALE = re.compile(r"^\..+\.(\d+)\.(?:\d+x)?\d+\.part$")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # alive, or not a pid we could own: leave it
        return True
    return True


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Remove the temporary files (``.<name>.<pid>.<n>.part``) that a run
    killed while writing left in ``out_dir``; files of running processes
    stay. Returns what was removed."""
    if not out_dir.is_dir():
        return []
    return _remove_temporaries(out_dir.rglob(".*.part"), lambda pid: not _process_alive(pid))


def remove_own_temporaries(folders: Iterable[Path], pid: int | None = None) -> list[Path]:
    """Remove the temporary files named after ``pid`` (default: this
    process) in ``folders`` (not below them): what workers killed mid-write
    left for a batch that goes on or ends."""
    owner = pid or os.getpid()
    found = (t for f in folders if f.is_dir() for t in f.glob(".*.part"))
    return _remove_temporaries(found, lambda p: p == owner)


def _remove_temporaries(candidates: Iterable[Path], stale: Callable[[int], bool]) -> list[Path]:
    removed: list[Path] = []
    for tmp in candidates:
        m = _STALE.match(tmp.name)
        if m is None or not tmp.is_file() or tmp.is_symlink() or not stale(int(m[1])):
            continue
        try:
            tmp.unlink()
        except FileNotFoundError:
            continue
        removed.append(tmp)
    return removed


def _write_all(data: Any, f: BinaryIO) -> None:
    f.write(data)


def joined_parts(parts: Sequence[Any]) -> bytes:
    """The bytes of an output given as the parts of its file (bytes, or
    arrays such as pixel data)."""
    return b"".join(p if isinstance(p, bytes) else memoryview(p).cast("B").tobytes() for p in parts)
