"""The report: one typed record per input, JSON from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


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

    def fail(self, error: str) -> None:
        self.status, self.error = Status.ERROR, error

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of this entry: ``input``, ``outputs``, ``status``,
        ``error`` (null unless it failed), then the command's fields."""
        out: dict[str, Any] = {"input": self.input, "outputs": list(self.outputs),
                               "status": self.status.value, "error": self.error}
        out.update(self.fields)
        return out
