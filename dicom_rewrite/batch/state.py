"""The record a batch keeps in its output folder, so that ``--resume``
finishes it as the same batch after any crash (``kill -9`` included).

``OUT/.dicom-rewrite/batch.json`` is written atomically when the batch
starts and holds what makes the batch itself: the command, the secret seed
its new UIDs are derived from (:class:`~dicom_rewrite.core.uids.UidMap`),
the batch clock, and the digests of the template, the profile, the options
that shape the outputs and the list of inputs (paths, sizes, modification
times). A resumed run takes the seed and the clock from it, and refuses to
resume when any digest differs. ``OUT/.dicom-rewrite/journal.jsonl``
(:mod:`~dicom_rewrite.batch.journal`) records the names claimed and the
inputs finished. The folder is hidden, so no folder walk takes it for an
input; it is written with the permissions of a private file (the seed links
outputs to the template's UIDs for whoever holds it).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dicom_rewrite.errors import UsageError
from dicom_rewrite.io.files import atomic_write

#: the hidden folder of a batch's record, inside the output folder
STATE_DIR = ".dicom-rewrite"
STATE_FILE = "batch.json"
FORMAT = 1


def _new_seed() -> str:
    from dicom_rewrite.core import uids  # pydicom: not at the command line's start-up

    return uids.batch_seed().hex()


def digest_bytes(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "big"))
        h.update(chunk)
    return h.hexdigest()


def digest_file(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest_inputs(paths: Iterable[Path]) -> tuple[str, int]:
    """The identity of an input list: each path, size and modification
    time, in order (a file that changed, appeared or went changes it);
    returns (digest, count)."""
    h = hashlib.sha256()
    n = 0
    for p in paths:
        try:
            st = os.stat(p)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{p}\x00{stamp}\x00".encode("utf-8", "surrogateescape"))
        n += 1
    return h.hexdigest(), n


@dataclass(frozen=True)
class BatchState:
    """What makes one batch the batch it is."""

    command: str
    #: digests of what shapes the outputs: template, profile, options, inputs
    identity: dict[str, str]
    #: how many inputs (sources) the batch has
    count: int
    #: hex of the secret the batch's new UIDs derive from
    seed: str = field(default_factory=lambda: _new_seed())
    #: the batch clock (ISO 8601)
    started: str = ""
    format: int = FORMAT

    @property
    def seed_bytes(self) -> bytes:
        return bytes.fromhex(self.seed)

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.started)

    def save(self, out_dir: Path, *, durable: bool = True) -> Path:
        """Write ``OUT/.dicom-rewrite/batch.json`` atomically (0600)."""
        folder = Path(out_dir) / STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

        def write(tmp: str) -> None:
            os.chmod(tmp, 0o600)
            Path(tmp).write_text(text, encoding="utf-8")

        return atomic_write(folder / STATE_FILE, write, durable=durable)

    @classmethod
    def load(cls, out_dir: Path) -> BatchState | None:
        """The state of the batch recorded in ``out_dir`` (None: none)."""
        path = Path(out_dir) / STATE_DIR / STATE_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            state = cls(**data)
            bytes.fromhex(state.seed)
            datetime.fromisoformat(state.started)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"--resume: {path}: not a batch record ({exc})") from None
        return state

    def differences(self, other: BatchState) -> list[str]:
        """What differs between this batch and ``other`` (names of the
        digests, or ``command``)."""
        out = [] if self.command == other.command else ["command"]
        keys = sorted(set(self.identity) | set(other.identity))
        return out + [k for k in keys if self.identity.get(k) != other.identity.get(k)]


def resumable(out_dir: Path, fresh: BatchState) -> BatchState:
    """The recorded state of the batch in ``out_dir`` that ``fresh`` (this
    run's template, profile, options and inputs) resumes; raise
    :class:`UsageError` when there is none or it is another batch."""
    old = BatchState.load(out_dir)
    if old is None:
        raise UsageError(f"--resume: {out_dir} holds no batch to resume (no {STATE_DIR}/{STATE_FILE})")
    changed = old.differences(fresh)
    if changed:
        raise UsageError(f"--resume: {out_dir} holds another batch: {', '.join(changed)} changed "
                         "since it started (run without --resume for a new batch)")
    return old
