"""Where each output of a batch goes: one local sink (a folder, or a DICOM
file-set with ``dicomdir``) and any number of network sinks (a PACS by
C-STORE, a DICOMweb server by STOW-RS), recorded in the report entry.

The local write comes first: when it fails, the input fails and its later
outputs are not made. A network sink that refuses an output fails the entry
but not the other destinations. Each entry gets ``destinations``: for every
output, where it went (a file path, ``dimse://AET@HOST:PORT <status>``,
``<STOW URL> <status>``) or why it did not.

Sinks that upload in chunks (STOW-RS, a request per chunk of instances)
have ``ready`` and ``flush`` methods: their ``put`` queues and returns
:data:`PENDING`, and each status is filled in when its chunk has been sent.
:meth:`Delivery.settle` holds a command's report entries back, in order,
until their statuses are known (the batch loop itself does not change).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from dicom_rewrite.batch.report import ReportEntry
from dicom_rewrite.batch.sinks import FolderSink, Sink
from dicom_rewrite.errors import UsageError, one_line
from dicom_rewrite.io.names import NameTemplate, header_of

#: what a chunked sink's ``put`` returns until its chunk is sent
PENDING = "pending"


@dataclass
class _Slot:
    """An output's place in its entry's destinations, waiting for a chunked sink's status."""

    sink: Any
    entry: ReportEntry
    sent: list[str]
    index: int
    label: str


def local_sink(out_dir: str | Path | None, *, dicomdir: bool = False, overwrite: bool = False,
               durable: bool = True) -> Sink | None:
    """The sink of ``--out``: a folder, or a DICOM file-set (``dicomdir``)."""
    if out_dir is None:
        if dicomdir:
            raise UsageError("--dicomdir: needs --out DIR (the file-set's folder)")
        return None
    if dicomdir:
        from dicom_rewrite.batch.dicomdir import FileSetSink

        return FileSetSink(out_dir, durable=durable)
    return FolderSink(out_dir, overwrite=overwrite, durable=durable)


def _fail(entry: ReportEntry, error: str) -> None:
    """Fail ``entry``, keeping what failed before (one destination's error does not hide another's)."""
    entry.fail(error if entry.error is None or entry.error == error else f"{entry.error}; {error}")


class Delivery:
    """The destinations of one batch's outputs."""

    def __init__(self, local: Sink | None, remote: Sequence[Sink] = (), *, command: str = "",
                 name: str | None = None) -> None:
        """``name``: the ``--name`` template of the outputs (default: the command's own names)."""
        command = command or "this command"
        if local is None and not remote:
            raise UsageError(f"{command}: no destination "
                             "(give an output folder, or a PACS or DICOMweb server to send to)")
        self.names = NameTemplate.parse(name) if name is not None else None
        if self.names is not None and not isinstance(local, FolderSink | None):
            raise UsageError(f"{command}: a file-set names its files itself (--dicomdir takes no --name)")
        self.local = local
        self.remote = list(remote)
        self.count = 0  # outputs named so far: {index}
        self._waiting: deque[_Slot] = deque()
        self._pending: Counter[int] = Counter()  # id(entry) -> statuses not known yet

    @property
    def sinks(self) -> list[Sink]:
        return ([self.local] if self.local is not None else []) + self.remote

    def name(self, default: str, parts: Sequence[Any], dataset: Dataset | None = None, *, stem: str,
             frame: int | None = None, suffix_frame: bool = False, prefix: str = "") -> str:
        """The relative name of the next output: ``default``, or the ``--name``
        template over its attributes (``dataset``, else read from ``parts``)."""
        self.count += 1
        if self.names is None:
            return default
        return prefix + self.names.render(header_of(parts, dataset), stem=stem, frame=frame,
                                          suffix_frame=suffix_frame, ext=".dcm", index=self.count)

    def put(self, entry: ReportEntry, name: str, parts: Sequence[Any], *, label: str) -> bool:
        """Store one output (``name`` relative to the output folder) in every
        destination; False when the local write failed (``label`` names the
        input in the error)."""
        sent: list[str] = entry.fields.setdefault("destinations", [])
        if self.local is not None:
            try:
                where = self.local.put(self.local.claim(name), parts)
            except (OSError, ValueError) as exc:
                entry.fail(f"{label}: cannot write output ({one_line(exc)})")
                return False
            entry.outputs.append(where)
            sent.append(where)
        for sink in self.remote:
            try:
                where = sink.put(sink.claim(name), parts)
            except (OSError, ValueError) as exc:
                _fail(entry, f"{label}: {one_line(exc)}")
                sent.append(one_line(exc))
                continue
            if where == PENDING:
                self._waiting.append(_Slot(sink, entry, sent, len(sent), label))
                self._pending[id(entry)] += 1
            sent.append(where)
            if hasattr(sink, "ready"):
                self._fill(sink, sink.ready())
        return True

    def _fill(self, sink: Any, results: Sequence[str | BaseException]) -> None:
        """Put a chunked sink's statuses (in ``put`` order) into their entries."""
        todo = list(results)
        for slot in list(self._waiting):
            if not todo:
                break
            if slot.sink is not sink:
                continue
            result = todo.pop(0)
            self._waiting.remove(slot)
            self._pending[id(slot.entry)] -= 1
            if isinstance(result, BaseException):
                slot.sent[slot.index] = one_line(result)
                _fail(slot.entry, f"{slot.label}: {one_line(result)}")
            else:
                slot.sent[slot.index] = result

    def flush(self) -> None:
        """Send what chunked sinks queued and fill in every status."""
        for sink in self.remote:
            if hasattr(sink, "flush"):
                self._fill(sink, sink.flush())

    def settle(self, entries: Iterable[ReportEntry]) -> Iterator[ReportEntry]:
        """``entries`` in their order, each once every status of its outputs is known."""
        held: deque[ReportEntry] = deque()
        for entry in entries:
            held.append(entry)
            while held and self._pending[id(held[0])] <= 0:
                self._pending.pop(id(held[0]), None)
                yield held.popleft()
        self.flush()
        yield from held

    def finish(self, entry: ReportEntry) -> None:
        """The end of one input: add what the local sink did to its outputs
        (e.g. a file-set's record keys) to the entry's notes."""
        take_notes = getattr(self.local, "take_notes", None)
        if take_notes is not None and (notes := take_notes()):
            entry.fields["notes"] = sorted({*entry.fields.get("notes", []), *notes})

    def discard(self, entry: ReportEntry) -> None:
        """An input failed half-way: remove its local outputs (what was sent
        or queued for a server stays there, as a PACS keeps what it stored)."""
        if self.local is not None:
            self.local.discard(entry.outputs)

    def close(self) -> None:
        """Send what is still queued, then close every sink."""
        try:
            self.flush()
        finally:
            for sink in self.sinks:
                sink.close()
