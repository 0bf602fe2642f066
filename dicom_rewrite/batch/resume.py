"""A batch opened in its output folder: its record (:mod:`.state`), its
journal (:mod:`.journal`) and its folder sink, new or resumed; what makes a
batch the same batch (digests), and the check of the outputs a resumed
batch keeps."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydicom import dcmread

from dicom_rewrite.batch.journal import Journal
from dicom_rewrite.batch.report import ReportEntry, Status
from dicom_rewrite.batch.sinks import FolderSink, Sink
from dicom_rewrite.batch.state import STATE_FILE, BatchState, digest_bytes, digest_file, digest_inputs, resumable
from dicom_rewrite.core import clock, uids
from dicom_rewrite.engine.template import Template
from dicom_rewrite.errors import UsageError
from dicom_rewrite.profile import Profile


@dataclass
class OpenBatch:
    """What a command writes a batch through."""

    folder: FolderSink | None
    journal: Journal | None
    #: the secret the batch's new UIDs derive from
    seed: bytes
    #: the batch clock
    started: datetime

    def _forget(self) -> None:
        """The batch went through every input: its record goes (there is
        nothing to resume, and the seed should not outlive the batch)."""
        assert self.journal is not None
        folder = self.journal.path.parent
        for name in (self.journal.path.name, STATE_FILE):
            try:
                os.unlink(folder / name)
            except FileNotFoundError:
                pass
        try:
            folder.rmdir()
        except OSError:  # something else was put there: left alone
            pass

    def close(self, sinks: Sequence[Sink] = (), *, completed: bool = False) -> None:
        """Make everything durable and close the journal (the end of a
        batch, also an interrupted one); ``completed`` (every input went
        through): remove the batch's record."""
        try:
            for sink in sinks:
                sink.close()
            if self.folder is not None:
                self.folder.close()
        finally:
            if self.journal is not None:
                self.journal.close()
                if completed:
                    self._forget()


def open_batch(out_dir: str | Path | None, command: str, identity: dict[str, str], inputs: Sequence[Path], *,
               started: datetime | None = None, resume: bool = False, overwrite: bool = False,
               durable: bool = True, companions: Sequence[str] = ()) -> OpenBatch:
    """Open the batch ``command`` writes into ``out_dir`` (None: nothing
    kept locally, nothing to resume). ``identity``: digests of what shapes
    its outputs (the inputs' is added). A new batch records itself before
    any output is written; ``resume`` takes the seed and clock of the batch
    recorded there, which must be this one (else :class:`UsageError`), or
    starts it when ``out_dir`` is missing or empty."""
    if out_dir is None:
        if resume:
            raise UsageError(f"{command}: --resume needs the output folder of the batch")
        return OpenBatch(None, None, uids.batch_seed(), started or clock.now())
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output folder {out}: exists and is not a folder")
    digest, count = digest_inputs(inputs)
    fresh = BatchState(command, {**identity, "inputs": digest}, count, started=(started or clock.now()).isoformat())
    if resume and not _any_entry(out):
        resume = False  # nothing there yet: the batch starts (a retry loop may always say --resume)
    state = resumable(out, fresh) if resume else fresh
    journal = Journal(out, resume=resume)
    if not resume:
        state.save(out, durable=durable)
    folder = FolderSink(out, overwrite=overwrite, companions=companions, durable=durable, own=journal.claimed)
    return OpenBatch(folder, journal, state.seed_bytes, state.started_at)


def _any_entry(folder: Path) -> bool:
    try:
        return next(iter(folder.iterdir()), None) is not None
    except (FileNotFoundError, NotADirectoryError):
        return False


def batch_identity(tpl: Template, prof: Profile) -> dict[str, str]:
    """The digests of the template and profile (their files' bytes when
    they came from files)."""
    if tpl.path is not None and tpl.path.is_file():
        template = digest_file(tpl.path)
    else:
        buf = io.BytesIO()
        tpl.dataset.save_as(buf, enforce_file_format=False)
        template = digest_bytes(buf.getvalue())
    chain = [Path(c) for c in prof.chain if Path(c).is_file()]
    if chain:
        profile = digest_bytes(*(c.read_bytes() for c in chain))
    else:
        profile = digest_bytes(repr(prof).encode())
    return {"template": template, "profile": profile}


def digest_of(metadata: object) -> str | None:
    """The identity of a manifest: its file's bytes (an object: its repr)."""
    if metadata is None:
        return None
    if isinstance(metadata, (str, Path)):
        return digest_file(metadata) if Path(metadata).is_file() else str(metadata)
    return digest_bytes(repr(metadata).encode())


def outputs_hold(entries: list[ReportEntry]) -> bool:
    """The outputs a resumed batch's journal lists are there, complete and
    its own: each parses, and its SOP Instance UID is the one recorded."""
    for entry in entries:
        uids = entry.fields.get("sop_instance_uids") or []
        if entry.status != Status.OK or len(uids) != len(entry.outputs):
            return False
        for path, uid in zip(entry.outputs, uids, strict=True):
            try:
                ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
            except Exception:  # anything unreadable is not a complete output
                return False
            if str(ds.get("SOPInstanceUID", "")) != uid:
                return False
    return True
