"""A DICOM file-set as a sink (PS3.10 8, PS3.11 General Purpose CD-R media),
through pydicom's :class:`~pydicom.fileset.FileSet`.

Outputs are staged as they come and the file-set is written when the sink
closes: every instance under an 8-character upper-case File ID in pydicom's
shallow ``PTxxxxxx/STxxxxxx/SExxxxxx/IMxxxxxx`` tree (PS3.10 8.5, PS3.11
D.3.2: at most 8 components of at most 8 characters from A-Z, 0-9 and _),
and a DICOMDIR (PS3.3 F.2) with a PATIENT, STUDY and SERIES record above
each instance's record. A folder that holds a DICOMDIR already is added to.

The directory records need values that are Type 1 there although they may
be empty in the instance (PS3.3 F.5.1 Patient ID, F.5.2 Study ID). An
empty one is given a value derived from the Study Instance UID, in the
instance and in its record alike (so both agree, and a later run adding to
the same study lands in the same records); the report notes it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.fileset import FileInstance, FileSet

from dicom_rewrite.errors import UsageError, one_line
from dicom_rewrite.io.files import joined_parts, sync_files, sync_folders

#: the file of the directory (PS3.10 8.6: the DICOMDIR File ID)
DICOMDIR = "DICOMDIR"


def _filled(ds: Dataset) -> list[str]:
    """Give the record keys that are empty in ``ds`` a value; return what was done."""
    digest = hashlib.sha256(str(ds.get("StudyInstanceUID", "")).encode("ascii")).hexdigest()
    done = []
    # PS3.3 F.5.1: Patient ID is Type 1 in the PATIENT record (a LO of at most 64 characters)
    if not str(ds.get("PatientID", "") or "").strip():
        ds.PatientID = f"DR{int(digest[:12], 16) % 10**14:014d}"
        done.append(f"file-set: empty Patient ID set to {ds.PatientID} (Type 1 in the PATIENT record, PS3.3 F.5.1)")
    # PS3.3 F.5.2: Study ID is Type 1 in the STUDY record (a SH of at most 16 characters)
    if not str(ds.get("StudyID", "") or "").strip():
        ds.StudyID = f"{int(digest[12:24], 16) % 10**8:08d}"
        done.append(f"file-set: empty Study ID set to {ds.StudyID} (Type 1 in the STUDY record, PS3.3 F.5.2)")
    return done


class FileSetSink:
    """Outputs as the instances of a DICOM file-set in ``root``."""

    def __init__(self, root: str | Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self.notes: set[str] = set()
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"output folder {self.root}: exists and is not a folder")
        directory = self.root / DICOMDIR
        if directory.is_file():
            try:
                self.fileset = FileSet(directory)
            except (OSError, ValueError, InvalidDicomError, AttributeError, KeyError) as exc:
                raise UsageError(f"{directory}: not a file-set this tool can add to ({one_line(exc)})") from None
        elif self.root.is_dir() and any(not p.name.startswith(".") for p in self.root.iterdir()):
            raise UsageError(f"--dicomdir: {self.root} holds files but no DICOMDIR; "
                             "give an empty folder or an existing file-set")
        else:
            self.fileset = FileSet()
        self._staged: list[FileInstance] = []

    def claim(self, name: str) -> str:
        """A file-set's File IDs are its own (PS3.10 8.5): ``name`` is not used."""
        return name

    def put(self, target: Any, parts: Sequence[Any], *,
            dump: Callable[[Any, BinaryIO], None] | None = None) -> str:
        data = joined_parts(parts)
        ds = dcmread(io.BytesIO(data))
        self.notes.update(_filled(ds))
        try:
            instance = self.fileset.add(ds)
        except (KeyError, AttributeError) as exc:
            raise ValueError(f"cannot be listed in the DICOMDIR ({one_line(exc)})") from None
        self._staged.append(instance)
        # the File ID is fixed now: later instances are only ever appended to the tree
        return str(self.root / instance.FileID)

    def discard(self, targets: Sequence[str]) -> None:
        """Unstage instances not yet written (a series that failed half-way)."""
        wanted = set(targets)
        for instance in [i for i in self._staged if str(self.root / i.FileID) in wanted]:
            self.fileset.remove(instance)
            self._staged.remove(instance)

    def close(self) -> None:
        """Write the staged instances and the DICOMDIR (once per batch)."""
        if not self._staged:
            return
        written = [self.root / i.FileID for i in self._staged]
        self.root.mkdir(parents=True, exist_ok=True)
        self.fileset.write(None if self.fileset.path is not None else os.fspath(self.root))
        self._staged.clear()
        if self.durable:
            sync_files([*written, self.root / DICOMDIR])
            sync_folders(sorted({p.parent for p in written} | {self.root}))

    def take_notes(self) -> list[str]:
        """What was done to outputs since the last call (for the report)."""
        notes, self.notes = sorted(self.notes), set()
        return notes
