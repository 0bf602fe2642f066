"""The report: one typed record per input, JSON from it, and the report
file written as the batch goes (:class:`ReportFile`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from dicom_rewrite.io.files import atomic_write


class Status(str, Enum):
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


@dataclass
class ReportEntry:
    """What became of one input: its outputs, or why there are none.

    ``fields`` holds what a command adds (SOP class, UIDs, frames, notes...),
    in the order the command adds it."""

    input: str
    status: Status = Status.OK
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, input: str, error: str, **fields: Any) -> ReportEntry:
        return cls(input, Status.ERROR, [], error, dict(fields))

    @classmethod
    def skipped(cls, input: str, reason: str, **fields: Any) -> ReportEntry:
        return cls(input, Status.SKIPPED, [], None, {"reason": reason, **fields})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportEntry:
        """The entry :meth:`as_dict` gave ``data`` (a journal's line)."""
        rest = {k: v for k, v in data.items() if k not in ("input", "outputs", "status", "error")}
        return cls(str(data["input"]), Status(data.get("status", "ok")), list(data.get("outputs") or []),
                   data.get("error"), rest)

    def fail(self, error: str) -> None:
        self.status, self.error = Status.ERROR, error

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of this entry: ``input``, ``outputs``, ``status``,
        ``error`` (null unless it failed), then the command's fields."""
        out: dict[str, Any] = {"input": self.input, "outputs": list(self.outputs),
                               "status": self.status.value, "error": self.error}
        out.update(self.fields)
        return out


class ReportFile:
    """The report file of a batch, written as the batch goes.

    ``*.jsonl``: JSON Lines, one entry per line, each line flushed as its
    input finishes (a batch killed at any moment leaves every finished
    entry, whole lines only but the last). Any other name: today's JSON list,
    written atomically when the file is closed, which a ``with`` block does
    on any exit (end, error, Ctrl-C, and SIGTERM where the command line
    turns it into ``SystemExit``). A batch stopped by an error before its
    first entry (a usage or template error) writes no report at all."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.entries: list[dict[str, Any]] = []
        self._lines: TextIO | None = None

    def add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        if self._lines is None and self.path is not None and self.path.suffix.lower() == ".jsonl":
            self._lines = open(self.path, "w", encoding="utf-8")  # closed by close()
        if self._lines is not None:
            self._lines.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            self._lines.flush()

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()
            self._lines = None
        elif self.path is not None:
            write_json(self.path, self.entries)

    def __enter__(self) -> ReportFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and not self.entries:
            return  # stopped before any input (a usage or template error): no report, nothing written
        self.close()


def write_json(path: Path, entries: list[dict[str, Any]]) -> None:
    """The JSON report (a list, one entry per input), written atomically."""
    text = json.dumps(entries, indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
