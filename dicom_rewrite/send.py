"""``send``: existing DICOM files (ours or anyone's) to a PACS or a DICOMweb
server, through the one batch pipeline and its network sinks.

Inputs are files, folders (walked; files that are not DICOM are skipped and
listed) and DICOMDIRs (their members). A Part 10 file is sent byte for byte
as it is; a file without the preamble and file meta is read as dcmtk reads it
(:func:`~dicom_rewrite.io.dicom_in.read_dicom`) and sent as a Part 10 file
(PS3.10 7.1). Nothing is written locally.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from dicom_rewrite.batch import ReportEntry, Sink, Source, run_batch, walk
from dicom_rewrite.batch.delivery import Delivery
from dicom_rewrite.errors import InputError, UsageError, one_line
from dicom_rewrite.io.dicom_in import dicomdir_members, is_dicomdir_dataset, read_dicom

__all__ = ["send_files"]

#: the Part 10 file's preamble (128 bytes) and prefix (PS3.10 7.1)
_PREFIX = slice(128, 132)


def _file(path: Path) -> tuple[list[bytes], Dataset]:
    """The bytes to send of ``path`` and its header (a DICOMDIR's: not to send)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({one_line(exc)})") from None
    try:
        if data[_PREFIX] == b"DICM":
            header = dcmread(BytesIO(data), stop_before_pixels=True)
            if is_dicomdir_dataset(header) or (
                    "TransferSyntaxUID" in header.file_meta and "SOPInstanceUID" in header
                    and "SOPClassUID" in header):
                return [data], header
        ds = read_dicom(path)
    except InvalidDicomError:
        raise InputError(f"{path}: not a DICOM file") from None
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"{path}: cannot read ({one_line(exc)})") from None
    if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
        raise InputError(f"{path}: no SOP Class or SOP Instance UID (not a storable instance)")
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)  # PS3.10 7.1: preamble, prefix, file meta
    return [buf.getvalue()], ds


def send_files(inputs: Iterable[str | Path], send_to: Sequence[Sink]) -> Iterator[dict[str, Any]]:
    """Send every DICOM file of ``inputs`` to every sink of ``send_to``;
    yields one report entry per file (its ``destinations`` with each status).
    A file that is not DICOM, or that a destination refuses, is that file's
    failure; the batch goes on."""
    if not send_to:
        raise UsageError("send: give --send AET@HOST:PORT or --stow URL")
    delivery = Delivery(None, send_to, command="send")

    def make(source: Source) -> ReportEntry:
        path = source.path
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        try:
            parts, header = _file(path)
        except InputError as exc:
            if source.explicit:
                raise
            return ReportEntry.skipped(str(path), one_line(exc))  # a folder's other files
        if is_dicomdir_dataset(header):
            return ReportEntry.skipped(str(path), "a DICOMDIR (its members are sent when it is named)")
        entry = ReportEntry(str(path), fields={"sop_class": UID(str(header.SOPClassUID)).name,
                                               "sop_instance_uid": str(header.SOPInstanceUID)})
        delivery.put(entry, path.name, parts, label=str(path))
        return entry

    try:
        for entry in delivery.settle(run_batch(walk(inputs, dicomdir=dicomdir_members), make)):
            yield entry.as_dict()
    finally:
        delivery.close()
