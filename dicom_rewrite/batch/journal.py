"""The journal of a batch: ``OUT/.dicom-rewrite/journal.jsonl``, one JSON
line per event, flushed as it happens (a ``kill -9`` loses at most the line
being written, which a reader skips).

* ``{"claim": [paths]}``: output names the batch took, written *before*
  anything is written under them, so that a resumed run knows which files
  on disk are its own work (it may replace them; it never gives them
  ``_2``);
* ``{"done": seq, "entries": [...]}``: input ``seq`` (its place in the
  batch's input order) finished with these report entries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from dicom_rewrite.batch.report import ReportEntry
from dicom_rewrite.batch.state import STATE_DIR

JOURNAL_FILE = "journal.jsonl"


class Journal:
    """Appends a batch's events; on resume, reads back the previous run's."""

    def __init__(self, out_dir: Path, *, resume: bool = False) -> None:
        folder = Path(out_dir) / STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / JOURNAL_FILE
        #: names claimed by the run being resumed
        self.claimed: set[Path] = set()
        #: seq -> the entries of an input the run being resumed finished
        self.done: dict[int, list[dict[str, Any]]] = {}
        if resume:
            self._read()
        self._file: TextIO | None = open(self.path, "a" if resume else "w", encoding="utf-8")
        if resume and self.path.stat().st_size and not self._ends_with_newline():
            self._file.write("\n")  # the torn last line of a killed run stays alone on its line
        self._file.flush()

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _read(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:  # the line a kill cut short
                continue
            if not isinstance(event, dict):
                continue
            if isinstance(event.get("claim"), list):
                self.claimed.update(Path(p) for p in event["claim"])
            elif isinstance(event.get("done"), int) and isinstance(event.get("entries"), list):
                self.done[event["done"]] = event["entries"]

    def _write(self, event: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def claim(self, paths: list[Path]) -> None:
        if paths:
            self._write({"claim": [str(p) for p in paths]})

    def finish(self, seq: int, entries: list[ReportEntry]) -> None:
        self._write({"done": seq, "entries": [e.as_dict() for e in entries]})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
